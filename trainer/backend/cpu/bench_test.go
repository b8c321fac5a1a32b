package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Benchmarks report GFLOP/s: 2·M·Nc·K for Gemm; for attention, the multiply-adds over the visible
// (i, j) pairs, T(T+1)/2 per head: 2 dot products of HD forward (q·k, p·v), 5 backward.

func BenchmarkGemm(b *testing.B) {
	for _, s := range [][3]int{{256, 256, 256}, {256, 688, 256}, {256, 2048, 256}} {
		m, n, k := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("float32/%dx%dx%d", m, n, k), func(b *testing.B) { benchGemm[float32](b, m, n, k) })
		b.Run(fmt.Sprintf("float64/%dx%dx%d", m, n, k), func(b *testing.B) { benchGemm[float64](b, m, n, k) })
	}
}

func benchGemm[T Float](b *testing.B, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 2))
	bk := New[T]()
	var c, x, y backend.Tensor = &Tensor[T]{Data: make([]T, m*n)}, &Tensor[T]{Data: randSlice[T](r, m*k)}, &Tensor[T]{Data: randSlice[T](r, k*n)}
	bk.Gemm(c, x, y, false, true, m, n, k, 1, 0)
	b.ResetTimer()
	for b.Loop() {
		bk.Gemm(c, x, y, false, true, m, n, k, 1, 0)
	}
	b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkAttention(b *testing.B) {
	const bs, t, heads, kvHeads, hd = 1, 256, 8, 4, 32
	pairs := float64(bs * heads * t * (t + 1) / 2)
	b.Run("float32/forward", func(b *testing.B) { benchAttention[float32](b, false, 4*hd*pairs) })
	b.Run("float32/backward", func(b *testing.B) { benchAttention[float32](b, true, 10*hd*pairs) })
	b.Run("float64/forward", func(b *testing.B) { benchAttention[float64](b, false, 4*hd*pairs) })
	b.Run("float64/backward", func(b *testing.B) { benchAttention[float64](b, true, 10*hd*pairs) })
}

func benchAttention[T Float](b *testing.B, backward bool, flops float64) {
	const bs, t, heads, kvHeads, hd = 1, 256, 8, 4, 32
	r := rand.New(rand.NewPCG(1, 2))
	bk := New[T]()
	tensor := func(n int) *Tensor[T] { return &Tensor[T]{Data: randSlice[T](r, n)} }
	qn, kn := bs*t*heads*hd, bs*t*kvHeads*hd
	q, k, v, out, lse := tensor(qn), tensor(kn), tensor(kn), tensor(qn), tensor(bs*heads*t)
	dq, dk, dv, dout := tensor(qn), tensor(kn), tensor(kn), tensor(qn)
	bk.Attention(out, lse, q, k, v, nil, bs, t, heads, kvHeads, hd, 0)
	for b.Loop() {
		if backward {
			bk.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, nil, bs, t, heads, kvHeads, hd, 0)
		} else {
			bk.Attention(out, lse, q, k, v, nil, bs, t, heads, kvHeads, hd, 0)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
