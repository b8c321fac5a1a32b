package backendtest

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// Gemm, the NF4 projection (Dequantize then Gemm), Add, AddBias and Embedding.

// gemmSizes cross the CPU backend's blocking boundaries and include the degenerate shapes.
var gemmSizes = [][3]int{ // m, n, k
	{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {1, 29, 64}, {50, 70, 300}, {65, 200, 9}, {5, 6, 0}, {0, 4, 3},
}

// testGemm: every transpose pair, beta 0 (with NaN in c, which must not be read) and beta ≠ 0.
func testGemm(p *pair) {
	for _, s := range gemmSizes {
		m, n, k := s[0], s[1], s[2]
		for tr := range 4 {
			transA, transB := tr&1 != 0, tr&2 != 0
			for _, ab := range [][2]float64{{1, 0}, {0.5, 1}, {-1.5, 0.25}} {
				name := fmt.Sprintf("m=%d n=%d k=%d transA=%v transB=%v alpha=%v beta=%v", m, n, k, transA, transB, ab[0], ab[1])
				a, b := p.random(m*k, 1), p.random(k*n, 1)
				c := p.random(m*n, 1)
				if ab[1] == 0 {
					c = p.upload(filled(m*n, math.NaN()))
				}
				p.both(func(bk backend.Backend, at side) {
					bk.Gemm(at(c), at(a), at(b), transA, transB, m, n, k, ab[0], ab[1])
				})
				p.check(name, c)
			}
		}
	}
}

func filled(n int, v float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = v
	}
	return x
}

// testAdd: out apart from, equal to a, equal to b, and equal to both.
func testAdd(p *pair) {
	n := 37
	a, b, out := p.random(n, 1), p.random(n, 1), p.zeros(n)
	p.both(func(bk backend.Backend, at side) { bk.Add(at(out), at(a), at(b)) })
	p.check("out = a + b", out)
	p.both(func(bk backend.Backend, at side) { bk.Add(at(a), at(a), at(b)) })
	p.check("a = a + b", a)
	p.both(func(bk backend.Backend, at side) { bk.Add(at(b), at(a), at(b)) })
	p.check("b = a + b", b)
	p.both(func(bk backend.Backend, at side) { bk.Add(at(a), at(a), at(a)) })
	p.check("a = a + a", a)
}

func testAddBias(p *pair) {
	n, c := 5, 13
	out, bias := p.random(n*c, 1), p.random(c, 1)
	p.both(func(bk backend.Backend, at side) { bk.AddBias(at(out), at(bias), n, c) })
	p.check("out", out)
}

// testEmbedding: rows are copied exactly, repeated ids included.
func testEmbedding(p *pair) {
	v, c := 11, 9
	ids := []int32{3, 0, 10, 3, 7, 7, 1}
	table, out := p.random(v*c, 1), p.random(len(ids)*c, 1)
	p.both(func(bk backend.Backend, at side) { bk.Embedding(at(out), at(table), ids, c) })
	got, ref := p.download(out)
	p.checkExact("out", got, ref)
}

// testNF4Linear: an NF4 weight dequantized into a view of a larger scratch and taken at once as a
// Gemm's b, as the model's projections do (forward x·Wᵀ, backward dy·W added to dx), which a
// backend may fuse into one product.
func testNF4Linear(p *pair) {
	for _, s := range [][3]int{{37, 70, 95}, {150, 200, 264}} { // rows, out, in
		rows, out, in := s[0], s[1], s[2]
		q, err := nf4.Quantize(float32s(p.values(out*in, 0.05)), []int{out, in}, 64, true)
		if err != nil {
			p.t.Fatal(err)
		}
		x, dy := p.random(rows*in, 1), p.random(rows*out, 1)
		y, dx := p.zeros(rows*out), p.random(rows*in, 1)
		p.both(func(b backend.Backend, at side) {
			w := b.LoadNF4(q)
			scratch := b.New(out*in + 5)
			wv := b.View(scratch, 5, out*in)
			b.Dequantize(wv, w)
			b.Gemm(at(y), at(x), wv, false, true, rows, out, in, 1, 0) // y = x·Wᵀ
			b.Dequantize(wv, w)
			b.Gemm(at(dx), at(dy), wv, false, false, rows, in, out, 1, 1) // dx += dy·W
		})
		name := fmt.Sprintf("rows=%d out=%d in=%d", rows, out, in)
		p.check(name+" y", y)
		p.check(name+" dx", dx)
	}
}

func float32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
