package cpu

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// SwiGLU: out = silu(gate)·up elementwise over n, silu(g) = g·sigmoid(g).
func (bk *cpuBackend[T]) SwiGLU(out, gate, up backend.Tensor, n int) {
	checkSizes("SwiGLU", n)
	bk.swiglu = swigluKernel[T]{
		out:  data[T](out, "SwiGLU", "out", n),
		gate: data[T](gate, "SwiGLU", "gate", n),
		up:   data[T](up, "SwiGLU", "up", n),
	}
	bk.launch(n, chunkElems, &bk.swiglu)
	bk.swiglu = swigluKernel[T]{}
}

// SwiGLUBackward adds to dgate and dup (n) the gradients given dout (n):
//
//	dgate += dout·up·(s + g·s·(1−s)),  dup += dout·g·s,  s = sigmoid(g)
func (bk *cpuBackend[T]) SwiGLUBackward(dgate, dup, dout, gate, up backend.Tensor, n int) {
	checkSizes("SwiGLUBackward", n)
	bk.swiglu = swigluKernel[T]{
		backward: true,
		dgate:    data[T](dgate, "SwiGLUBackward", "dgate", n),
		dup:      data[T](dup, "SwiGLUBackward", "dup", n),
		dout:     data[T](dout, "SwiGLUBackward", "dout", n),
		gate:     data[T](gate, "SwiGLUBackward", "gate", n),
		up:       data[T](up, "SwiGLUBackward", "up", n),
	}
	bk.launch(n, chunkElems, &bk.swiglu)
	bk.swiglu = swigluKernel[T]{}
}

type swigluKernel[T Float] struct {
	backward bool
	out      []T // forward only
	gate, up []T
	dgate    []T // backward only
	dup      []T
	dout     []T
}

func (k *swigluKernel[T]) run(_, lo, hi int) {
	if !k.backward {
		for i := lo; i < hi; i++ {
			g := k.gate[i]
			k.out[i] = g * sigmoid(g) * k.up[i]
		}
		return
	}
	for i := lo; i < hi; i++ {
		g, s := k.gate[i], sigmoid(k.gate[i])
		k.dgate[i] += k.dout[i] * k.up[i] * (s + g*s*(1-s))
		k.dup[i] += k.dout[i] * g * s
	}
}

// sigmoid is 1/(1+exp(−x)), with the exponential taken in float64.
func sigmoid[T Float](x T) T {
	return T(1 / (1 + math.Exp(-float64(x))))
}
