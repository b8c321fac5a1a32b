package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the definition: c[i,j] = alpha·s + beta·c[i,j] with s = Σ_p op(a)[i,p]·op(b)[p,j]
// summed sequentially from zero in order of p, c not read when beta == 0.
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
				s += ai * bj
			}
			if beta == 0 {
				c[i*n+j] = alpha * s
			} else {
				c[i*n+j] = alpha*s + beta*c[i*n+j]
			}
		}
	}
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
