//go:build cuda || cudaemu

package cuda_test

import (
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// Kernel benchmarks at Llama 3 8B's sizes, for a GPU (cuda/devcheck/run.sh kernels); under the
// emulator they would take hours. Each waits for the GPU before it stops the clock.

// wait waits for the work queued so far: a download waits for the stream.
func wait(bk backend.Backend, t backend.Tensor) {
	bk.Download(make([]float64, 1), bk.View(t, 0, 1))
}

// mlpWeight is one MLP weight of Llama 3 8B (14336×4096, random, double-quantized).
func mlpWeight(b *testing.B) *nf4.Quantized {
	out, in := 14336, 4096
	w := make([]float32, out*in)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range w {
		w[i] = float32(0.02 * rnd.NormFloat64())
	}
	q, err := nf4.Quantize(w, []int{out, in}, 64, true)
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// BenchmarkDequantize_MLP8B decodes one MLP weight of Llama 3 8B (14336×4096, double-quantized);
// bytes/s counts the codes read and the bf16 weight written.
func BenchmarkDequantize_MLP8B(b *testing.B) {
	q := mlpWeight(b)
	n := q.Len()
	bk := cuda.New()
	qw, dst := bk.LoadNF4(q), bk.New(n)
	bk.Dequantize(dst, qw)
	wait(bk, dst)
	b.SetBytes(int64(n/2 + 2*n))
	b.ResetTimer()
	for range b.N {
		bk.Dequantize(dst, qw)
	}
	wait(bk, dst)
}

// BenchmarkNF4Gemm_8B times Llama 3 8B's MLP up projection (4096→14336, NF4) at 2048 tokens as the
// model runs it, Dequantize then Gemm, on both paths (QLORA_CUDA_NF4_GEMM): dequantize (the bf16
// weight written, then cuBLAS) and fused (nf4_gemm); forward y = x·Wᵀ and backward dx += dy·W.
// TFLOP/s counts the GEMM's 2·M·N·K.
func BenchmarkNF4Gemm_8B(b *testing.B) {
	const tokens, out, in = 2048, 14336, 4096
	q := mlpWeight(b)
	for _, path := range []string{"dequantize", "fused"} {
		b.Setenv("QLORA_CUDA_NF4_GEMM", path)
		bk := cuda.New()
		qw, w := bk.LoadNF4(q), bk.New(out*in)
		x, y, dy, dx := bk.New(tokens*in), bk.New(tokens*out), bk.New(tokens*out), bk.New(tokens*in)
		bk.Upload(x, randomValues(tokens*in, 3))
		bk.Upload(dy, randomValues(tokens*out, 4))
		for _, pass := range []struct {
			name string
			run  func()
		}{
			{"forward", func() { bk.Gemm(y, x, w, false, true, tokens, out, in, 1, 0) }},
			{"backward_dx", func() { bk.Gemm(dx, dy, w, false, false, tokens, in, out, 1, 1) }},
		} {
			b.Run(path+"/"+pass.name, func(b *testing.B) {
				bk.Dequantize(w, qw)
				pass.run()
				wait(bk, y)
				b.ResetTimer()
				for range b.N {
					bk.Dequantize(w, qw)
					pass.run()
				}
				wait(bk, y)
				b.ReportMetric(2*tokens*out*in*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
			})
		}
	}
}
