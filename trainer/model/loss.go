package model

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// The loss head: logits = xnF·lm_headᵀ, then cross-entropy against the targets. The logits of the
// whole batch never exist at once: N·V of them would be the largest activation of all (2048 tokens
// × Llama 3's 128,256 words is 525 MB in bf16, twice that with their gradient), so both passes run
// over chunks of rows, each chunk's logits and gradient living in one reused (rows, V) buffer.
// Chunking rows rather than the vocabulary keeps each chunk a whole softmax, so the ordinary
// CrossEntropy ops apply, and every row's result is what the unchunked pass computes.
//
// The backward pass computes each chunk's logits again (one more N×C×V product, about 2% of a
// Llama 3 8B step) rather than keep them: their gradient needs the loss scale, which only Backward
// knows, and, in full-parameter training, accumulates into lm_head's gradient.

// LossChunkRows is how many rows of logits the loss head computes at once for a batch of n rows:
// about n·C elements, as much as one hidden activation (all n rows when V ≤ C).
func (c *Config) LossChunkRows(n int) int {
	chunks := (c.VocabSize + c.HiddenSize - 1) / c.HiddenSize
	return (n + chunks - 1) / max(chunks, 1)
}

// lossChunks calls f for each chunk of rows [r0, r0+rows) of the n.
func (m *Model) lossChunks(n int, f func(r0, rows int)) {
	size := m.Config.LossChunkRows(n)
	for r0 := 0; r0 < n; r0 += size {
		f(r0, min(size, n-r0))
	}
}

// chunkLogits computes the logits of rows [r0, r0+rows) into the chunk buffer and returns it.
func (m *Model) chunkLogits(a *activations, r0, rows int) backend.Tensor {
	logits := m.be.View(a.logits, 0, rows*m.Config.VocabSize)
	m.logitsInto(logits, a, r0, rows)
	return logits
}

// logitsInto writes the logits of rows [r0, r0+rows) of the last forward pass into dst.
func (m *Model) logitsInto(dst backend.Tensor, a *activations, r0, rows int) {
	c, be := m.Config, m.be
	be.Gemm(dst, be.View(a.xnF, r0*c.HiddenSize, rows*c.HiddenSize), m.lmHead, false, true, rows, c.VocabSize, c.HiddenSize, 1, 0)
}

// lossForward writes every row's loss into a.losses.
func (m *Model) lossForward(a *activations, n int) {
	targets := a.batch.Targets
	m.lossChunks(n, func(r0, rows int) {
		logits := m.chunkLogits(a, r0, rows)
		m.be.CrossEntropy(m.be.View(a.losses, r0, rows), logits, targets[r0:r0+rows], rows, m.Config.VocabSize)
	})
}

// lossBackward writes into a.dxnF the gradient of scale × the summed loss with respect to the final
// norm's output, adding lm_head's gradient in full-parameter training.
func (m *Model) lossBackward(a *activations, n int, scale float64) {
	c, be, targets := m.Config, m.be, a.batch.Targets
	m.lossChunks(n, func(r0, rows int) {
		logits := m.chunkLogits(a, r0, rows)
		dlogits := be.View(a.dlogits, 0, rows*c.VocabSize)
		be.Zero(dlogits)
		be.CrossEntropyBackward(dlogits, logits, targets[r0:r0+rows], scale, rows, c.VocabSize)
		xnF := be.View(a.xnF, r0*c.HiddenSize, rows*c.HiddenSize)
		if m.dlmHead != nil {
			be.Gemm(m.dlmHead, dlogits, xnF, true, false, c.VocabSize, c.HiddenSize, rows, 1, 1) // dW += dlogitsᵀ·xnF
		}
		be.Gemm(be.View(a.dxnF, r0*c.HiddenSize, rows*c.HiddenSize), dlogits, m.lmHead, false, false, rows, c.HiddenSize, c.VocabSize, 1, 0)
	})
}

// Logits computes and downloads the logits of the last forward pass (N,V), for tests and tools:
// the forward pass itself never holds them all.
func (m *Model) Logits() []float64 {
	c, a := m.Config, m.acts
	n := a.batch.B * a.batch.T
	logits := m.be.New(n * c.VocabSize)
	m.logitsInto(logits, a, 0, n)
	out := make([]float64, n*c.VocabSize)
	m.be.Download(out, logits)
	return out
}
