package model

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// activationsFor returns the activations for b's N rows: views of exactly the sizes this batch
// needs, carved from one arena that grows to the largest batch seen and is then reused.
func (m *Model) activationsFor(b *Batch) *activations {
	n := b.B * b.T
	if m.acts != nil && m.acts.rows == n {
		return m.acts
	}
	counter := &carver{}
	m.carveActivations(&activations{}, counter, n)
	if m.acts == nil || m.acts.arena == nil || m.acts.arena.Len() < counter.off {
		m.acts = &activations{arena: m.be.New(counter.off)}
	}
	a := &activations{arena: m.acts.arena, rows: n}
	m.carveActivations(a, &carver{be: m.be, arena: a.arena}, n)
	m.acts = a
	return a
}

// carveActivations assigns every activation and gradient buffer for n rows, in one fixed order.
func (m *Model) carveActivations(a *activations, c *carver, n int) {
	cfg := m.Config
	h, q, kv, mlp, v := cfg.HiddenSize, cfg.QDim(), cfg.KVDim(), cfg.IntermediateSize, cfg.VocabSize
	a.inputs = make([]backend.Tensor, cfg.NumLayers+1)
	for i := range a.inputs {
		a.inputs[i] = c.take(n * h)
	}
	sets := cfg.NumLayers
	if m.opt.GradientCheckpointing {
		sets = 1
	}
	a.layers = make([]layerActs, sets)
	for i := range a.layers {
		la := &a.layers[i]
		la.xn1, la.rstd1 = c.take(n*h), c.take(n)
		la.q, la.k, la.v = c.take(n*q), c.take(n*kv), c.take(n*kv)
		la.att, la.lse = c.take(n*q), c.take(n*cfg.NumHeads)
		la.x2, la.xn2, la.rstd2 = c.take(n*h), c.take(n*h), c.take(n)
		la.gate, la.up, la.act = c.take(n*mlp), c.take(n*mlp), c.take(n*mlp)
		for p, r := range m.adaptedRanks() {
			if r > 0 {
				la.h[p] = c.take(n * r)
			}
		}
	}
	a.tmp, a.xnF, a.rstdF = c.take(n*h), c.take(n*h), c.take(n)
	a.logits, a.dlogits, a.losses = c.take(n*v), c.take(n*v), c.take(n)
	a.dres, a.dxnF = c.take(n*h), c.take(n*h)
	g := &a.grads
	g.dxn, g.dq, g.dk, g.dv, g.datt = c.take(n*h), c.take(n*q), c.take(n*kv), c.take(n*kv), c.take(n*q)
	g.dgate, g.dup, g.dact = c.take(n*mlp), c.take(n*mlp), c.take(n*mlp)
	m.carveScratch(&a.scratch, c, n)
}

// carveScratch sizes the linear layers' scratch: room for the largest dequantized weight, for
// dropout of the widest input, and for the LoRA bottleneck gradient.
func (m *Model) carveScratch(s *scratch, c *carver, n int) {
	maxWeight, maxDropped, r := 0, 0, 0
	for i := range m.layers {
		for _, l := range m.layers[i].proj {
			if l.nf4 != nil {
				maxWeight = max(maxWeight, l.out*l.in)
			}
			if l.lora != nil {
				r = l.lora.r
				if l.lora.dropout > 0 {
					maxDropped = max(maxDropped, l.in)
				}
			}
		}
	}
	s.weight, s.dropped, s.dh = c.take(maxWeight), c.take(n*maxDropped), c.take(n*r)
}

// adaptedRanks is the LoRA rank of each projection that any layer adapts, 0 for the others.
func (m *Model) adaptedRanks() [NumProjections]int {
	var ranks [NumProjections]int
	for _, a := range m.adapters {
		ranks[int(a.module)%NumProjections] = a.r
	}
	return ranks
}

// carver hands out consecutive views of an arena; without an arena it only counts.
type carver struct {
	be    backend.Backend
	arena backend.Tensor
	off   int
}

func (c *carver) take(n int) backend.Tensor {
	var t backend.Tensor
	if c.arena != nil {
		t = c.be.View(c.arena, c.off, n)
	}
	c.off += n
	return t
}
