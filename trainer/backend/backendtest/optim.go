package backendtest

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Optimizer ops: the squared norm, Scale, AdamW (torch's) and the 8-bit blockwise AdamW
// (bitsandbytes'). The 8-bit states are compared through what they mean: parameters and absmax
// within the tolerance, and codes that may differ by one where a state lies on a midpoint of the
// map (in no more than 1% of them), since rounding there depends on the arithmetic. What admits
// no rounding is checked exactly: a skipped element's parameter does not move and its states
// restart from zero; an all-zero block has absmax 0.

func testBytes(p *pair) {
	b := p.got
	for _, n := range []int{0, 1, 1001} {
		x := b.NewBytes(n)
		if x.Len() != n {
			p.t.Errorf("NewBytes(%d).Len() = %d", n, x.Len())
		}
		got := make([]byte, n)
		for i := range got {
			got[i] = 0xAA
		}
		b.DownloadBytes(got, x)
		for i, c := range got {
			if c != 0 {
				p.t.Fatalf("NewBytes(%d)[%d] = %d, want 0", n, i, c)
			}
		}
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(p.rnd.IntN(256))
		}
		b.UploadBytes(x, want)
		b.DownloadBytes(got, x)
		for i := range want {
			if got[i] != want[i] {
				p.t.Fatalf("DownloadBytes(UploadBytes(x))[%d] = %d, want %d", i, got[i], want[i])
			}
		}
	}
}

func testSumSquares(p *pair) {
	for _, n := range []int{0, 1, 1001, 70001} {
		x := p.random(n, 3)
		got, ref := p.got.SumSquares(x.got), p.ref.SumSquares(x.ref)
		if err := relError([]float64{got}, []float64{ref}); !(err <= p.tol) {
			p.t.Errorf("SumSquares over %d: %v, ref %v (relative error %.3g > %.3g)", n, got, ref, err, p.tol)
		}
	}
}

func testScale(p *pair) {
	for _, n := range []int{1, 70001} {
		x := p.random(n, 1)
		p.both(func(b backend.Backend, at side) { b.Scale(at(x), 0.37) })
		p.check(fmt.Sprintf("Scale over %d", n), x)
	}
}

// optimHypers are an ordinary setting and one where lr·wd is large, so that applying the weight
// decay before or after the step makes a visible difference.
var optimHypers = []backend.AdamW{
	{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01},
	{LR: 0.1, Beta1: 0.5, Beta2: 0.9, Eps: 1e-3, WeightDecay: 1},
}

// optimGrads returns the gradients of one step: normal, with a scale that changes from block of
// 256 to block, block 2 zero at step 1, and, when nonFinite, NaN and ±Inf at a few places.
func (p *pair) optimGrads(n, step int, nonFinite bool) []float64 {
	g := p.values(n, 1)
	for i := range g {
		g[i] *= math.Ldexp(1, -(i/256)%5)
		if i/256 == 2 && step == 1 {
			g[i] = 0
		}
	}
	if nonFinite {
		bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
		for k, at := range []int{5, n / 2, n - 2} {
			if (step+k)%2 == 1 {
				g[at] = bad[k]
			}
		}
	}
	return g
}

func testAdamWStep(p *pair) {
	const n = 1001
	for hi, h := range optimHypers {
		params, m, v := p.randomFP32(n, 1), p.zerosFP32(n), p.zerosFP32(n)
		for step := 1; step <= 4; step++ {
			g := p.uploadFP32(p.optimGrads(n, step, false))
			h.Step = step
			p.both(func(b backend.Backend, at side) { b.AdamWStep(at(params), at(g), at(m), at(v), h) })
			what := fmt.Sprintf("hyper %d step %d", hi, step)
			p.check(what+" params", params)
			p.check(what+" m", m)
			p.check(what+" v", v)
		}
	}
}

func testAdamW8bitStep(p *pair) {
	const n = 5*256 + 77 // a partial last block
	const blocks = (n + 255) / 256
	for hi, h := range optimHypers {
		params := p.randomFP32(n, 1)
		absmax1, absmax2 := p.zerosFP32(blocks), p.zerosFP32(blocks)
		c1 := [2]backend.Bytes{p.got.NewBytes(n), p.ref.NewBytes(n)}
		c2 := [2]backend.Bytes{p.got.NewBytes(n), p.ref.NewBytes(n)}
		before := make([]float64, n)
		for step := 1; step <= 5; step++ {
			// Each step starts from the reference's state: a code one apart at a tie would otherwise
			// move that element's moments, and the difference would grow step after step.
			p.syncFromRef(params, absmax1, absmax2)
			p.syncBytesFromRef(c1, n)
			p.syncBytesFromRef(c2, n)
			gv := p.optimGrads(n, step, true)
			g := p.uploadFP32(gv)
			h.Step = step
			p.got.Download(before, params.got)
			p.got.AdamW8bitStep(params.got, g.got, c1[0], c2[0], absmax1.got, absmax2.got, h)
			p.ref.AdamW8bitStep(params.ref, g.ref, c1[1], c2[1], absmax1.ref, absmax2.ref, h)
			what := fmt.Sprintf("AdamW8bitStep hyper %d step %d", hi, step)
			p.check(what+" params", params)
			p.check(what+" absmax1", absmax1)
			p.check(what+" absmax2", absmax2)
			p.checkCodes(what+" c1", c1, n)
			p.checkCodes(what+" c2", c2, n)

			after, a1, a2 := make([]float64, n), make([]float64, blocks), make([]float64, blocks)
			p.got.Download(after, params.got)
			p.got.Download(a1, absmax1.got)
			p.got.Download(a2, absmax2.got)
			codes1, codes2 := make([]byte, n), make([]byte, n)
			p.got.DownloadBytes(codes1, c1[0])
			p.got.DownloadBytes(codes2, c2[0])
			for i, x := range gv {
				if !math.IsNaN(x) && !math.IsInf(x, 0) {
					continue
				}
				if after[i] != before[i] {
					p.t.Errorf("%s: parameter %d with gradient %v moved from %v to %v", what, i, x, before[i], after[i])
				}
				if a1[i/256] > 0 && a2[i/256] > 0 && (codes1[i] != 127 || codes2[i] != 0) {
					p.t.Errorf("%s: element %d with gradient %v has codes (%d, %d), want (127, 0): states back to zero", what, i, x, codes1[i], codes2[i])
				}
			}
			if step == 1 && (a1[2] != 0 || a2[2] != 0) {
				p.t.Errorf("%s: block 2 of zero gradients has absmax (%v, %v), want 0", what, a1[2], a2[2])
			}
		}
	}
}

// checkCodes compares 8-bit codes: each within one of the reference's, and no more than 1%
// different.
func (p *pair) checkCodes(name string, c [2]backend.Bytes, n int) {
	p.t.Helper()
	got, ref := make([]byte, n), make([]byte, n)
	p.got.DownloadBytes(got, c[0])
	p.ref.DownloadBytes(ref, c[1])
	differ := 0
	for i := range ref {
		d := int(got[i]) - int(ref[i])
		if d == 0 {
			continue
		}
		differ++
		if d < -1 || d > 1 {
			p.t.Errorf("%s[%d] = %d, reference %d: more than one code apart", name, i, got[i], ref[i])
			return
		}
	}
	if differ*100 > n {
		p.t.Errorf("%s: %d of %d codes differ from the reference (more than 1%%)", name, differ, n)
	}
}

// testOptimPanics: wrong sizes panic naming the op.
func testOptimPanics(p *pair) {
	b := p.got
	x4, x5, x1, x2 := b.New(4), b.New(5), b.New(1), b.New(2)
	b4, b5 := b.NewBytes(4), b.NewBytes(5)
	h := backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	cases := []struct {
		op string
		f  func()
	}{
		{"AdamWStep", func() { b.AdamWStep(x4, x5, x4, x4, h) }},
		{"AdamWStep", func() { b.AdamWStep(x4, x4, x4, x5, h) }},
		{"AdamW8bitStep", func() { b.AdamW8bitStep(x4, x4, b4, b5, x1, x1, h) }}, // c2 should hold 4
		{"AdamW8bitStep", func() { b.AdamW8bitStep(x4, x4, b4, b4, x2, x1, h) }}, // one block of 4
		{"UploadBytes", func() { b.UploadBytes(b4, make([]byte, 5)) }},
		{"DownloadBytes", func() { b.DownloadBytes(make([]byte, 3), b4) }},
	}
	for _, c := range cases {
		expectPanic(p.t, c.op, c.f)
	}
}

// syncFromRef copies the reference's values into the tensors under test.
func (p *pair) syncFromRef(ds ...dual) {
	for _, d := range ds {
		v := make([]float64, d.n)
		p.ref.Download(v, d.ref)
		p.got.Upload(d.got, v)
	}
}

// syncBytesFromRef copies the reference's bytes into the backend under test's.
func (p *pair) syncBytesFromRef(c [2]backend.Bytes, n int) {
	b := make([]byte, n)
	p.ref.DownloadBytes(b, c[1])
	p.got.UploadBytes(c[0], b)
}
