package backendtest

import (
	"fmt"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The ops of backend.FullTrainer, the optional capability of full-parameter training: a backend
// without it skips this group. Gradients and weights are NewFP32 tensors, as the model makes them;
// dout and x are activations.

func testFullTrainer(p *pair) {
	got, ok := p.got.(backend.FullTrainer)
	if !ok {
		p.t.Skipf("%s does not implement backend.FullTrainer (it trains LoRA only)", p.got.Name())
	}
	ref := p.ref.(backend.FullTrainer)
	full := func(b backend.Backend) backend.FullTrainer {
		if b == p.got {
			return got
		}
		return ref
	}
	p.t.Run("EmbeddingBackward", func(t *testing.T) { testEmbeddingBackward(p.sub(t), full) })
	p.t.Run("RMSNormWeightBackward", func(t *testing.T) { testRMSNormWeightBackward(p.sub(t), full) })
	p.t.Run("AddBiasBackward", func(t *testing.T) { testAddBiasBackward(p.sub(t), full) })
	p.t.Run("Panics", func(t *testing.T) { testFullPanics(p.sub(t), got) })
}

// sub is p reporting to the subtest t.
func (p *pair) sub(t *testing.T) *pair {
	q := *p
	q.t = t
	return &q
}

// gradFP32 is a NewFP32 gradient buffer started as prefill says.
func (p *pair) gradFP32(n int, prefill string) dual {
	if prefill == "zeroed" {
		return p.zerosFP32(n)
	}
	return p.randomFP32(n, 1)
}

// testEmbeddingBackward: repeated ids add up, rows no id names are left exactly as they were, and
// a wide row (few table rows per chunk of work) spreads the vocabulary over many chunks.
func testEmbeddingBackward(p *pair, full func(backend.Backend) backend.FullTrainer) {
	for _, s := range []struct {
		v, c int
		ids  []int32
	}{
		{11, 9, []int32{3, 0, 10, 3, 7, 7, 1, 3}},
		{50, 2000, []int32{49, 0, 17, 17, 8, 9, 48, 0, 17, 33}},
		{300, 7, []int32{299, 5, 5, 5, 5, 150, 0}},
	} {
		name := fmt.Sprintf("v=%d c=%d", s.v, s.c)
		dout := p.random(len(s.ids)*s.c, 1)
		for _, pre := range prefills {
			dtable := p.gradFP32(s.v*s.c, pre)
			before, _ := p.download(dtable)
			p.both(func(b backend.Backend, at side) { full(b).EmbeddingBackward(at(dtable), at(dout), s.ids, s.c) })
			p.check(name+" dtable "+pre, dtable)
			after, _ := p.download(dtable)
			used := map[int32]bool{}
			for _, id := range s.ids {
				used[id] = true
			}
			for r := 0; r < s.v; r++ {
				if !used[int32(r)] {
					p.checkExact(fmt.Sprintf("%s dtable %s of unused row %d", name, pre, r), after[r*s.c:(r+1)*s.c], before[r*s.c:(r+1)*s.c])
				}
			}
		}
	}
}

// testRMSNormWeightBackward: the weight's gradient of the RMSNorm the reference computes, over
// enough rows and channels to be cut into several parts.
func testRMSNormWeightBackward(p *pair, full func(backend.Backend) backend.FullTrainer) {
	for _, s := range []struct{ n, c int }{{5, 37}, {1, 5}, {700, 130}} {
		name := fmt.Sprintf("n=%d c=%d", s.n, s.c)
		x, w := p.random(s.n*s.c, 3), p.randomFP32(s.c, 1)
		out, rstd := p.zeros(s.n*s.c), p.zerosFP32(s.n)
		p.both(func(b backend.Backend, at side) { b.RMSNorm(at(out), at(rstd), at(x), at(w), s.n, s.c, 1e-5) })
		dout := p.random(s.n*s.c, 1)
		for _, pre := range prefills {
			dw := p.gradFP32(s.c, pre)
			p.both(func(b backend.Backend, at side) {
				full(b).RMSNormWeightBackward(at(dw), at(dout), at(x), at(rstd), s.n, s.c)
			})
			p.check(name+" dweight "+pre, dw)
		}
	}
}

// testAddBiasBackward: the column sums of dout.
func testAddBiasBackward(p *pair, full func(backend.Backend) backend.FullTrainer) {
	for _, s := range []struct{ n, c int }{{7, 13}, {1, 3}, {900, 40}} {
		name := fmt.Sprintf("n=%d c=%d", s.n, s.c)
		dout := p.random(s.n*s.c, 1)
		for _, pre := range prefills {
			db := p.gradFP32(s.c, pre)
			p.both(func(b backend.Backend, at side) { full(b).AddBiasBackward(at(db), at(dout), s.n, s.c) })
			p.check(name+" dbias "+pre, db)
		}
	}
}

// testFullPanics: wrong sizes and ids outside the vocabulary panic naming the op.
func testFullPanics(p *pair, f backend.FullTrainer) {
	b := p.got
	x3, x6, x12 := b.NewFP32(3), b.New(6), b.New(12)
	cases := []struct {
		op string
		fn func()
	}{
		{"EmbeddingBackward", func() { f.EmbeddingBackward(b.NewFP32(6), x6, []int32{0, 2}, 3) }},       // the table has 2 rows
		{"EmbeddingBackward", func() { f.EmbeddingBackward(b.NewFP32(9), x12, []int32{0, 1}, 3) }},      // dout should hold 6
		{"RMSNormWeightBackward", func() { f.RMSNormWeightBackward(x3, x12, x12, b.NewFP32(3), 4, 3) }}, // rstd should hold 4
		{"RMSNormWeightBackward", func() { f.RMSNormWeightBackward(b.NewFP32(4), x12, x12, x3, 3, 3) }}, // 9 elements, not 12
		{"AddBiasBackward", func() { f.AddBiasBackward(b.NewFP32(4), x12, 4, 3) }},                      // dbias should hold 3
	}
	for _, c := range cases {
		expectPanic(p.t, c.op, c.fn)
	}
}
