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
	is := isaFor[T]()
	if _, ok := asFloat32(k.gate); ok && (is != isaGo || exactGo) {
		k.run32(is, lo, hi)
		return
	}
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

// run32 is run in float32: the assembly kernels of is, or with isaGo the same operations in Go
// (exp32, exactGo).
func (k *swigluKernel[T]) run32(is isa, lo, hi int) {
	part := func(x []T) []float32 {
		s, _ := asFloat32(x)
		return s[lo:hi]
	}
	gate, up := part(k.gate), part(k.up)
	if !k.backward {
		out := part(k.out)
		if is != isaGo {
			swigluAsm(is, &out[0], &gate[0], &up[0], len(out))
			return
		}
		for i, g := range gate {
			out[i] = g * sigmoid32(g) * up[i]
		}
		return
	}
	dgate, dup, dout := part(k.dgate), part(k.dup), part(k.dout)
	if is != isaGo {
		swigluBackAsm(is, &dgate[0], &dup[0], &dout[0], &gate[0], &up[0], len(gate))
		return
	}
	for i, g := range gate { // the conversions keep every product rounded on its own (no fusing)
		s := sigmoid32(g)
		dgate[i] += float32(float32(dout[i]*up[i]) * (s + float32(float32(g*s)*(1-s))))
		dup[i] += float32(dout[i] * g * s)
	}
}

// sigmoid32 is 1/(1 + exp(0−x)) in float32, as the AVX-512 kernels compute it.
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(0-x)) }

// sigmoid is 1/(1+exp(−x)), with the exponential taken in float64.
func sigmoid[T Float](x T) T {
	return T(1 / (1 + math.Exp(-float64(x))))
}
