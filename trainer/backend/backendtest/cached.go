package backendtest

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// testAttentionCached: generation's attention against the reference, and against the rows of a
// full Attention over the same sequence (the new rows' queries last, the caches as keys and values).
func testAttentionCached(p *pair) {
	cases := []struct{ past, m, heads, kvHeads, hd, window int }{
		{0, 6, 4, 2, 8, 0}, // a prompt
		{5, 1, 4, 2, 8, 0}, // one new token
		{7, 3, 6, 3, 5, 4}, // a window shorter than the text
		{9, 1, 2, 1, 16, 3},
	}
	for _, c := range cases {
		name := fmt.Sprintf("past %d m %d heads %d/%d hd %d window %d", c.past, c.m, c.heads, c.kvHeads, c.hd, c.window)
		rows := c.past + c.m
		qd, kvd := c.heads*c.hd, c.kvHeads*c.hd
		full := p.random(rows*qd, 1)
		kc, vc := p.random(rows*kvd, 1), p.random(rows*kvd, 1)
		out := p.zeros(c.m * qd)
		p.both(func(b backend.Backend, at side) {
			q := b.View(at(full), c.past*qd, c.m*qd)
			b.AttentionCached(at(out), q, at(kc), at(vc), c.past, c.m, c.heads, c.kvHeads, c.hd, c.window)
		})
		p.check(name+" out", out)

		outFull, lse := p.zeros(rows*qd), p.zeros(rows*c.heads)
		p.got.Attention(outFull.got, lse.got, full.got, kc.got, vc.got, nil, 1, rows, c.heads, c.kvHeads, c.hd, c.window)
		whole := make([]float64, rows*qd)
		p.got.Download(whole, outFull.got)
		cached, _ := p.download(out)
		if err := relError(cached, whole[c.past*qd:]); err > p.tol {
			p.t.Errorf("%s: differs from the last rows of Attention by %.2e", name, err)
		}
	}
}
