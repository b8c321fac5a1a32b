package cpu

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// RMSNorm: out (N,C) = x (N,C) · rstd · weight (C), with rstd (N) = 1/sqrt(mean(x²) + eps), all in T.
func (bk *cpuBackend[T]) RMSNorm(out, rstd, x, weight backend.Tensor, n, c int, eps float64) {
	checkSizes("RMSNorm", n, c)
	bk.rmsnorm = rmsnormKernel[T]{
		out:  data[T](out, "RMSNorm", "out", n*c),
		rstd: data[T](rstd, "RMSNorm", "rstd", n),
		x:    data[T](x, "RMSNorm", "x", n*c),
		w:    data[T](weight, "RMSNorm", "weight", c),
		c:    c,
		eps:  T(eps),
	}
	bk.launch(n, rowsGrain(c), &bk.rmsnorm)
	bk.rmsnorm = rmsnormKernel[T]{}
}

type rmsnormKernel[T Float] struct {
	out, rstd, x, w []T // out (N,C), rstd (N), x (N,C), w (C)
	c               int
	eps             T
}

func (k *rmsnormKernel[T]) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := k.x[i*k.c : (i+1)*k.c]
		out := k.out[i*k.c : (i+1)*k.c]
		var ss T
		for _, v := range x {
			ss += v * v
		}
		r := T(1 / math.Sqrt(float64(ss/T(k.c)+k.eps)))
		k.rstd[i] = r
		for j, w := range k.w[:len(x)] {
			out[j] = x[j] * r * w
		}
	}
}

// RMSNormBackward adds to dx (N,C) the gradient through RMSNorm given dout (N,C), x (N,C),
// weight (C) and the forward's rstd (N); the weight is frozen. With g = dout∘weight:
//
//	dx = rstd·g − x·rstd³·mean(g∘x)
//
// (out_j = x_j·r·w_j and ∂r/∂x_i = −r³·x_i/C.)
func (bk *cpuBackend[T]) RMSNormBackward(dx, dout, x, weight, rstd backend.Tensor, n, c int) {
	checkSizes("RMSNormBackward", n, c)
	bk.rmsnormBackward = rmsnormBackwardKernel[T]{
		dx:   data[T](dx, "RMSNormBackward", "dx", n*c),
		dout: data[T](dout, "RMSNormBackward", "dout", n*c),
		x:    data[T](x, "RMSNormBackward", "x", n*c),
		w:    data[T](weight, "RMSNormBackward", "weight", c),
		rstd: data[T](rstd, "RMSNormBackward", "rstd", n),
		c:    c,
	}
	bk.launch(n, rowsGrain(c), &bk.rmsnormBackward)
	bk.rmsnormBackward = rmsnormBackwardKernel[T]{}
}

type rmsnormBackwardKernel[T Float] struct {
	dx, dout, x, w, rstd []T // dx, dout, x (N,C), w (C), rstd (N)
	c                    int
}

func (k *rmsnormBackwardKernel[T]) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := k.x[i*k.c : (i+1)*k.c]
		dout := k.dout[i*k.c : (i+1)*k.c][:len(x)]
		dx := k.dx[i*k.c : (i+1)*k.c][:len(x)]
		w := k.w[:len(x)]
		var dot T // Σ dout∘w∘x
		for j, v := range x {
			dot += dout[j] * w[j] * v
		}
		r := k.rstd[i]
		coef := r * r * r * (dot / T(k.c))
		for j, v := range x {
			dx[j] += r*(dout[j]*w[j]) - v*coef
		}
	}
}
