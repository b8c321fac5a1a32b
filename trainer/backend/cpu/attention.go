package cpu

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Attention is causal scaled dot-product attention with grouped-query heads, for each (sequence,
// head) pair on its own:
//
//	s_ij = q_i·k_j / sqrt(HD) over the visible j,  p_ij = softmax_j(s_ij),  out_i = Σ_j p_ij·v_j
//
// out (N,NH·HD); lse (B,NH,T) = log Σ_j exp(s_ij); q (N,NH·HD); k and v (N,NKV·HD), head h reading
// kv head h/(NH/NKV); segments (N) or nil for one segment per sequence. Token j is visible to token
// i of the same sequence when j ≤ i, segments agree, and, when window > 0, i−j < window.
func (bk *cpuBackend[T]) Attention(out, lse, q, k, v backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) {
	a := newAttentionArgs[T]("Attention", q, k, v, lse, segments, b, t, heads, kvHeads, headDim, window)
	a.out = data[T](out, "Attention", "out", b*t*heads*headDim)
	items := b * heads
	workers := workersFor(items, 1)
	size := t
	if a.blocked() {
		size = forwardScratch(t, headDim)
	}
	bk.attention = attentionKernel[T]{attentionArgs: a, scratch: bk.workspace(workers, size)}
	parallelFor(items, 1, workers, &bk.attention)
	bk.attention = attentionKernel[T]{}
}

// AttentionBackward adds to dq (N,NH·HD), dk and dv (N,NKV·HD) the gradients given dout (N,NH·HD)
// and the forward's out and lse, recomputing p_ij = exp(s_ij − lse_i):
//
//	dv_j += Σ_i p_ij·dout_i
//	ds_ij = p_ij·(dout_i·v_j − dout_i·out_i)
//	dq_i += Σ_j ds_ij·k_j / sqrt(HD),  dk_j += Σ_i ds_ij·q_i / sqrt(HD)
//
// The work is split over (sequence, kv head) pairs, so that the query heads sharing a kv head add
// into its dk and dv on one goroutine, in a fixed order.
func (bk *cpuBackend[T]) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) {
	const op = "AttentionBackward"
	a := newAttentionArgs[T](op, q, k, v, lse, segments, b, t, heads, kvHeads, headDim, window)
	a.out = data[T](out, op, "out", len(a.q))
	kern := attentionBackwardKernel[T]{
		attentionArgs: a,
		dq:            data[T](dq, op, "dq", len(a.q)),
		dk:            data[T](dk, op, "dk", len(a.k)),
		dv:            data[T](dv, op, "dv", len(a.v)),
		dout:          data[T](dout, op, "dout", len(a.q)),
	}
	items := b * kvHeads
	workers := workersFor(items, 1)
	size := headDim + 2*t*headDim
	if a.blocked() {
		size = backwardScratch(t, headDim)
	}
	kern.scratch = bk.workspace(workers, size)
	bk.attentionBackward = kern
	parallelFor(items, 1, workers, &bk.attentionBackward)
	bk.attentionBackward = attentionBackwardKernel[T]{}
}

// attentionArgs are the inputs forward and backward share.
type attentionArgs[T Float] struct {
	out, lse, q, k, v []T     // out, q (N,NH·HD); lse (B,NH,T); k, v (N,NKV·HD)
	segments          []int32 // (N) or nil
	t, heads, group   int     // group = NH/NKV query heads per kv head
	headDim, window   int
	scale             T   // 1/sqrt(HD)
	isa               isa // the assembly kernels that run (isaFor)
}

// blocked reports whether the sequences are long enough for the blocked kernels
// (attention_blocked.go).
func (a *attentionArgs[T]) blocked() bool { return a.t >= attBlockedFrom }

// attBlockedFrom is the shortest sequence the blocked kernels take (at least attBlock; tests
// raise it to compare them with the row-by-row ones).
var attBlockedFrom = attBlock

func newAttentionArgs[T Float](op string, q, k, v, lse backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) attentionArgs[T] {
	checkSizes(op, b, t, heads, kvHeads, headDim, window)
	if kvHeads == 0 || heads%kvHeads != 0 {
		panic(fmt.Sprintf("cpu.%s: %d heads do not share %d kv heads evenly", op, heads, kvHeads))
	}
	if segments != nil && len(segments) != b*t {
		panic(fmt.Sprintf("cpu.%s: %d segment ids for %d rows", op, len(segments), b*t))
	}
	return attentionArgs[T]{
		lse:      data[T](lse, op, "lse", b*heads*t),
		q:        data[T](q, op, "q", b*t*heads*headDim),
		k:        data[T](k, op, "k", b*t*kvHeads*headDim),
		v:        data[T](v, op, "v", b*t*kvHeads*headDim),
		segments: segments,
		t:        t, heads: heads, group: heads / kvHeads,
		headDim: headDim, window: window,
		scale: T(1 / math.Sqrt(float64(headDim))),
		isa:   isaFor[T](),
	}
}

// first is the first position token i may see (the window's start).
func (a *attentionArgs[T]) first(i int) int {
	if a.window > 0 {
		return max(0, i-a.window+1)
	}
	return 0
}

// hidden reports whether token i of a sequence starting at row base is kept from seeing token j
// (first(i) ≤ j ≤ i) by the packing.
func (a *attentionArgs[T]) hidden(base, i, j int) bool {
	return a.segments != nil && a.segments[base+i] != a.segments[base+j]
}

// head returns head h's slice of row r of x, a (N, heads·HD) tensor.
func (a *attentionArgs[T]) head(x []T, r, h, heads int) []T {
	off := (r*heads + h) * a.headDim
	return x[off : off+a.headDim]
}

// score is s_ij = q_i·k_j / sqrt(HD).
func (a *attentionArgs[T]) score(qi, kj []T) T {
	var s T
	for d, x := range qi {
		s += x * kj[d]
	}
	return s * a.scale
}

type attentionKernel[T Float] struct {
	attentionArgs[T]
	scratch [][]T // per worker, T scores
}

func (a *attentionKernel[T]) run(w, lo, hi int) {
	for item := lo; item < hi; item++ {
		if a.blocked() {
			a.forwardBlocked(a.scratch[w], item/a.heads, item%a.heads)
		} else {
			a.forward(a.scratch[w][:a.t], item/a.heads, item%a.heads)
		}
	}
}

// forward computes head h of sequence b, with p (T) as scratch for one softmax row.
func (a *attentionKernel[T]) forward(p []T, b, h int) {
	base, g, kvHeads := b*a.t, h/a.group, a.heads/a.group
	for i := range a.t {
		qi := a.head(a.q, base+i, h, a.heads)
		mx := T(math.Inf(-1))
		for j := a.first(i); j <= i; j++ {
			if !a.hidden(base, i, j) {
				p[j] = a.score(qi, a.head(a.k, base+j, g, kvHeads))
				mx = max(mx, p[j])
			}
		}
		var sum T
		for j := a.first(i); j <= i; j++ {
			if !a.hidden(base, i, j) {
				p[j] = T(math.Exp(float64(p[j] - mx)))
				sum += p[j]
			}
		}
		a.lse[(b*a.heads+h)*a.t+i] = mx + T(math.Log(float64(sum)))
		out := a.head(a.out, base+i, h, a.heads)
		clear(out)
		for j := a.first(i); j <= i; j++ {
			if !a.hidden(base, i, j) {
				axpy(out, p[j]/sum, a.head(a.v, base+j, g, kvHeads))
			}
		}
	}
}

type attentionBackwardKernel[T Float] struct {
	attentionArgs[T]
	dq, dk, dv, dout []T   // dq, dout (N,NH·HD); dk, dv (N,NKV·HD)
	scratch          [][]T // per worker: dq_i (HD), then dk and dv of the sequence (T,HD) each
}

func (a *attentionBackwardKernel[T]) run(w, lo, hi int) {
	kvHeads := a.heads / a.group
	for item := lo; item < hi; item++ {
		if a.blocked() {
			a.backwardBlocked(a.scratch[w], item/kvHeads, item%kvHeads)
		} else {
			a.backward(a.scratch[w], item/kvHeads, item%kvHeads)
		}
	}
}

// backward computes the gradients of kv head g of sequence b and of its query heads.
func (a *attentionBackwardKernel[T]) backward(buf []T, b, g int) {
	hd, kvHeads, base := a.headDim, a.heads/a.group, b*a.t
	dqi := buf[:hd]
	dkSeq := buf[hd : hd+a.t*hd]
	dvSeq := buf[hd+a.t*hd : hd+2*a.t*hd]
	clear(dkSeq)
	clear(dvSeq)
	for h := g * a.group; h < (g+1)*a.group; h++ {
		for i := range a.t {
			a.backwardRow(dqi, dkSeq, dvSeq, b, h, i)
			add(a.head(a.dq, base+i, h, a.heads), dqi)
		}
	}
	for j := range a.t {
		add(a.head(a.dk, base+j, g, kvHeads), dkSeq[j*hd:(j+1)*hd])
		add(a.head(a.dv, base+j, g, kvHeads), dvSeq[j*hd:(j+1)*hd])
	}
}

// backwardRow writes into dqi (HD) the gradient of query row i of head h, and adds its share to the
// sequence's dk and dv (T,HD).
func (a *attentionBackwardKernel[T]) backwardRow(dqi, dkSeq, dvSeq []T, b, h, i int) {
	hd, g, kvHeads, base := a.headDim, h/a.group, a.heads/a.group, b*a.t
	qi := a.head(a.q, base+i, h, a.heads)
	douti := a.head(a.dout, base+i, h, a.heads)
	lse := a.lse[(b*a.heads+h)*a.t+i]
	rowDot := dot(douti, a.head(a.out, base+i, h, a.heads)) // dout_i·out_i
	clear(dqi)
	for j := a.first(i); j <= i; j++ {
		if a.hidden(base, i, j) {
			continue
		}
		kj, vj := a.head(a.k, base+j, g, kvHeads), a.head(a.v, base+j, g, kvHeads)
		p := T(math.Exp(float64(a.score(qi, kj) - lse)))
		ds := p * (dot(douti, vj) - rowDot) * a.scale
		axpy(dqi, ds, kj)
		axpy(dkSeq[j*hd:(j+1)*hd], ds, qi)
		axpy(dvSeq[j*hd:(j+1)*hd], p, douti)
	}
}

// dot is Σ x∘y, in order.
func dot[T Float](x, y []T) T {
	var s T
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// axpy adds alpha·x to y.
func axpy[T Float](y []T, alpha T, x []T) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}

// add adds x to y.
func add[T Float](y, x []T) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}
