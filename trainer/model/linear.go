package model

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// linear is one projection of a layer: a frozen base weight (NF4 or dense) with an optional frozen
// bias, and, when the projection is targeted, its trainable LoRA adapter:
//
//	y = x·Wᵀ + bias + scaling · (dropout(x)·Aᵀ)·Bᵀ
//
// In full-parameter training W and bias are trainable (dense, with dweight and dbias) and there is
// no adapter.
type linear struct {
	out, in int
	nf4     backend.Quantized // the base in NF4, or
	dense   backend.Tensor    // the base at the checkpoint's precision
	bias    backend.Tensor    // (out), or nil
	lora    *adapter          // nil when the projection is not adapted

	// Full-parameter training: the gradients of dense and bias, else nil (the base is frozen).
	dweight backend.Tensor // (out,in)
	dbias   backend.Tensor // (out), or nil
}

// adapter is the LoRA pair of one projection: parameters and gradients are views into the model's
// flat arenas.
type adapter struct {
	r       int
	scaling float64
	dropout float64
	module  uint64 // layer·NumProjections + projection: this module's dropout streams
	offA    int    // where A starts in the arenas; B follows at offB
	offB    int
	a, b    backend.Tensor // A (r,in), B (out,r)
	da, db  backend.Tensor // their gradients
	inLayer int            // where A starts within its layer's adapters (layer.loadAdapters)
}

// factors returns A and B at activation precision: views of the copy layer.loadAdapters made.
func (l *linear) factors(p *pass) (a, b backend.Tensor) {
	ad := l.lora
	return p.be.View(p.s.adapters, ad.inLayer, ad.r*l.in), p.be.View(p.s.adapters, ad.inLayer+ad.offB-ad.offA, l.out*ad.r)
}

// pass is what every op of one forward or backward pass shares: the backend, the scratch memory,
// the number of rows N, and the step and seed that pick the dropout masks.
type pass struct {
	be         backend.Backend
	full       backend.FullTrainer // the backend's full-training ops, in full-parameter training
	s          *scratch
	n          int
	train      bool // dropout is on only while training
	seed, step uint64
}

// scratch is reusable working memory for the linear layers.
type scratch struct {
	weight   backend.Tensor // a dequantized NF4 weight: (out,in) of the largest projection
	dropped  backend.Tensor // dropout(x): (N,in) of the widest input
	dh       backend.Tensor // the gradient at the LoRA bottleneck: (N,r)
	adapters backend.Tensor // one layer's adapters at activation precision (layer.loadAdapters)
}

// weight returns the base weight as a dense (out,in) tensor, dequantizing NF4 into scratch.
func (l *linear) weight(p *pass) backend.Tensor {
	if l.dense != nil {
		return l.dense
	}
	w := p.be.View(p.s.weight, 0, l.out*l.in)
	p.be.Dequantize(w, l.nf4)
	return w
}

// stream is the dropout stream of this adapter at this step: every step and module draws its own mask,
// and a recomputation draws the same one again.
func (l *linear) stream(p *pass) uint64 { return p.step<<24 | l.lora.module }

// dropped returns dropout(x) with this step's mask, or x itself when dropout is off.
func (l *linear) dropped(p *pass, x backend.Tensor) backend.Tensor {
	if l.lora.dropout == 0 || !p.train {
		return x
	}
	xd := p.be.View(p.s.dropped, 0, p.n*l.in)
	p.be.Dropout(xd, x, l.lora.dropout, p.seed, l.stream(p), p.n*l.in)
	return xd
}

// forward computes y (N,out) from x (N,in); h (N,r) keeps the LoRA bottleneck for the backward pass.
func (l *linear) forward(p *pass, y, h, x backend.Tensor) {
	be, n := p.be, p.n
	be.Gemm(y, x, l.weight(p), false, true, n, l.out, l.in, 1, 0)
	if l.bias != nil {
		be.AddBias(y, l.bias, n, l.out)
	}
	if a := l.lora; a != nil {
		fa, fb := l.factors(p)
		be.Gemm(h, l.dropped(p, x), fa, false, true, n, a.r, l.in, 1, 0)
		be.Gemm(y, h, fb, false, true, n, l.out, a.r, a.scaling, 1)
	}
}

// backward adds to dx (N,in) the gradient through the base and the adapter, and to the adapter's
// dA and dB (or, in full-parameter training, to dW and dbias) their gradients, given dy (N,out) and
// the forward's x and h.
func (l *linear) backward(p *pass, dx, dy, x, h backend.Tensor) {
	be, n := p.be, p.n
	be.Gemm(dx, dy, l.weight(p), false, false, n, l.in, l.out, 1, 1) // dx += dy·W
	if l.dweight != nil {
		be.Gemm(l.dweight, dy, x, true, false, l.out, l.in, n, 1, 1) // dW += dyᵀ·x
	}
	if l.dbias != nil {
		p.full.AddBiasBackward(l.dbias, dy, n, l.out) // dbias += Σ_rows dy
	}
	a := l.lora
	if a == nil {
		return
	}
	dh := be.View(p.s.dh, 0, n*a.r)
	fa, fb := l.factors(p)
	be.Gemm(a.db, dy, h, true, false, l.out, a.r, n, a.scaling, 1)      // dB += s·dyᵀ·h
	be.Gemm(dh, dy, fb, false, false, n, a.r, l.out, a.scaling, 0)      // dh = s·dy·B
	be.Gemm(a.da, dh, l.dropped(p, x), true, false, a.r, l.in, n, 1, 1) // dA += dhᵀ·dropout(x)
	if a.dropout == 0 || !p.train {
		be.Gemm(dx, dh, fa, false, false, n, l.in, a.r, 1, 1) // dx += dh·A
		return
	}
	dxd := be.View(p.s.dropped, 0, n*l.in) // dropout(x) is used up: its room takes d(dropout(x))
	be.Gemm(dxd, dh, fa, false, false, n, l.in, a.r, 1, 0)
	be.DropoutBackward(dx, dxd, a.dropout, p.seed, l.stream(p), n*l.in)
}
