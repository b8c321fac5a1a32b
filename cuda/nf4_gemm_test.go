//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// backends returns a backend on the default path (Dequantize, then cuBLAS) and one with NF4 fused
// into the GEMM.
func backends(t *testing.T) (plain, fused *cuda.Backend) {
	t.Helper()
	t.Setenv("QLORA_CUDA_NF4_GEMM", "")
	plain = cuda.New().(*cuda.Backend)
	t.Setenv("QLORA_CUDA_NF4_GEMM", "fused")
	fused = cuda.New().(*cuda.Backend)
	return plain, fused
}

func randomWeight(t *testing.T, out, in, blocksize int, double bool, seed uint64) *nf4.Quantized {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(0.05 * rnd.NormFloat64())
	}
	q, err := nf4.Quantize(w, []int{out, in}, blocksize, double)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func randomValues(n int, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, n)
	for i := range v {
		v[i] = rnd.NormFloat64()
	}
	return v
}

// kernelsRun returns the names of the kernels f launches on bk.
func kernelsRun(bk *cuda.Backend, f func()) []string {
	bk.StartProfile()
	f()
	var names []string
	for _, k := range bk.StopProfile() {
		names = append(names, k.Name)
	}
	return names
}

// gemmCase is one fused GEMM: c (m,n) = alpha·a·op(W) + beta·c.
type gemmCase struct {
	m, n, k   int
	transB    bool
	beta      float64
	fp32C     bool
	double    bool
	blocksize int
}

func (c gemmCase) String() string {
	return fmt.Sprintf("m%d n%d k%d transB %v beta %v fp32 c %v double %v blocksize %d", c.m, c.n, c.k, c.transB, c.beta, c.fp32C, c.double, c.blocksize)
}

// runGemm dequantizes W and multiplies on bk, returning c.
func runGemm(t *testing.T, bk *cuda.Backend, c gemmCase, q *nf4.Quantized, a, c0 []float64) []float64 {
	t.Helper()
	at, ct, wt := bk.New(c.m*c.k), bk.New(c.m*c.n), bk.New(c.n*c.k)
	if c.fp32C {
		ct = bk.NewFP32(c.m * c.n)
	}
	bk.Upload(at, a)
	bk.Upload(ct, c0)
	bk.Dequantize(wt, bk.LoadNF4(q))
	bk.Gemm(ct, at, wt, false, c.transB, c.m, c.n, c.k, 0.75, c.beta)
	got := make([]float64, c.m*c.n)
	bk.Download(got, ct)
	return got
}

// TestNF4Gemm_MatchesDequantize ensures the fused GEMM gives what Dequantize and cuBLAS give, within
// bf16 rounding, for both layouts the model uses (forward y = x·Wᵀ, backward dx += dy·W), beta 0
// and 1, bf16 and fp32 c, plain and double-quantized scales, and shapes that leave partial tiles
// in every direction: one with every length odd (the one-by-one edges), one of several tiles with
// K or N a multiple of 8 (the 8-at-a-time paths).
func TestNF4Gemm_MatchesDequantize(t *testing.T) {
	plain, fused := backends(t)
	worst := 0.0
	for _, shape := range [][3]int{{37, 70, 95}, {150, 200, 264}} {
		for _, transB := range []bool{true, false} {
			for _, beta := range []float64{0, 1} {
				for _, fp32C := range []bool{false, true} {
					for _, double := range []bool{true, false} {
						c := gemmCase{m: shape[0], n: shape[1], k: shape[2], transB: transB, beta: beta, fp32C: fp32C, double: double, blocksize: 64}
						if !double {
							c.blocksize = 32
						}
						out, in := c.n, c.k
						if !transB {
							out, in = c.k, c.n
						}
						q := randomWeight(t, out, in, c.blocksize, double, uint64(out*in))
						a, c0 := randomValues(c.m*c.k, 5), randomValues(c.m*c.n, 6)
						want := runGemm(t, plain, c, q, a, c0)
						var got []float64
						ran := kernelsRun(fused, func() { got = runGemm(t, fused, c, q, a, c0) })
						if !slices.Contains(ran, "nf4_gemm") || slices.Contains(ran, "nf4_dequantize") {
							t.Fatalf("%v: the fused backend ran %v, want nf4_gemm and no nf4_dequantize", c, ran)
						}
						e := relErr64(got, want)
						worst = max(worst, e)
						if !(e <= 1e-2) {
							t.Errorf("%v: ‖fused − dequantized‖/‖dequantized‖ = %.3g", c, e)
						}
					}
				}
			}
		}
	}
	t.Logf("largest relative error of the fused GEMM: %.3g", worst)
}

// TestNF4Gemm_PendingNeverObserved ensures that a weight Dequantize leaves pending for the fused
// GEMM reads as the written weight through every other use: Download, Copy, Add, a Gemm taking it
// as a, an op through a view, after a fused Gemm took it, under a smaller weight dequantized over
// its start (the rest still the first weight), and beside one dequantized over its second half
// after the first half was read.
func TestNF4Gemm_PendingNeverObserved(t *testing.T) {
	plain, fused := backends(t)
	const out, in, rows = 40, 72, 9
	big, small := randomWeight(t, out, in, 64, true, 1), randomWeight(t, out/2, in, 64, false, 2)
	x := randomValues(rows*in, 3)
	uses := []struct {
		name string
		use  func(bk *cuda.Backend, w backend.Tensor) backend.Tensor
	}{
		{"Download", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor { return w }},
		{"Copy", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			dst := bk.NewFP32(out * in)
			bk.Copy(dst, w)
			return dst
		}},
		{"Add", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			sum := bk.New(out * in)
			bk.Add(sum, w, w)
			return sum
		}},
		{"Gemm with the weight as a", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			xt, y := bk.New(rows*in), bk.NewFP32(out*rows)
			bk.Upload(xt, x)
			bk.Gemm(y, w, xt, false, true, out, rows, in, 1, 0)
			return y
		}},
		{"Copy from a view", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			dst := bk.New(in)
			bk.Copy(dst, bk.View(w, 3*in, in))
			return dst
		}},
		{"Download after a fused Gemm", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			xt, y := bk.New(rows*in), bk.New(rows*out)
			bk.Upload(xt, x)
			bk.Gemm(y, xt, w, false, true, rows, out, in, 1, 0)
			return w
		}},
		{"a smaller weight over its start", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			bk.Dequantize(bk.View(w, 0, out/2*in), bk.LoadNF4(small))
			return w
		}},
		{"a weight beside it, one of them read", func(bk *cuda.Backend, w backend.Tensor) backend.Tensor {
			bk.Dequantize(bk.View(w, out/2*in, out/2*in), bk.LoadNF4(small))
			bk.Copy(bk.New(in), bk.View(w, in, in))
			return w
		}},
	}
	for _, u := range uses {
		var results [2][]float64
		for i, bk := range []*cuda.Backend{plain, fused} {
			w := bk.New(out * in)
			bk.Dequantize(w, bk.LoadNF4(big))
			r := u.use(bk, w)
			results[i] = make([]float64, r.Len())
			bk.Download(results[i], r)
		}
		if !slices.Equal(results[0], results[1]) {
			t.Errorf("%s: the fused backend gives other values than the plain one (relative difference %.3g)", u.name, relErr64(results[1], results[0]))
		}
	}
}

func relErr64(got, ref []float64) float64 {
	var diff, norm float64
	for i := range ref {
		diff += (got[i] - ref[i]) * (got[i] - ref[i])
		norm += ref[i] * ref[i]
	}
	return math.Sqrt(diff / norm)
}
