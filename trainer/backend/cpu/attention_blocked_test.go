package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttention_BlockedMatchesRows ensures that the blocked attention kernels compute what the
// row-by-row ones do, forward and backward, in float64 and float32, with grouped heads, windows,
// packed samples, head sizes above one panel and sequence lengths around the block sizes.
func TestAttention_BlockedMatchesRows(t *testing.T) {
	for _, tc := range []struct{ b, t, heads, kvHeads, hd, window int }{
		{1, 12, 2, 1, 8, 0}, {2, 13, 4, 2, 8, 0}, {1, 40, 4, 4, 16, 0}, {2, 45, 4, 2, 40, 9},
		{1, 100, 2, 1, 32, 33}, {1, 70, 8, 4, 64, 0},
	} {
		for _, packed := range []int{0, 1, 2} {
			name := fmt.Sprintf("%+v/packed=%v", tc, packed)
			t.Run(name+"/float64", func(t *testing.T) {
				testBlockedAttention[float64](t, tc.b, tc.t, tc.heads, tc.kvHeads, tc.hd, tc.window, packed, 1e-12)
			})
			t.Run(name+"/float32", func(t *testing.T) {
				testBlockedAttention[float32](t, tc.b, tc.t, tc.heads, tc.kvHeads, tc.hd, tc.window, packed, 1e-5)
			})
		}
	}
}

// packed: 0 one sample per sequence, 1 samples in runs of 7, 2 ids that come back (0,0,0,0,0,1,...,1,0,...).
func testBlockedAttention[T Float](t *testing.T, b, tt, heads, kvHeads, hd, window int, packed int, tol float64) {
	r := rand.New(rand.NewPCG(uint64(tt), uint64(hd)))
	rand := func(n int) []T { return randSlice[T](r, n) }
	qn, kn := b*tt*heads*hd, b*tt*kvHeads*hd
	q, k, v, dout := rand(qn), rand(kn), rand(kn), rand(qn)
	dq0, dk0, dv0 := rand(qn), rand(kn), rand(kn) // backward adds to them
	var segments []int32
	if packed > 0 {
		segments = make([]int32, b*tt)
		for i := range segments {
			segments[i] = int32(i % tt / 7)
			if packed == 2 {
				segments[i] = int32(i % tt / 5 % 2)
			}
		}
	}
	run := func(blockedFrom int) [][]T {
		defer func(v int) { attBlockedFrom = v }(attBlockedFrom)
		attBlockedFrom = blockedFrom
		bk := New[T]()
		ten := func(x []T) *Tensor[T] { return &Tensor[T]{Data: append([]T(nil), x...)} }
		out, lse := ten(make([]T, qn)), ten(make([]T, b*heads*tt))
		bk.Attention(out, lse, ten(q), ten(k), ten(v), segments, b, tt, heads, kvHeads, hd, window)
		dq, dk, dv := ten(dq0), ten(dk0), ten(dv0)
		bk.AttentionBackward(dq, dk, dv, ten(dout), out, lse, ten(q), ten(k), ten(v), segments, b, tt, heads, kvHeads, hd, window)
		return [][]T{out.Data, lse.Data, dq.Data, dk.Data, dv.Data}
	}
	rows := run(1 << 30)
	blocked := run(attBlock)
	for i, name := range []string{"out", "lse", "dq", "dk", "dv"} {
		var num, den float64
		for j := range rows[i] {
			d := float64(blocked[i][j] - rows[i][j])
			num += d * d
			den += float64(rows[i][j]) * float64(rows[i][j])
		}
		if rel := math.Sqrt(num / den); !(rel <= tol) {
			t.Errorf("%s: ‖blocked − rows‖/‖rows‖ = %.3g, want ≤ %g", name, rel, tol)
		}
	}
}
