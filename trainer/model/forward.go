package model

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Batch is B sequences of T tokens, row-major: N = B·T rows.
type Batch struct {
	B, T      int
	IDs       []int32 // (N) input token ids
	Targets   []int32 // (N) the token each position predicts; negative (-100) where not counted
	Positions []int32 // (N) RoPE positions, restarting at 0 for each packed sample
	Segments  []int32 // (N) sample of each token within its sequence; attention never crosses samples
}

// Sequence is one sequence from position 0 in which every token predicts the next (the last
// predicts nothing).
func Sequence(ids []int32) *Batch {
	n := len(ids)
	b := &Batch{B: 1, T: n, IDs: ids, Targets: make([]int32, n), Positions: make([]int32, n), Segments: make([]int32, n)}
	for i := range ids {
		b.Positions[i] = int32(i)
		b.Targets[i] = -100
		if i+1 < n {
			b.Targets[i] = ids[i+1]
		}
	}
	return b
}

// Counted is the number of positions whose target counts in the loss.
func (b *Batch) Counted() int {
	n := 0
	for _, t := range b.Targets {
		if t >= 0 {
			n++
		}
	}
	return n
}

// check refuses a batch whose sizes or ids do not fit the model, naming the field and row.
func (b *Batch) check(vocab int) error {
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 {
		return fmt.Errorf("batch: %d sequences of %d tokens", b.B, b.T)
	}
	for name, v := range map[string][]int32{"ids": b.IDs, "targets": b.Targets, "positions": b.Positions, "segments": b.Segments} {
		if len(v) != n {
			return fmt.Errorf("batch: %s has %d entries, want B·T = %d", name, len(v), n)
		}
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("batch: token id %d at row %d is outside the vocabulary of %d", id, i, vocab)
		}
	}
	for i := 0; i < n; i++ {
		switch {
		case int(b.Targets[i]) >= vocab:
			return fmt.Errorf("batch: target %d at row %d is outside the vocabulary of %d", b.Targets[i], i, vocab)
		case b.Positions[i] < 0:
			return fmt.Errorf("batch: negative position at row %d", i)
		}
	}
	return nil
}

// activations are the forward pass's saved tensors and the backward pass's buffers, for up to
// capacity rows.
type activations struct {
	arena      backend.Tensor   // every buffer below is a view into it, at activation precision,
	arena32    backend.Tensor   // or into this one, for the float32 statistics
	rows       int              // N, the rows the views are cut for
	inputs     []backend.Tensor // L+1 × (N,C): each layer's input; the last feeds the final norm
	layers     []layerActs      // L, or one shared set under gradient checkpointing
	tmp        backend.Tensor   // (N,C) a projection's output before the residual add
	xnF        backend.Tensor   // (N,C) the final norm's output
	rstdF      backend.Tensor   // (N)
	logits     backend.Tensor   // (LossChunkRows,V): one chunk's logits (see loss.go)
	dlogits    backend.Tensor   // (LossChunkRows,V): their gradient
	losses     backend.Tensor   // (N)
	lossesHost []float64        // (N) the losses, downloaded
	dres       backend.Tensor   // (N,C) the gradient flowing down the residual stream
	dxnF       backend.Tensor   // (N,C)
	grads      layerGrads
	scratch    scratch

	batch *Batch // the batch of the last forward pass
	train bool
	step  uint64
}

// Forward runs the model on b and returns the summed cross-entropy over the counted targets and
// their number. With train set, dropout is on with the masks of step, and Backward may follow.
func (m *Model) Forward(b *Batch, train bool, step uint64) (float64, int, error) {
	if err := b.check(m.Config.VocabSize); err != nil {
		return 0, 0, err
	}
	a := m.activationsFor(b)
	a.batch, a.train, a.step = b, train, step
	p := m.pass(a)
	bs := &batchShape{b: b.B, t: b.T, positions: b.Positions, segments: b.Segments}
	c := m.Config
	m.be.Embedding(a.inputs[0], m.embed, b.IDs, c.HiddenSize)
	for i := range m.layers {
		m.layers[i].forward(p, m, bs, a.inputs[i+1], a.inputs[i], m.layerActs(i), a.tmp)
	}
	m.be.RMSNorm(a.xnF, a.rstdF, a.inputs[c.NumLayers], m.norm, p.n, c.HiddenSize, c.RMSNormEps)
	m.lossForward(a, p.n)
	if len(a.lossesHost) != p.n {
		a.lossesHost = make([]float64, p.n)
	}
	m.be.Download(a.lossesHost, a.losses)
	sum := 0.0
	for _, l := range a.lossesHost {
		sum += l
	}
	return sum, b.Counted(), nil
}

// Backward adds to the adapters' gradients (in full-parameter training, to every weight's) the
// gradient of scale × the summed loss of the last training forward pass (scale = 1/counted tokens
// gives the mean). It also leaves the gradient with respect to the input embeddings, which
// InputGrad returns.
func (m *Model) Backward(scale float64) {
	a := m.acts
	if a == nil || a.batch == nil || !a.train {
		panic("model.Backward: no training forward pass to differentiate")
	}
	b, c := a.batch, m.Config
	p := m.pass(a)
	bs := &batchShape{b: b.B, t: b.T, positions: b.Positions, segments: b.Segments}
	m.lossBackward(a, p.n, scale)
	m.be.Zero(a.dres)
	m.be.RMSNormBackward(a.dres, a.dxnF, a.inputs[c.NumLayers], m.norm, a.rstdF, p.n, c.HiddenSize)
	p.normWeightBackward(m.dnorm, a.dxnF, a.inputs[c.NumLayers], a.rstdF, c.HiddenSize)
	for i := len(m.layers) - 1; i >= 0; i-- {
		if m.opt.GradientCheckpointing {
			// Recompute the layer from its kept input. Its output lands where it was before, with
			// the same bits: the kernels are deterministic and the dropout masks are counter-based.
			m.layers[i].forward(p, m, bs, a.inputs[i+1], a.inputs[i], m.layerActs(i), a.tmp)
		}
		m.layers[i].backward(p, m, bs, a.dres, a.inputs[i], m.layerActs(i), &a.grads)
	}
	if m.dembed != nil {
		m.full.EmbeddingBackward(m.dembed, a.dres, b.IDs, c.HiddenSize) // dres is d(input embeddings)
	}
}

// InputGrad downloads the gradient of the last Backward with respect to the input embeddings (N,C).
func (m *Model) InputGrad() []float64 {
	out := make([]float64, m.acts.dres.Len())
	m.be.Download(out, m.acts.dres)
	return out
}

func (m *Model) pass(a *activations) *pass {
	return &pass{be: m.be, full: m.full, s: &a.scratch, n: a.batch.B * a.batch.T, train: a.train, seed: m.opt.Seed, step: a.step}
}

func (m *Model) layerActs(i int) *layerActs {
	if m.opt.GradientCheckpointing {
		return &m.acts.layers[0]
	}
	return &m.acts.layers[i]
}
