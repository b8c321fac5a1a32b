//go:build cuda || cudaemu

package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// BenchmarkAttention_8B times causal attention at Llama 3 8B's shape (one sequence of 2048 tokens,
// 32 heads over 8 kv heads of 128) on the tensor-core kernels and on the plain ones they replace,
// forward and backward, in TFLOP/s of the causal half of the products (4·T²·HD·NH/2 forward,
// 2.5 times that backward). For a GPU (cuda/devcheck/run.sh kernels).
func BenchmarkAttention_8B(b *testing.B) {
	const t, heads, kvHeads, hd = 2048, 32, 8, 128
	bk := New().(*Backend)
	rnd := rand.New(rand.NewPCG(5, 6))
	random := func(n int) backend.Tensor {
		x := make([]float64, n)
		for i := range x {
			x[i] = rnd.NormFloat64()
		}
		ts := bk.New(n)
		bk.Upload(ts, x)
		return ts
	}
	q, k, v, dout := random(t*heads*hd), random(t*kvHeads*hd), random(t*kvHeads*hd), random(t*heads*hd)
	out, lse := bk.New(t*heads*hd), bk.NewFP32(heads*t)
	dq, dk, dv := bk.New(t*heads*hd), bk.New(t*kvHeads*hd), bk.New(t*kvHeads*hd)
	bk.Attention(out, lse, q, k, v, nil, 1, t, heads, kvHeads, hd, 0)
	flops := 4.0 * t * t * hd * heads / 2

	a := bk.attentionArgs("bench", q, k, v, lse, nil, 1, t, heads, kvHeads, hd, 0)
	ot, dot := out.(*Tensor), dout.(*Tensor)
	plainForward := func() {
		bk.dev.do(func() {
			bk.dev.drv.launch(kAttention, a.grid, attentionBlock, argv(ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, hd, 0, a.scale))
		})
	}
	plainBackward := func() {
		kvGrid := [3]uint32{a.grid[0], kvHeads, 1}
		bk.dev.do(func() {
			bk.dev.drv.launch(kAttentionDQ, a.grid, attentionBlock,
				argv(dq.(*Tensor), dot, ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, hd, 0, a.scale))
			bk.dev.drv.launch(kAttentionDKDV, kvGrid, attentionBlock,
				argv(dk.(*Tensor), dv.(*Tensor), dot, ot, a.lse, a.q, a.k, a.v, a.segments, t, heads, kvHeads, hd, 0, a.scale))
		})
	}
	cases := []struct {
		name  string
		run   func()
		flops float64
	}{
		{"flash/forward", func() { bk.Attention(out, lse, q, k, v, nil, 1, t, heads, kvHeads, hd, 0) }, flops},
		{"flash/backward", func() { bk.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, nil, 1, t, heads, kvHeads, hd, 0) }, 2.5 * flops},
		{"plain/forward", plainForward, flops},
		{"plain/backward", plainBackward, 2.5 * flops},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.run()
			bk.Download(make([]float64, 1), bk.View(out, 0, 1))
			b.ResetTimer()
			for range b.N {
				c.run()
			}
			bk.Download(make([]float64, 1), bk.View(out, 0, 1)) // waits for the stream
			b.ReportMetric(c.flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}
