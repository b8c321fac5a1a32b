package backendtest

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The ops of a transformer layer and the loss, forward and backward. Every backward runs twice:
// into zeroed gradients and into random ones, which it must add to.

func testRMSNorm(p *pair) {
	for _, s := range []struct {
		n, c int
		eps  float64
	}{{5, 37, 1e-5}, {1, 5, 1e-6}, {64, 130, 1e-6}} {
		name := fmt.Sprintf("n=%d c=%d", s.n, s.c)
		x, w := p.random(s.n*s.c, 3), p.random(s.c, 1)
		out, rstd := p.zeros(s.n*s.c), p.zerosFP32(s.n) // rstd is float32 in the model
		p.both(func(b backend.Backend, at side) { b.RMSNorm(at(out), at(rstd), at(x), at(w), s.n, s.c, s.eps) })
		p.check(name+" out", out)
		p.check(name+" rstd", rstd)
		dout := p.random(s.n*s.c, 1)
		for _, pre := range prefills {
			dx := p.grad(s.n*s.c, pre)
			p.both(func(b backend.Backend, at side) {
				b.RMSNormBackward(at(dx), at(dout), at(x), at(w), at(rstd), s.n, s.c)
			})
			p.check(name+" dx "+pre, dx)
		}
	}
}

func ropeFrequencies(hd int, theta float64) []float64 {
	f := make([]float64, hd/2)
	for i := range f {
		f[i] = 1 / math.Pow(theta, float64(2*i)/float64(hd))
	}
	return f
}

func testRoPE(p *pair) {
	for _, s := range []struct {
		heads, hd int
		positions []int32
	}{{3, 10, []int32{0, 1, 2, 1000, 4095, 7}}, {5, 2, []int32{3, 0}}, {2, 64, []int32{0, 1, 131071}}} {
		name := fmt.Sprintf("heads=%d hd=%d", s.heads, s.hd)
		n, invFreq := len(s.positions), ropeFrequencies(s.hd, 10000)
		x := p.random(n*s.heads*s.hd, 1)
		p.both(func(b backend.Backend, at side) { b.RoPE(at(x), s.positions, invFreq, n, s.heads, s.hd) })
		p.check(name+" x", x)
		dx := p.random(n*s.heads*s.hd, 1)
		p.both(func(b backend.Backend, at side) { b.RoPEBackward(at(dx), s.positions, invFreq, n, s.heads, s.hd) })
		p.check(name+" dx", dx)
	}
}

// attentionShape is one configuration of Attention's arguments.
type attentionShape struct {
	b, t, heads, kvHeads, hd, window int
	segments                         []int32
	scale                            float64 // of q and k
}

var attentionShapes = []attentionShape{
	{b: 2, t: 9, heads: 6, kvHeads: 2, hd: 5, scale: 1},
	{b: 2, t: 11, heads: 4, kvHeads: 2, hd: 8, window: 4, scale: 1,
		segments: []int32{0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2 /* next sequence */, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4}},
	{b: 1, t: 1, heads: 2, kvHeads: 1, hd: 3, scale: 1},
	{b: 3, t: 7, heads: 3, kvHeads: 3, hd: 6, window: 2, scale: 1,
		segments: []int32{0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3, 4, 4, 4, 5, 5, 5}},
	{b: 1, t: 16, heads: 8, kvHeads: 1, hd: 4, scale: 4}, // sharp softmax rows
	// Longer sequences, for backends that tile them (several tiles of 64 and partial last ones).
	{b: 1, t: 150, heads: 4, kvHeads: 2, hd: 64, scale: 1, segments: runs(40, 70, 40)},
	{b: 2, t: 70, heads: 2, kvHeads: 2, hd: 128, window: 33, scale: 1},
	{b: 1, t: 100, heads: 2, kvHeads: 1, hd: 80, window: 40, scale: 2, segments: runs(5, 90, 5)},
}

// runs returns segment ids 0, 1, … repeated for runs of the given lengths.
func runs(lengths ...int) []int32 {
	var ids []int32
	for id, n := range lengths {
		for range n {
			ids = append(ids, int32(id))
		}
	}
	return ids
}

func (s attentionShape) String() string {
	return fmt.Sprintf("b=%d t=%d heads=%d kv=%d hd=%d window=%d segments=%v", s.b, s.t, s.heads, s.kvHeads, s.hd, s.window, s.segments != nil)
}

func testAttention(p *pair) {
	for _, s := range attentionShapes {
		name := s.String()
		rows := s.b * s.t
		qn, kn := rows*s.heads*s.hd, rows*s.kvHeads*s.hd
		q, k, v := p.random(qn, s.scale), p.random(kn, s.scale), p.random(kn, 1)
		out, lse := p.zeros(qn), p.zerosFP32(s.b*s.heads*s.t) // lse is float32 in the model
		p.both(func(b backend.Backend, at side) {
			b.Attention(at(out), at(lse), at(q), at(k), at(v), s.segments, s.b, s.t, s.heads, s.kvHeads, s.hd, s.window)
		})
		p.check(name+" out", out)
		p.check(name+" lse", lse)
		dout := p.random(qn, 1)
		for _, pre := range prefills {
			dq, dk, dv := p.grad(qn, pre), p.grad(kn, pre), p.grad(kn, pre)
			p.both(func(b backend.Backend, at side) {
				b.AttentionBackward(at(dq), at(dk), at(dv), at(dout), at(out), at(lse), at(q), at(k), at(v),
					s.segments, s.b, s.t, s.heads, s.kvHeads, s.hd, s.window)
			})
			p.check(name+" dq "+pre, dq)
			p.check(name+" dk "+pre, dk)
			p.check(name+" dv "+pre, dv)
		}
	}
}

func testSwiGLU(p *pair) {
	n := 101
	gateValues := p.values(n, 3)
	gateValues[0], gateValues[1] = 60, -60 // the sigmoid's tails
	gate, up := p.upload(gateValues), p.random(n, 1)
	out := p.zeros(n)
	p.both(func(b backend.Backend, at side) { b.SwiGLU(at(out), at(gate), at(up), n) })
	p.check("out", out)
	dout := p.random(n, 1)
	for _, pre := range prefills {
		dgate, dup := p.grad(n, pre), p.grad(n, pre)
		p.both(func(b backend.Backend, at side) { b.SwiGLUBackward(at(dgate), at(dup), at(dout), at(gate), at(up), n) })
		p.check("dgate "+pre, dgate)
		p.check("dup "+pre, dup)
	}
}

// testDropout: the same mask as the reference exactly (the zeros fall in the same places), the
// values within the tolerance, and p = 0 an exact copy.
func testDropout(p *pair) {
	n := 1001
	const seed, stream = 1234567, 42
	x, dout := p.random(n, 1), p.random(n, 1)
	for _, prob := range []float64{0, 0.1, 0.5} {
		name := fmt.Sprintf("p=%v", prob)
		out := p.zeros(n)
		p.both(func(b backend.Backend, at side) { b.Dropout(at(out), at(x), prob, seed, stream, n) })
		p.check(name+" out", out)
		p.checkMask(name+" out", out)
		if prob == 0 {
			got, _ := p.download(out)
			want, _ := p.download(x)
			p.checkExact(name+" out", got, want)
		}
		for _, pre := range prefills {
			dx := p.grad(n, pre)
			p.both(func(b backend.Backend, at side) { b.DropoutBackward(at(dx), at(dout), prob, seed, stream, n) })
			p.check(name+" dx "+pre, dx)
			if pre == "zeroed" {
				p.checkMask(name+" dx", dx)
			}
		}
	}
}

// checkMask checks that d is zero exactly where the reference is.
func (p *pair) checkMask(name string, d dual) {
	p.t.Helper()
	got, ref := p.download(d)
	for i := range ref {
		if (got[i] == 0) != (ref[i] == 0) {
			p.t.Errorf("%s: element %d is %v, reference %v: not the same mask", name, i, got[i], ref[i])
			return
		}
	}
}

// testCrossEntropy: ignored rows (-100 and other negatives) get a zero loss and no gradient,
// exactly; rows far from zero need the max subtracted.
func testCrossEntropy(p *pair) {
	n, v := 9, 37
	targets := []int32{0, 36, -100, 5, -1, 12, 36, -100, 7}
	values := p.values(n*v, 2)
	for j := range v { // rounded again: 16-bit storage holds exactly these
		values[3*v+j] = roundBF16(values[3*v+j] + 100)
		values[5*v+j] = roundBF16(values[5*v+j] - 100)
	}
	logits := p.upload(values)
	losses := p.randomFP32(n, 1) // float32 in the model
	p.both(func(b backend.Backend, at side) { b.CrossEntropy(at(losses), at(logits), targets, n, v) })
	p.check("losses", losses)
	got, _ := p.download(losses)
	for i, t := range targets {
		if t < 0 && got[i] != 0 {
			p.t.Errorf("losses[%d] = %v for an ignored row, want 0", i, got[i])
		}
	}
	scale := 1.0 / 7 // the mean over counted rows
	for _, pre := range prefills {
		dlogits := p.grad(n*v, pre)
		before, _ := p.download(dlogits)
		p.both(func(b backend.Backend, at side) {
			b.CrossEntropyBackward(at(dlogits), at(logits), targets, scale, n, v)
		})
		p.check("dlogits "+pre, dlogits)
		after, _ := p.download(dlogits)
		for i, t := range targets {
			if t < 0 {
				p.checkExact(fmt.Sprintf("dlogits %s of ignored row %d", pre, i), after[i*v:(i+1)*v], before[i*v:(i+1)*v])
			}
		}
	}
}
