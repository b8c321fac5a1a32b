package backend

import (
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Letters in the shape comments below:
//
//	N  rows (tokens in the batch: B sequences of T tokens, row-major)
//	B  sequences, T tokens each
//	C  channels of the row (hidden size, or a projection's width)
//	NH attention heads, NKV key/value heads, HD head dimension
//	V  vocabulary size

// Tensor is a flat buffer of floats owned by a backend. Its shape is the caller's business: every
// op takes its sizes explicitly and checks them against the buffers' lengths.
type Tensor interface {
	Len() int
}

// Bytes is a flat buffer of bytes owned by a backend: the 8-bit optimizer states.
type Bytes interface {
	Len() int
}

// AdamW are the hyperparameters of one AdamW update. Step counts updates from 1 and sets the bias
// corrections 1-Beta1^Step and 1-Beta2^Step.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
}

// Quantized is a frozen NF4 weight resident on a backend.
type Quantized interface {
	Shape() [2]int // (out, in)
}

// Backend is the compute the model runs on. The CPU backend in this package is the reference every
// other backend is checked against (see the conformance suite in backendtest).
//
// Contract for every op: outputs come first, then inputs, then sizes. Forward ops overwrite their
// outputs. Backward ops ADD into the gradients they produce (the caller zeroes them), except the ones
// that say "in place". Buffer lengths must equal what the sizes imply (use View for a part of a
// larger buffer); wrong sizes are programming errors and panic with the op's name. Results must not
// depend on the number of threads. A backend serves one goroutine at a time.
type Backend interface {
	Name() string

	// New returns a zeroed tensor of n elements at the backend's activation precision (the CPU
	// backend's T; bf16 on a GPU).
	New(n int) Tensor
	// NewFP32 returns a zeroed tensor of n elements that keeps at least float32 precision:
	// parameters, gradients, optimizer states and the small statistics (1/rms, log-sum-exp, losses).
	NewFP32(n int) Tensor
	// View returns n elements of t from offset on, sharing t's storage (for flat arenas).
	View(t Tensor, offset, n int) Tensor
	// Load copies a frozen checkpoint tensor (F32, F16 or BF16) to the backend.
	Load(t safetensors.Tensor) (Tensor, error)
	// LoadNF4 copies a frozen NF4 weight to the backend.
	LoadNF4(q *nf4.Quantized) Quantized
	Upload(dst Tensor, src []float64)
	Download(dst []float64, src Tensor)
	Zero(t Tensor)
	// Copy copies src into dst. Their precisions may differ (a NewFP32 tensor into a New one):
	// each value then rounds to dst's precision as Upload would round it.
	Copy(dst, src Tensor)

	// Dequantize writes the NF4 weight w as floats into out (out, in).
	Dequantize(out Tensor, w Quantized)
	// Gemm computes c = alpha·op(a)·op(b) + beta·c, row-major: op(a) is (m,k), op(b) is (k,n), c is
	// (m,n); op(x) is x, or x stored transposed when trans is set. c must not overlap a or b; with
	// beta 0, c is not read (it may hold NaN).
	Gemm(c, a, b Tensor, transA, transB bool, m, n, k int, alpha, beta float64)
	// Add computes out = a + b elementwise; out may be a or b.
	Add(out, a, b Tensor)
	// AddBias adds bias (C) to every row of out (N,C).
	AddBias(out, bias Tensor, n, c int)

	// Embedding copies row ids[i] of table (V,C) into row i of out (N,C).
	Embedding(out, table Tensor, ids []int32, c int)

	// RMSNorm: out (N,C) = x / sqrt(mean(x²) + eps) · weight (C); rstd (N) keeps 1/sqrt(...).
	RMSNorm(out, rstd, x, weight Tensor, n, c int, eps float64)
	// RMSNormBackward adds to dx (N,C); the weight is frozen.
	RMSNormBackward(dx, dout, x, weight, rstd Tensor, n, c int)

	// RoPE rotates, in place, each head of x (N, heads·HD) by its token's position (N), half-split
	// as Llama does: pairs (i, i+HD/2) turn by positions[row]·invFreq[i] (HD/2 frequencies). Angles
	// are taken in float64 (a float32 angle is off by 1e-2 at position 131071).
	RoPE(x Tensor, positions []int32, invFreq []float64, n, heads, headDim int)
	// RoPEBackward turns a gradient with respect to the rotated x into one with respect to the
	// unrotated x, in place (the inverse rotation).
	RoPEBackward(dx Tensor, positions []int32, invFreq []float64, n, heads, headDim int)

	// Attention is causal scaled dot-product attention with grouped-query heads: q (N,NH·HD),
	// k and v (N,NKV·HD), out (N,NH·HD), lse (B,NH,T) the log-sum-exp of each softmax row. Token j
	// is seen by token i of the same sequence when j ≤ i, segments[i] == segments[j] (packed samples
	// never see each other), and, when window > 0, i-j < window. nil segments mean one sample per
	// sequence.
	Attention(out, lse, q, k, v Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int)
	// AttentionCached is attention for generation: m new query rows q (m,NH·HD) of one sequence, at
	// positions past..past+m-1, over the key and value caches (past+m, NKV·HD) whose last m rows
	// already hold the new tokens' keys and values; causal, and windowed when window > 0. out is
	// (m,NH·HD). There is no backward.
	AttentionCached(out, q, kCache, vCache Tensor, past, m, heads, kvHeads, headDim, window int)
	// AttentionBackward adds to dq, dk and dv, recomputing the probabilities from lse.
	AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v Tensor, segments []int32, b, t, heads, kvHeads, headDim, window int)

	// SwiGLU: out = silu(gate) · up, elementwise over n.
	SwiGLU(out, gate, up Tensor, n int)
	// SwiGLUBackward adds to dgate and dup.
	SwiGLUBackward(dgate, dup, dout, gate, up Tensor, n int)

	// Dropout: out = x · keep / (1-p), where element i is kept when the counter-based generator's
	// uniform draw for (seed, stream, i) is ≥ p; every backend draws the same mask.
	Dropout(out, x Tensor, p float64, seed, stream uint64, n int)
	// DropoutBackward adds dout · keep / (1-p) to dx, drawing the same mask again.
	DropoutBackward(dx, dout Tensor, p float64, seed, stream uint64, n int)

	// CrossEntropy writes into losses (N) the negative log-likelihood of targets[i] under
	// softmax(logits[i]) (logits (N,V)); rows whose target is negative (-100) are ignored and get 0.
	// A target ≥ V is a programming error. NaN or infinite logits give a NaN loss, which the
	// training loop detects and reports.
	CrossEntropy(losses, logits Tensor, targets []int32, n, v int)
	// CrossEntropyBackward adds scale·(softmax(logits) - onehot(target)) to dlogits for counted rows.
	CrossEntropyBackward(dlogits, logits Tensor, targets []int32, scale float64, n, v int)

	// Optimizer ops, over the flat parameter and gradient arenas.

	// SumSquares returns Σ t², accumulated in float64 (for the global gradient norm).
	SumSquares(t Tensor) float64
	// Scale multiplies t by alpha in place (gradient clipping and normalisation).
	Scale(t Tensor, alpha float64)
	// AdamWStep updates params in place from grads with float32-or-wider moments m and v, exactly as
	// torch.optim.AdamW: params ·= 1 - LR·WeightDecay; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
	// params -= LR/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + Eps).
	AdamWStep(params, grads, m, v Tensor, h AdamW)
	// NewBytes returns n zeroed bytes.
	NewBytes(n int) Bytes
	// UploadBytes and DownloadBytes copy 8-bit states to and from the host (checkpoints).
	UploadBytes(dst Bytes, src []byte)
	DownloadBytes(dst []byte, src Bytes)
	// AdamW8bitStep is bitsandbytes' blockwise 8-bit AdamW: m and v are stored as 8-bit codes of the
	// signed and unsigned dynamic maps (c1, c2, n bytes each) with one absmax per block of 256
	// (absmax1, absmax2); elements whose gradient is not finite are skipped; weight decay is applied
	// after the Adam step, as bitsandbytes does.
	AdamW8bitStep(params, grads Tensor, c1, c2 Bytes, absmax1, absmax2 Tensor, h AdamW)
}
