package model

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// ActivationShape is what the size of the activation arena depends on besides the architecture and
// the rows: which projections are adapted and with what rank, whether layers are recomputed, and
// which scratch the linear layers need. The memory planner builds one without loading weights.
type ActivationShape struct {
	Ranks         [NumProjections]int // LoRA rank per projection, 0 where not adapted
	Checkpointing bool                // one set of layer activations, recomputed per layer
	Quantized     bool                // NF4 base: scratch for the largest dequantized weight
	Dropout       bool                // LoRA dropout: scratch for dropout(x)
}

// ActivationElements counts the activation arenas for n rows: everything the forward pass keeps
// for the backward pass, the backward pass's buffers, one chunk of logits and its gradient, and
// scratch at activation precision, and the statistics (1/rms, log-sum-exp, losses) in float32.
func (c *Config) ActivationElements(s ActivationShape, n int) (elements, fp32 int) {
	counter := &carver{}
	carveActivations(&activations{}, counter, c, s, n)
	return counter.off, counter.offFP32
}

// activationShape describes this model's adapters and options.
func (m *Model) activationShape() ActivationShape {
	s := ActivationShape{Checkpointing: m.opt.GradientCheckpointing, Quantized: m.opt.Base == BaseNF4}
	for _, a := range m.adapters {
		s.Ranks[int(a.module)%NumProjections] = a.r
		s.Dropout = s.Dropout || a.dropout > 0
	}
	return s
}

// activationsFor returns the activations for b's N rows: views of exactly the sizes this batch
// needs, carved from one arena that grows to the largest batch seen and is then reused.
func (m *Model) activationsFor(b *Batch) *activations {
	n := b.B * b.T
	if m.acts != nil && m.acts.rows == n {
		return m.acts
	}
	shape := m.activationShape()
	size, size32 := m.Config.ActivationElements(shape, n)
	if m.acts == nil || m.acts.arena.Len() < size || m.acts.arena32.Len() < size32 {
		m.acts = &activations{arena: m.be.New(size), arena32: m.be.NewFP32(size32)}
	}
	a := &activations{arena: m.acts.arena, arena32: m.acts.arena32, rows: n}
	carveActivations(a, &carver{be: m.be, arena: a.arena, arena32: a.arena32}, m.Config, shape, n)
	m.acts = a
	return a
}

// carveActivations assigns every activation and gradient buffer for n rows, in one fixed order.
func carveActivations(a *activations, c *carver, cfg *Config, s ActivationShape, n int) {
	h, q, kv, mlp, v := cfg.HiddenSize, cfg.QDim(), cfg.KVDim(), cfg.IntermediateSize, cfg.VocabSize
	a.inputs = make([]backend.Tensor, cfg.NumLayers+1)
	for i := range a.inputs {
		a.inputs[i] = c.take(n * h)
	}
	sets := cfg.NumLayers
	if s.Checkpointing {
		sets = 1
	}
	a.layers = make([]layerActs, sets)
	for i := range a.layers {
		carveLayer(&a.layers[i], c, cfg, s, n)
	}
	a.tmp, a.xnF, a.rstdF = c.take(n*h), c.take(n*h), c.takeFP32(n)
	rows := cfg.LossChunkRows(n)
	a.logits, a.dlogits, a.losses = c.take(rows*v), c.take(rows*v), c.takeFP32(n)
	a.dres, a.dxnF = c.take(n*h), c.take(n*h)
	g := &a.grads
	g.dxn, g.dq, g.dk, g.dv, g.datt = c.take(n*h), c.take(n*q), c.take(n*kv), c.take(n*kv), c.take(n*q)
	g.dgate, g.dup, g.dact = c.take(n*mlp), c.take(n*mlp), c.take(n*mlp)
	carveScratch(&a.scratch, c, cfg, s, n)
}

// carveLayer assigns one layer's activations for n rows.
func carveLayer(la *layerActs, c *carver, cfg *Config, s ActivationShape, n int) {
	h, q, kv, mlp := cfg.HiddenSize, cfg.QDim(), cfg.KVDim(), cfg.IntermediateSize
	la.xn1, la.rstd1 = c.take(n*h), c.takeFP32(n)
	la.q, la.k, la.v = c.take(n*q), c.take(n*kv), c.take(n*kv)
	la.att, la.lse = c.take(n*q), c.takeFP32(n*cfg.NumHeads)
	la.x2, la.xn2, la.rstd2 = c.take(n*h), c.take(n*h), c.takeFP32(n)
	la.gate, la.up, la.act = c.take(n*mlp), c.take(n*mlp), c.take(n*mlp)
	for p, r := range s.Ranks {
		if r > 0 {
			la.h[p] = c.take(n * r)
		}
	}
}

// carveScratch sizes the linear layers' scratch: room for the largest dequantized weight, for
// dropout of the widest adapted input, for the LoRA bottleneck gradient, and for one layer's
// adapters.
func carveScratch(sc *scratch, c *carver, cfg *Config, s ActivationShape, n int) {
	maxWeight, maxIn, r, layerAdapters := 0, 0, 0, 0
	for p, proj := range cfg.ProjectionShapes() {
		if s.Quantized {
			maxWeight = max(maxWeight, proj.Shape[0]*proj.Shape[1])
		}
		if s.Ranks[p] > 0 {
			r = max(r, s.Ranks[p])
			layerAdapters += s.Ranks[p] * (proj.Shape[0] + proj.Shape[1])
			if s.Dropout {
				maxIn = max(maxIn, proj.Shape[1])
			}
		}
	}
	sc.weight, sc.dropped, sc.dh = c.take(maxWeight), c.take(n*maxIn), c.take(n*r)
	sc.adapters = c.take(layerAdapters)
}

// carver hands out consecutive views of two arenas, one at activation precision and one in
// float32; without arenas it only counts.
type carver struct {
	be             backend.Backend
	arena, arena32 backend.Tensor
	off, offFP32   int
}

// take is n elements at activation precision.
func (c *carver) take(n int) backend.Tensor {
	var t backend.Tensor
	if c.arena != nil {
		t = c.be.View(c.arena, c.off, n)
	}
	c.off += n
	return t
}

// takeFP32 is n elements in float32.
func (c *carver) takeFP32(n int) backend.Tensor {
	var t backend.Tensor
	if c.arena32 != nil {
		t = c.be.View(c.arena32, c.offFP32, n)
	}
	c.offFP32 += n
	return t
}
