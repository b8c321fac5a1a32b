//go:build cuda || cudaemu

package cuda_test

import (
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestDequantize_Exact ensures every dequantized weight is nf4's float32 value rounded once to the
// output's type, bit for bit: through the 8-a-thread path (aligned bf16), through the one-by-one
// path (a view at an odd offset, float32 out), and across the odd tail, with and without double
// quantization and for block sizes 64 and 256.
func TestDequantize_Exact(t *testing.T) {
	bk := cuda.New()
	out, in := 37, 95 // 3,515 weights: a partial last block and a tail past the last group of 8
	rnd := rand.New(rand.NewPCG(11, 12))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(0.02 * rnd.NormFloat64())
	}
	for _, blocksize := range []int{64, 256} {
		for _, double := range []bool{false, true} {
			q, err := nf4.Quantize(w, []int{out, in}, blocksize, double)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(w))
			q.Dequantize(want)
			qw := bk.LoadNF4(q)
			for _, c := range []struct {
				name string
				dst  backend.Tensor
				bf16 bool
			}{
				{"bf16 aligned", bk.New(len(w)), true},
				{"bf16 at offset 3", bk.View(bk.New(len(w)+3), 3, len(w)), true},
				{"float32", bk.NewFP32(len(w)), false},
			} {
				bk.Dequantize(c.dst, qw)
				got := make([]float64, len(w))
				bk.Download(got, c.dst)
				for i, x := range want {
					if c.bf16 {
						x = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(x))
					}
					if got[i] != float64(x) {
						t.Fatalf("blocksize %d, double %v, %s: weight %d = %v, want %v", blocksize, double, c.name, i, got[i], x)
					}
				}
			}
		}
	}
}
