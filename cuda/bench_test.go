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

// BenchmarkDequantize_MLP8B decodes one MLP weight of Llama 3 8B (14336×4096, double-quantized);
// bytes/s counts the codes read and the bf16 weight written.
func BenchmarkDequantize_MLP8B(b *testing.B) {
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
	bk := cuda.New()
	qw, dst := bk.LoadNF4(q), bk.New(out*in)
	bk.Dequantize(dst, qw)
	wait(bk, dst)
	b.SetBytes(int64(out*in/2 + 2*out*in))
	b.ResetTimer()
	for range b.N {
		bk.Dequantize(dst, qw)
	}
	wait(bk, dst)
}
