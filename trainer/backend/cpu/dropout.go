package cpu

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/rng"
)

// Dropout: out (n) = x (n) · keep / (1−p), element i kept when rng.Uniform(seed, stream, i) ≥ p.
// p must be in [0, 1); p == 0 copies x exactly.
func (bk *cpuBackend[T]) Dropout(out, x backend.Tensor, p float64, seed, stream uint64, n int) {
	bk.runDropout("Dropout", out, x, p, seed, stream, n, false)
}

// DropoutBackward adds dout (n) · keep / (1−p) to dx (n), drawing the same mask as Dropout.
func (bk *cpuBackend[T]) DropoutBackward(dx, dout backend.Tensor, p float64, seed, stream uint64, n int) {
	bk.runDropout("DropoutBackward", dx, dout, p, seed, stream, n, true)
}

func (bk *cpuBackend[T]) runDropout(op string, out, x backend.Tensor, p float64, seed, stream uint64, n int, accumulate bool) {
	checkSizes(op, n)
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cpu.%s: p = %v, want 0 ≤ p < 1", op, p))
	}
	bk.dropout = dropoutKernel[T]{
		out:  data[T](out, op, "out", n),
		x:    data[T](x, op, "x", n),
		p:    p,
		seed: seed, stream: stream,
		scale:      T(1 / (1 - p)),
		accumulate: accumulate,
	}
	bk.launch(n, chunkElems, &bk.dropout)
	bk.dropout = dropoutKernel[T]{}
}

type dropoutKernel[T Float] struct {
	out, x       []T // (n) each; out is dx and x is dout when accumulating
	p            float64
	seed, stream uint64
	scale        T // 1/(1−p), exactly 1 when p == 0
	accumulate   bool
}

func (k *dropoutKernel[T]) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		var y T
		if k.p == 0 || rng.Uniform(k.seed, k.stream, uint64(i)) >= k.p {
			y = k.x[i] * k.scale
		}
		if k.accumulate {
			k.out[i] += y
		} else {
			k.out[i] = y
		}
	}
}
