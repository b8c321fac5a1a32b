package cpu

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// naiveGemm is the definition: c[i,j] = alpha·s + beta·c[i,j] with s = Σ_p op(a)[i,p]·op(b)[p,j]
// a chain of fused multiply-adds from zero in order of p, c not read when beta == 0.
func naiveGemm[T Float](c, a, b []T, transA, transB bool, m, n, k int, alpha, beta T) {
	for i := range m {
		for j := range n {
			var s T
			for p := range k {
				ai, bj := a[i*k+p], b[p*n+j]
				if transA {
					ai = a[p*m+i]
				}
				if transB {
					bj = b[j*k+p]
				}
				s = fma(ai, bj, s)
			}
			if beta == 0 {
				c[i*n+j] = alpha * s
			} else {
				c[i*n+j] = T(alpha*s) + T(beta*c[i*n+j])
			}
		}
	}
}

// fma is x·y + z rounded once, in T.
func fma[T Float](x, y, z T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(fma32(float32(x), float32(y), float32(z)))
	}
	return T(math.FMA(float64(x), float64(y), float64(z)))
}

func randSlice[T Float](r *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(r.NormFloat64())
	}
	return x
}

// TestGemm_MatchesSequentialSum ensures that Gemm is bit-identical to the naive sequential sum for
// every transpose combination, alpha and beta, on sizes that cross every blocking boundary; that
// beta == 0 does not read c (NaN there stays out of the result).
func TestGemm_MatchesSequentialSum(t *testing.T) {
	t.Run("float64", testGemmExact[float64])
	t.Run("float32", testGemmExact[float32])
}

func testGemmExact[T Float](t *testing.T) {
	if isaFor[T]() == isaGo { // the Go kernel keeps to the chain only under exactGo
		defer func(was bool) { exactGo = was }(exactGo)
		exactGo = true
	}
	r := rand.New(rand.NewPCG(1, 2))
	bk := New[T]()
	sizes := [][3]int{{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 5, 0}, {7, 13, 5}, {67, 261, 259}, {130, 5, 520}, {4, 600, 17}}
	for _, s := range sizes {
		m, n, k := s[0], s[1], s[2]
		for _, ab := range [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}} {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				a, b := randSlice[T](r, m*k), randSlice[T](r, k*n)
				c0 := randSlice[T](r, m*n)
				if ab[1] == 0 {
					for i := range c0 {
						c0[i] = T(math.NaN())
					}
				}
				want := append([]T(nil), c0...)
				naiveGemm(want, a, b, transA, transB, m, n, k, T(ab[0]), T(ab[1]))
				c := &Tensor[T]{Data: append([]T(nil), c0...)}
				bk.Gemm(c, &Tensor[T]{Data: a}, &Tensor[T]{Data: b}, transA, transB, m, n, k, ab[0], ab[1])
				for i := range want {
					if math.Float64bits(float64(c.Data[i])) != math.Float64bits(float64(want[i])) {
						t.Fatalf("m,n,k=%d,%d,%d transA=%v transB=%v alpha,beta=%v: c[%d] = %v, want %v", m, n, k, transA, transB, ab, i, c.Data[i], want[i])
					}
				}
			}
		}
	}
}

// TestFMA32_CorrectlyRounded ensures that fma32, the Go kernel's fused multiply-add, rounds x·y+z
// once, as the hardware does: checked against exact arithmetic on random operands and on sums
// built to fall halfway between two float32 values.
func TestFMA32_CorrectlyRounded(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	exact := func(x, y, z float32) float32 {
		p := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
		p.Add(p, big.NewFloat(float64(z)))
		f, _ := p.SetPrec(24).SetMode(big.ToNearestEven).Float32() // rounds once, to float32
		return f
	}
	check := func(x, y, z float32) {
		t.Helper()
		if got, want := fma32(x, y, z), exact(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
	for range 200000 {
		x, y, z := float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64()*math.Exp2(float64(r.IntN(60)-30)))
		check(x, y, z)
	}
	// (1+2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴ is a float32 midpoint: adding a small z must round away from
	// it by z's sign, which rounding the float64 sum again to float32 gets wrong when z is lost.
	for _, z := range []float32{0x1p-30, -0x1p-30, 0x1p-60, -0x1p-60, 1, -1} {
		check(1+0x1p-12, 1+0x1p-12, z) // 1 + 2⁻¹¹ + 2⁻²⁴: a float32 midpoint plus z
		check(1+0x1p-12, -(1 + 0x1p-12), z)
		check(1+0x1p-23, 1+0x1p-23, z)
	}
	for _, v := range [][3]float32{{0x1p-70, 0x1p-70, 0}, {0x1p-75, 0x1p-60, 0x1p-140}, {3e38, 2, -3e38}, {3e38, 3e38, 1}} {
		check(v[0], v[1], v[2])
	}
	if v := fma32(float32(math.Inf(1)), 0, 1); !math.IsNaN(float64(v)) {
		t.Errorf("fma32(Inf, 0, 1) = %v, want NaN", v)
	}
}

// TestGemm_KernelsAgree ensures that each assembly micro-kernel (with its packing and NF4
// decoding) and the Go kernel give the same bits, with b dense,
// transposed, and NF4 in both orientations, on sizes with partial micro-tiles.
func TestGemm_KernelsAgree(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly micro-kernel on this CPU: only the Go kernel runs")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{1, 1, 1}, {5, 40, 64}, {12, 32, 64}, {13, 33, 128}, {256, 688, 256}, {70, 130, 192}, {256, 16, 256}, {30, 70, 600}} {
		m, n, k := s[0], s[1], s[2]
		w := make([]float32, n*k)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		q, err := nf4.Quantize(w, []int{n, k}, 64, true)
		if err != nil {
			t.Fatal(err)
		}
		for tr := range 4 {
			transA, transB := tr&1 != 0, tr&2 != 0
			for _, weight := range []bool{false, true} {
				gemm := func() []float32 {
					bk := New[float32]()
					a := bk.New(m * k)
					bk.Upload(a, randSlice[float64](rand.New(rand.NewPCG(1, 1)), m*k))
					b := bk.New(k * n)
					if weight {
						bk.Dequantize(b, bk.LoadNF4(q))
					} else {
						bk.Upload(b, randSlice[float64](rand.New(rand.NewPCG(2, 2)), k*n))
					}
					c := bk.New(m * n)
					bk.Upload(c, randSlice[float64](rand.New(rand.NewPCG(3, 3)), m*n))
					bk.Gemm(c, a, b, transA, transB, m, n, k, 0.5, 1)
					return c.(*Tensor[float32]).Data
				}
				var want []float32
				withKernels(t, isaGo, true, func() { want = gemm() })
				for is := range kernels {
					var got []float32
					withKernels(t, is, false, func() { got = gemm() })
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m,n,k=%d,%d,%d transA=%v transB=%v nf4=%v: c[%d] = %v (%v), %v (Go)", m, n, k, transA, transB, weight, i, got[i], is, want[i])
						}
					}
				}
			}
		}
	}
}

// TestGemm_NF4FusedMatchesDequantized ensures that a Gemm whose b is a pending NF4 weight gives
// the same bits as one on the weight dequantized in full, in both orientations, in float32 and
// float64.
func TestGemm_NF4FusedMatchesDequantized(t *testing.T) {
	t.Run("float32", testNF4Fused[float32])
	t.Run("float64", testNF4Fused[float64])
}

func testNF4Fused[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	out, in, rows := 100, 192, 37
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.02)
	}
	q, err := nf4.Quantize(w, []int{out, in}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	dense := make([]float32, out*in)
	q.Dequantize(dense)
	bk := New[T]()
	wq := bk.LoadNF4(q)
	eager := &Tensor[T]{Data: make([]T, out*in)} // not the backend's memory: decoded at once
	for i, v := range dense {
		eager.Data[i] = T(v)
	}
	x, dy := &Tensor[T]{Data: randSlice[T](r, rows*in)}, &Tensor[T]{Data: randSlice[T](r, rows*out)}
	scratch := bk.New(out*in + 7)
	for _, transB := range []bool{true, false} {
		m, n, k, a := rows, out, in, x // y = x·Wᵀ
		if !transB {
			n, k, a = in, out, dy // dx = dy·W
		}
		want, got := &Tensor[T]{Data: make([]T, m*n)}, &Tensor[T]{Data: make([]T, m*n)}
		bk.Gemm(want, a, eager, false, transB, m, n, k, 1, 0)
		pending := bk.View(scratch, 7, out*in)
		bk.Dequantize(pending, wq)
		bk.Gemm(got, a, pending, false, transB, m, n, k, 1, 0)
		for i := range want.Data {
			if math.Float64bits(float64(got.Data[i])) != math.Float64bits(float64(want.Data[i])) {
				t.Fatalf("transB=%v: c[%d] = %v fused, %v dequantized", transB, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// TestDequantize_PendingIsNeverSeen ensures that a weight Dequantize leaves pending reads as if it
// had been written: through the tensor itself, its parent and an overlapping view; that a write
// through another view is what a later Gemm reads; and that a second Dequantize over the same
// elements replaces the first.
func TestDequantize_PendingIsNeverSeen(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const out, in = 8, 64
	weights := make([]*nf4.Quantized, 2)
	decoded := make([][]float64, 2)
	for i := range weights {
		w := make([]float32, out*in)
		for j := range w {
			w[j] = float32(r.NormFloat64())
		}
		q, err := nf4.Quantize(w, []int{out, in}, 64, false)
		if err != nil {
			t.Fatal(err)
		}
		weights[i] = q
		d := make([]float32, out*in)
		q.Dequantize(d)
		for _, v := range d {
			decoded[i] = append(decoded[i], float64(v))
		}
	}
	bk := New[float32]()
	parent := bk.New(3 * out * in)
	view := bk.View(parent, out*in, out*in)
	same := func(what string, got, want []float64) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	bk.Dequantize(view, bk.LoadNF4(weights[0]))
	all := make([]float64, 3*out*in)
	bk.Download(all, parent)
	same("parent", all[out*in:2*out*in], decoded[0])

	bk.Dequantize(view, bk.LoadNF4(weights[0]))
	bk.Dequantize(view, bk.LoadNF4(weights[1]))
	got := make([]float64, out*in)
	bk.Download(got, bk.View(parent, out*in, out*in))
	same("second Dequantize", got, decoded[1])

	// A smaller weight over the start of a pending one: the rest of the first stays as it was.
	small, err := nf4.Quantize(make([]float32, 2*in), []int{2, in}, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	bk.Dequantize(view, bk.LoadNF4(weights[0]))
	bk.Dequantize(bk.View(parent, out*in, 2*in), bk.LoadNF4(small))
	bk.Download(got, view)
	want0 := append(make([]float64, 2*in), decoded[0][2*in:]...)
	same("a smaller weight over a pending one", got, want0)

	bk.Dequantize(view, bk.LoadNF4(weights[0]))
	overlap := bk.View(parent, out*in+in, in) // row 1 of the weight
	ones := make([]float64, in)
	for i := range ones {
		ones[i] = 1
	}
	bk.Upload(overlap, ones) // decodes the weight, then overwrites row 1
	want := append([]float64(nil), decoded[0]...)
	copy(want[in:2*in], ones)
	x := bk.New(in)
	bk.Upload(x, ones)
	y := bk.New(out)
	bk.Gemm(y, x, view, false, true, 1, out, in, 1, 0) // y = W·1: row sums
	ys := make([]float64, out)
	bk.Download(ys, y)
	for o := range out {
		var s float32
		for _, v := range want[o*in : (o+1)*in] {
			s += float32(v)
		}
		if math.Abs(ys[o]-float64(s)) > 1e-4*math.Max(1, math.Abs(float64(s))) {
			t.Fatalf("row %d sum after a write through another view = %v, want %v", o, ys[o], s)
		}
	}
}

// TestView_SameTensorNoAllocs ensures that View hands out the same tensor for the same part and
// allocates nothing once it has.
func TestView_SameTensorNoAllocs(t *testing.T) {
	bk := New[float32]()
	p := bk.New(100)
	if bk.View(p, 10, 20) != bk.View(p, 10, 20) || bk.View(bk.View(p, 10, 20), 5, 5) != bk.View(p, 15, 5) {
		t.Fatal("views of the same part differ")
	}
	if allocs := testing.AllocsPerRun(100, func() { bk.View(p, 10, 20) }); allocs != 0 {
		t.Errorf("View allocates %v times once warm", allocs)
	}
}
