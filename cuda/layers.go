//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The ops of a transformer layer and the loss, forward and backward side by side, each launching
// the kernel of the same name in kernels/ (shapes as in trainer/backend: N rows, C channels, NH
// heads, NKV kv heads, HD head dimension, V vocabulary). Sizes are checked here, on the caller's
// goroutine, so a wrong one panics naming the op before anything reaches the GPU.

// RMSNorm: out (N,C) = x / sqrt(mean(x²) + eps) · weight (C); rstd (N) keeps 1/sqrt(...).
func (bk *Backend) RMSNorm(out, rstd, x, weight backend.Tensor, n, c int, eps float64) {
	const op = "RMSNorm"
	checkSizes(op, n, c)
	ot, rt := tensor(out, op, "out", n*c), tensor(rstd, op, "rstd", n)
	xt, wt := tensor(x, op, "x", n*c), tensor(weight, op, "weight", c)
	if n == 0 {
		return
	}
	bk.dev.do(func() {
		bk.dev.drv.launch(kRMSNorm, [3]uint32{uint32(n), 1, 1}, block1D, argv(ot, rt, xt, wt, n, c, eps))
	})
}

// RMSNormBackward adds to dx (N,C); the weight is frozen.
func (bk *Backend) RMSNormBackward(dx, dout, x, weight, rstd backend.Tensor, n, c int) {
	const op = "RMSNormBackward"
	checkSizes(op, n, c)
	dxt, dt := tensor(dx, op, "dx", n*c), tensor(dout, op, "dout", n*c)
	xt, wt, rt := tensor(x, op, "x", n*c), tensor(weight, op, "weight", c), tensor(rstd, op, "rstd", n)
	if n == 0 {
		return
	}
	bk.dev.do(func() {
		bk.dev.drv.launch(kRMSNormBackward, [3]uint32{uint32(n), 1, 1}, block1D, argv(dxt, dt, xt, wt, rt, n, c))
	})
}

// RoPE rotates, in place, each head of x (N, heads·HD) by its row's position, the angles in double.
func (bk *Backend) RoPE(x backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	bk.rope("RoPE", x, positions, invFreq, n, heads, headDim, false)
}

// RoPEBackward applies the inverse rotation to a gradient, in place.
func (bk *Backend) RoPEBackward(dx backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	bk.rope("RoPEBackward", dx, positions, invFreq, n, heads, headDim, true)
}

func (bk *Backend) rope(op string, x backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int, inverse bool) {
	checkSizes(op, n, heads, headDim)
	if headDim%2 != 0 || len(invFreq) != headDim/2 {
		panic(fmt.Sprintf("cuda.%s: head dimension %d with %d frequencies, want an even one and half as many", op, headDim, len(invFreq)))
	}
	if len(positions) != n {
		panic(fmt.Sprintf("cuda.%s: %d positions for %d rows", op, len(positions), n))
	}
	xt := tensor(x, op, "x", n*heads*headDim)
	if n*heads*headDim == 0 {
		return
	}
	pos, uploadPos := bk.ints(op, slotPositions, positions)
	freq, uploadFreq := bk.frequencies(invFreq)
	bk.dev.do(func() {
		uploadPos()
		uploadFreq()
		bk.dev.drv.launch(kRoPE, grid1D(n*headDim/2), block1D, argv(xt, pos, freq, n, heads, headDim, inverse))
	})
}

// attentionArgs checks the arguments attention and its backward share.
type attentionArgs struct {
	q, k, v, lse *Tensor
	segments     devicePtr
	upload       func()
	grid         [3]uint32
	scale        float64
}

func (bk *Backend) attentionArgs(op string, q, k, v, lse backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) attentionArgs {
	checkSizes(op, b, t, heads, kvHeads, headDim, window)
	if kvHeads == 0 || heads%kvHeads != 0 {
		panic(fmt.Sprintf("cuda.%s: %d heads do not share %d kv heads evenly", op, heads, kvHeads))
	}
	if headDim > maxHeadDim {
		panic(fmt.Sprintf("cuda.%s: head dimension %d, at most %d", op, headDim, maxHeadDim))
	}
	if segments != nil && len(segments) != b*t {
		panic(fmt.Sprintf("cuda.%s: %d segment ids for %d rows", op, len(segments), b*t))
	}
	a := attentionArgs{
		lse:   tensor(lse, op, "lse", b*heads*t),
		q:     tensor(q, op, "q", b*t*heads*headDim),
		k:     tensor(k, op, "k", b*t*kvHeads*headDim),
		v:     tensor(v, op, "v", b*t*kvHeads*headDim),
		grid:  [3]uint32{uint32((t + attentionRows - 1) / attentionRows), uint32(heads), uint32(b)},
		scale: float64(float32(1 / math.Sqrt(float64(headDim)))),
	}
	a.segments, a.upload = bk.ints(op, slotSegments, segments)
	return a
}

var attentionBlock = [3]uint32{32 * attentionRows, 1, 1}

// Attention is causal attention with grouped-query heads, segments and a window: out (N,NH·HD),
// lse (B,NH,T) the log-sum-exp of each softmax row.
func (bk *Backend) Attention(out, lse, q, k, v backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) {
	const op = "Attention"
	a := bk.attentionArgs(op, q, k, v, lse, segments, b, t, heads, kvHeads, headDim, window)
	ot := tensor(out, op, "out", b*t*heads*headDim)
	if b*t*heads*headDim == 0 {
		return
	}
	args := argv(ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, headDim, window, a.scale)
	bk.dev.do(func() {
		a.upload()
		if useFlash(headDim, a.q, a.k, a.v, ot) {
			bk.dev.drv.launch(kFlash, flashGrid(t, heads, b), flashBlock, args)
			return
		}
		bk.dev.drv.launch(kAttention, a.grid, attentionBlock, args)
	})
}

// useFlash reports whether attention takes the tensor-core kernels (kernels/flash.cu): bf16
// tensors and heads of at most 128. The plain kernels keep fp32 to fp32's precision.
func useFlash(headDim int, ts ...*Tensor) bool {
	for _, t := range ts {
		if t.dt != dtBF16 {
			return false
		}
	}
	return headDim <= maxFlashHeadDim
}

var flashBlock = [3]uint32{flashThreads, 1, 1}

// flashGrid is one block per flashRows rows (or keys) of each head and sequence.
func flashGrid(t, heads, b int) [3]uint32 {
	return [3]uint32{uint32((t + flashRows - 1) / flashRows), uint32(heads), uint32(b)}
}

// AttentionBackward adds to dq, dk and dv, recomputing the probabilities from lse: one kernel per
// query row (or tile) for dq, one per key row (or tile) for dk and dv, so that nothing is summed by
// two threads.
func (bk *Backend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v backend.Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int) {
	const op = "AttentionBackward"
	a := bk.attentionArgs(op, q, k, v, lse, segments, b, t, heads, kvHeads, headDim, window)
	ot, dot := tensor(out, op, "out", a.q.n), tensor(dout, op, "dout", a.q.n)
	dqt, dkt, dvt := tensor(dq, op, "dq", a.q.n), tensor(dk, op, "dk", a.k.n), tensor(dv, op, "dv", a.v.n)
	if a.q.n == 0 {
		return
	}
	if useFlash(headDim, a.q, a.k, a.v, ot, dot, dqt, dkt, dvt) {
		bk.flashBackward(a, dqt, dkt, dvt, dot, ot, b, t, heads, kvHeads, headDim, window)
		return
	}
	kvGrid := [3]uint32{a.grid[0], uint32(kvHeads), uint32(b)}
	bk.dev.do(func() {
		a.upload()
		bk.dev.drv.launch(kAttentionDQ, a.grid, attentionBlock,
			argv(dqt, dot, ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, headDim, window, a.scale))
		bk.dev.drv.launch(kAttentionDKDV, kvGrid, attentionBlock,
			argv(dkt, dvt, dot, ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, headDim, window, a.scale))
	})
}

// flashBackward is AttentionBackward on the tensor cores: the row dots dout·out into scratch, then
// one kernel per key tile for dk and dv, one per query tile for dq.
func (bk *Backend) flashBackward(a attentionArgs, dq, dk, dv, dout, out *Tensor, b, t, heads, kvHeads, headDim, window int) {
	n := b * t
	delta := bk.attentionDelta(n * heads)
	deltaGrid := [3]uint32{uint32((n*heads + attentionRows - 1) / attentionRows), 1, 1}
	bk.dev.do(func() {
		a.upload()
		bk.dev.drv.launch(kFlashDelta, deltaGrid, attentionBlock, argv(delta, dout, out, n, t, heads, headDim))
		bk.dev.drv.launch(kFlashDKDV, flashGrid(t, kvHeads, b), flashBlock,
			argv(dk, dv, dout, a.lse, delta, a.q, a.k, a.v, a.segments, t, heads, kvHeads, headDim, window, a.scale))
		bk.dev.drv.launch(kFlashDQ, flashGrid(t, heads, b), flashBlock,
			argv(dq, dout, a.lse, delta, a.q, a.k, a.v, a.segments, t, heads, kvHeads, headDim, window, a.scale))
	})
}

// AttentionCached attends m new query rows of one sequence (positions past..past+m−1) over the
// key and value caches (past+m, NKV·HD); out (m, NH·HD). There is no backward.
func (bk *Backend) AttentionCached(out, q, kCache, vCache backend.Tensor, past, m, heads, kvHeads, headDim, window int) {
	const op = "AttentionCached"
	checkSizes(op, past, m, heads, kvHeads, headDim, window)
	if kvHeads == 0 || heads%kvHeads != 0 {
		panic(fmt.Sprintf("cuda.%s: %d heads do not share %d kv heads evenly", op, heads, kvHeads))
	}
	if headDim > maxHeadDim {
		panic(fmt.Sprintf("cuda.%s: head dimension %d, at most %d", op, headDim, maxHeadDim))
	}
	rows := past + m
	ot, qt := tensor(out, op, "out", m*heads*headDim), tensor(q, op, "q", m*heads*headDim)
	kt, vt := tensor(kCache, op, "kCache", rows*kvHeads*headDim), tensor(vCache, op, "vCache", rows*kvHeads*headDim)
	if m*heads*headDim == 0 {
		return
	}
	grid := [3]uint32{uint32((m + attentionRows - 1) / attentionRows), uint32(heads), 1}
	scale := float64(float32(1 / math.Sqrt(float64(headDim))))
	bk.dev.do(func() {
		bk.dev.drv.launch(kAttentionCached, grid, attentionBlock,
			argv(ot, qt, kt, vt, past, m, heads, kvHeads, headDim, window, scale))
	})
}

// SwiGLU: out = silu(gate)·up elementwise over n.
func (bk *Backend) SwiGLU(out, gate, up backend.Tensor, n int) {
	const op = "SwiGLU"
	checkSizes(op, n)
	ot, gt, ut := tensor(out, op, "out", n), tensor(gate, op, "gate", n), tensor(up, op, "up", n)
	if n == 0 {
		return
	}
	bk.dev.do(func() { bk.dev.drv.launch(kSwiGLU, grid1D(n), block1D, argv(ot, gt, ut, n)) })
}

// SwiGLUBackward adds to dgate and dup.
func (bk *Backend) SwiGLUBackward(dgate, dup, dout, gate, up backend.Tensor, n int) {
	const op = "SwiGLUBackward"
	checkSizes(op, n)
	dgt, dut, dt := tensor(dgate, op, "dgate", n), tensor(dup, op, "dup", n), tensor(dout, op, "dout", n)
	gt, ut := tensor(gate, op, "gate", n), tensor(up, op, "up", n)
	if n == 0 {
		return
	}
	bk.dev.do(func() { bk.dev.drv.launch(kSwiGLUBackward, grid1D(n), block1D, argv(dgt, dut, dt, gt, ut, n)) })
}

// Dropout: out = x·keep/(1−p), the mask drawn from the counter-based generator exactly as the CPU
// draws it (trainer/rng).
func (bk *Backend) Dropout(out, x backend.Tensor, p float64, seed, stream uint64, n int) {
	bk.dropout("Dropout", out, x, p, seed, stream, n, false)
}

// DropoutBackward adds dout·keep/(1−p) to dx, drawing the same mask again.
func (bk *Backend) DropoutBackward(dx, dout backend.Tensor, p float64, seed, stream uint64, n int) {
	bk.dropout("DropoutBackward", dx, dout, p, seed, stream, n, true)
}

func (bk *Backend) dropout(op string, out, x backend.Tensor, p float64, seed, stream uint64, n int, accumulate bool) {
	checkSizes(op, n)
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cuda.%s: p = %v, want 0 ≤ p < 1", op, p))
	}
	ot, xt := tensor(out, op, "out", n), tensor(x, op, "x", n)
	if n == 0 {
		return
	}
	scale := float64(float32(1 / (1 - p)))
	bk.dev.do(func() {
		bk.dev.drv.launch(kDropout, grid1D(n), block1D, argv(ot, xt, p, scale, int(seed), int(stream), n, accumulate))
	})
}

// CrossEntropy writes into losses (N) the negative log-likelihood of each row's target; rows whose
// target is negative get 0. One block per row reads the logits (N,V) in chunks, in place.
func (bk *Backend) CrossEntropy(losses, logits backend.Tensor, targets []int32, n, v int) {
	const op = "CrossEntropy"
	lt, xt, tp, upload := bk.crossEntropyArgs(op, losses, logits, targets, n, v, "losses", n)
	if n == 0 {
		return
	}
	bk.dev.do(func() {
		upload()
		bk.dev.drv.launch(kCrossEntropy, [3]uint32{uint32(n), 1, 1}, block1D, argv(lt, xt, tp, n, v))
	})
}

// CrossEntropyBackward adds scale·(softmax(logits) − onehot(target)) to dlogits for counted rows.
func (bk *Backend) CrossEntropyBackward(dlogits, logits backend.Tensor, targets []int32, scale float64, n, v int) {
	const op = "CrossEntropyBackward"
	dt, xt, tp, upload := bk.crossEntropyArgs(op, dlogits, logits, targets, n, v, "dlogits", n*v)
	if n == 0 {
		return
	}
	bk.dev.do(func() {
		upload()
		bk.dev.drv.launch(kCrossEntropyBack, [3]uint32{uint32(n), 1, 1}, block1D, argv(dt, xt, tp, scale, n, v))
	})
}

func (bk *Backend) crossEntropyArgs(op string, out, logits backend.Tensor, targets []int32, n, v int, outName string, outLen int) (*Tensor, *Tensor, devicePtr, func()) {
	checkSizes(op, n, v)
	if len(targets) != n {
		panic(fmt.Sprintf("cuda.%s: %d targets for %d rows", op, len(targets), n))
	}
	for i, t := range targets {
		if int(t) >= v {
			panic(fmt.Sprintf("cuda.%s: target %d at row %d outside vocabulary of %d", op, t, i, v))
		}
	}
	ot, xt := tensor(out, op, outName, outLen), tensor(logits, op, "logits", n*v)
	tp, upload := bk.ints(op, slotTargets, targets)
	return ot, xt, tp, upload
}
