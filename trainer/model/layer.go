package model

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// The projections of a layer, in the order of Config.ProjectionShapes.
const (
	projQ = iota
	projK
	projV
	projO
	projGate
	projUp
	projDown
)

// layer is one decoder layer on the backend: frozen norms and projections, and its attention window.
type layer struct {
	inputNorm, postNorm   backend.Tensor // (C)
	dInputNorm, dPostNorm backend.Tensor // their gradients in full-parameter training, else nil
	proj                  [NumProjections]linear
	window                int
	adapters              span // this layer's adapters in the parameter arena, all consecutive
}

// span is a range of a flat arena.
type span struct{ off, n int }

// loadAdapters copies this layer's adapters from the fp32 parameter arena into scratch at
// activation precision, in one op, for the products that use them (linear.factors). On a GPU
// that is one cast a layer, where every product would otherwise cast its fp32 operand itself
// (42 launches a layer in a checkpointed step). Each pass copies again: the optimizer may have
// changed the parameters since.
func (l *layer) loadAdapters(p *pass, params backend.Tensor) {
	if l.adapters.n > 0 {
		p.be.Copy(p.be.View(p.s.adapters, 0, l.adapters.n), p.be.View(params, l.adapters.off, l.adapters.n))
	}
}

// layerActs is what one layer's backward pass needs from its forward pass. With gradient
// checkpointing one set serves every layer, refilled by recomputing the layer's forward.
type layerActs struct {
	xn1, rstd1    backend.Tensor                 // input_layernorm output (N,C) and 1/rms (N)
	q, k, v       backend.Tensor                 // after RoPE: (N,NH·HD), (N,NKV·HD), (N,NKV·HD)
	att, lse      backend.Tensor                 // attention output (N,NH·HD) and its log-sum-exp (B,NH,T)
	x2            backend.Tensor                 // the residual stream after attention (N,C)
	xn2, rstd2    backend.Tensor                 // post_attention_layernorm output (N,C) and 1/rms (N)
	gate, up, act backend.Tensor                 // (N,I): the two MLP inputs and silu(gate)·up
	h             [NumProjections]backend.Tensor // LoRA bottlenecks (N,r), nil where not adapted
}

// layerGrads are the gradient buffers one layer's backward pass works in, shared by all layers.
type layerGrads struct {
	dxn              backend.Tensor // (N,C)
	dq, dk, dv, datt backend.Tensor // (N,NH·HD), (N,NKV·HD), (N,NKV·HD), (N,NH·HD)
	dgate, dup, dact backend.Tensor // (N,I)
}

// batchShape is what attention and RoPE need of the batch.
type batchShape struct {
	b, t                int
	positions, segments []int32 // (N)
}

// forward computes out (N,C) from x (N,C), keeping the activations in a:
//
//	x2  = x + o_proj(attention(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = input_layernorm(x)
//	out = x2 + down_proj(silu(gate_proj(n2)) · up_proj(n2)),                      n2 = post_attention_layernorm(x2)
func (l *layer) forward(p *pass, m *Model, bs *batchShape, out, x backend.Tensor, a *layerActs, tmp backend.Tensor) {
	be, n, c := p.be, p.n, m.Config
	l.loadAdapters(p, m.params)
	be.RMSNorm(a.xn1, a.rstd1, x, l.inputNorm, n, c.HiddenSize, c.RMSNormEps)
	l.proj[projQ].forward(p, a.q, a.h[projQ], a.xn1)
	l.proj[projK].forward(p, a.k, a.h[projK], a.xn1)
	l.proj[projV].forward(p, a.v, a.h[projV], a.xn1)
	be.RoPE(a.q, bs.positions, m.invFreq, n, c.NumHeads, c.HeadDim)
	be.RoPE(a.k, bs.positions, m.invFreq, n, c.NumKVHeads, c.HeadDim)
	be.Attention(a.att, a.lse, a.q, a.k, a.v, bs.segments, bs.b, bs.t, c.NumHeads, c.NumKVHeads, c.HeadDim, l.window)
	l.proj[projO].forward(p, tmp, a.h[projO], a.att)
	be.Add(a.x2, x, tmp)

	be.RMSNorm(a.xn2, a.rstd2, a.x2, l.postNorm, n, c.HiddenSize, c.RMSNormEps)
	l.proj[projGate].forward(p, a.gate, a.h[projGate], a.xn2)
	l.proj[projUp].forward(p, a.up, a.h[projUp], a.xn2)
	be.SwiGLU(a.act, a.gate, a.up, n*c.IntermediateSize)
	l.proj[projDown].forward(p, tmp, a.h[projDown], a.act)
	be.Add(out, a.x2, tmp)
}

// backward turns dres (N,C), the gradient with respect to the layer's output, into the gradient
// with respect to its input x, in place, adding the adapters' gradients on the way (in
// full-parameter training, every weight's).
func (l *layer) backward(p *pass, m *Model, bs *batchShape, dres, x backend.Tensor, a *layerActs, g *layerGrads) {
	be, n, c := p.be, p.n, m.Config
	l.loadAdapters(p, m.params)
	// MLP branch: out = x2 + down(act).
	be.Zero(g.dact)
	l.proj[projDown].backward(p, g.dact, dres, a.act, a.h[projDown])
	be.Zero(g.dgate)
	be.Zero(g.dup)
	be.SwiGLUBackward(g.dgate, g.dup, g.dact, a.gate, a.up, n*c.IntermediateSize)
	be.Zero(g.dxn)
	l.proj[projGate].backward(p, g.dxn, g.dgate, a.xn2, a.h[projGate])
	l.proj[projUp].backward(p, g.dxn, g.dup, a.xn2, a.h[projUp])
	be.RMSNormBackward(dres, g.dxn, a.x2, l.postNorm, a.rstd2, n, c.HiddenSize) // dres = d x2
	p.normWeightBackward(l.dPostNorm, g.dxn, a.x2, a.rstd2, c.HiddenSize)

	// Attention branch: x2 = x + o(att).
	be.Zero(g.datt)
	l.proj[projO].backward(p, g.datt, dres, a.att, a.h[projO])
	be.Zero(g.dq)
	be.Zero(g.dk)
	be.Zero(g.dv)
	be.AttentionBackward(g.dq, g.dk, g.dv, g.datt, a.att, a.lse, a.q, a.k, a.v, bs.segments,
		bs.b, bs.t, c.NumHeads, c.NumKVHeads, c.HeadDim, l.window)
	be.RoPEBackward(g.dq, bs.positions, m.invFreq, n, c.NumHeads, c.HeadDim)
	be.RoPEBackward(g.dk, bs.positions, m.invFreq, n, c.NumKVHeads, c.HeadDim)
	be.Zero(g.dxn)
	l.proj[projQ].backward(p, g.dxn, g.dq, a.xn1, a.h[projQ])
	l.proj[projK].backward(p, g.dxn, g.dk, a.xn1, a.h[projK])
	l.proj[projV].backward(p, g.dxn, g.dv, a.xn1, a.h[projV])
	be.RMSNormBackward(dres, g.dxn, x, l.inputNorm, a.rstd1, n, c.HiddenSize) // dres = d x
	p.normWeightBackward(l.dInputNorm, g.dxn, x, a.rstd1, c.HiddenSize)
}
