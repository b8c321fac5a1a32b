package cpu

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// AttentionCached attends m new query rows (positions past..past+m−1) of one sequence over the key
// and value caches (past+m, NKV·HD), causally and within the window; out (m, NH·HD). It serves
// generation, so it has no lse and no backward. Work is split over heads.
func (bk *cpuBackend[T]) AttentionCached(out, q, kCache, vCache backend.Tensor, past, m, heads, kvHeads, headDim, window int) {
	const op = "AttentionCached"
	checkSizes(op, past, m, heads, kvHeads, headDim, window)
	rows := past + m
	kern := &cachedAttentionKernel[T]{
		out: data[T](out, op, "out", m*heads*headDim), q: data[T](q, op, "q", m*heads*headDim),
		k: data[T](kCache, op, "kCache", rows*kvHeads*headDim), v: data[T](vCache, op, "vCache", rows*kvHeads*headDim),
		past: past, m: m, heads: heads, kvHeads: kvHeads, headDim: headDim, window: window,
		scale: T(1 / math.Sqrt(float64(headDim))),
	}
	workers := workersFor(heads, 1)
	kern.scratch = bk.workspace(workers, rows)
	parallelFor(heads, 1, workers, kern)
}

type cachedAttentionKernel[T Float] struct {
	out, q, k, v                             []T
	past, m, heads, kvHeads, headDim, window int
	scale                                    T
	scratch                                  [][]T // per worker, the scores of one row
}

func (a *cachedAttentionKernel[T]) run(w, lo, hi int) {
	for h := lo; h < hi; h++ {
		for i := range a.m {
			a.row(a.scratch[w], h, i)
		}
	}
}

// row computes head h of new row i, at position past+i.
func (a *cachedAttentionKernel[T]) row(p []T, h, i int) {
	hd, g := a.headDim, h/(a.heads/a.kvHeads)
	pos := a.past + i
	first := 0
	if a.window > 0 {
		first = max(0, pos-a.window+1)
	}
	qi := a.q[(i*a.heads+h)*hd : (i*a.heads+h+1)*hd]
	mx := T(math.Inf(-1))
	for j := first; j <= pos; j++ {
		kj := a.k[(j*a.kvHeads+g)*hd : (j*a.kvHeads+g+1)*hd]
		p[j] = dot(qi, kj) * a.scale
		mx = max(mx, p[j])
	}
	var sum T
	for j := first; j <= pos; j++ {
		p[j] = T(math.Exp(float64(p[j] - mx)))
		sum += p[j]
	}
	out := a.out[(i*a.heads+h)*hd : (i*a.heads+h+1)*hd]
	clear(out)
	for j := first; j <= pos; j++ {
		axpy(out, p[j]/sum, a.v[(j*a.kvHeads+g)*hd:(j*a.kvHeads+g+1)*hd])
	}
}
