package cuda

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestBF16FromFloat64_CorrectlyRounded ensures the float64 → bf16 conversion rounds once, to
// nearest even, checked against exact arithmetic, including the cases where going through a
// float32 rounded to nearest would round twice.
func TestBF16FromFloat64_CorrectlyRounded(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	check := func(x float64) {
		got := bf16FromFloat64(x)
		want := exactBF16(x)
		if got != want {
			t.Fatalf("bf16(%v) = %#04x, want %#04x", x, got, want)
		}
	}
	for range 100000 {
		check(rnd.NormFloat64() * math.Ldexp(1, rnd.IntN(60)-30))
	}
	// Just above a bf16 midpoint by less than float32's half-ulp: float32 rounds onto the midpoint
	// and a second rounding to even would go down.
	mid := float64(bf16ToFloat32(0x3f80)) + math.Ldexp(1, -8) // 1 + half a bf16 ulp
	check(mid + math.Ldexp(1, -30))
	check(mid - math.Ldexp(1, -30))
	check(mid)
	for _, x := range []float64{0, math.Copysign(0, -1), 1e-40, -3e38, 3.4e38, math.Inf(1), math.Inf(-1)} {
		check(x)
	}
	if h := bf16FromFloat64(math.NaN()); !math.IsNaN(float64(bf16ToFloat32(h))) {
		t.Errorf("NaN became %#04x", h)
	}
}

// exactBF16 rounds x to bf16 with big.Float's exact rounding to nearest even (8 significant bits),
// then encodes it.
func exactBF16(x float64) uint16 {
	if math.IsInf(x, 0) || x == 0 {
		return float32ToBF16(float32(x))
	}
	f := new(big.Float).SetPrec(8).SetMode(big.ToNearestEven)
	f.Set(new(big.Float).SetFloat64(x))
	v, _ := f.Float64()
	if math.Abs(v) > float64(bf16ToFloat32(0x7f7f)) { // beyond the largest bf16: infinity
		return float32ToBF16(float32(math.Copysign(math.Inf(1), v)))
	}
	if math.Abs(x) < math.Ldexp(1, -126) { // subnormal in bf16: fewer bits, round in float32's way
		return float32ToBF16(float32(x))
	}
	return float32ToBF16(float32(v))
}

// TestEncodeDecode_RoundTrips ensures values that a storage type holds survive encode and decode
// exactly.
func TestEncodeDecode_RoundTrips(t *testing.T) {
	x := []float64{0, 1, -2.5, 1e-3, 3.140625, -65504, 1e30}
	for _, d := range []dtype{dtF32, dtBF16} {
		v := make([]float64, len(x))
		for i := range x {
			v[i] = float64(float32(x[i]))
			if d == dtBF16 {
				v[i] = float64(bf16ToFloat32(bf16FromFloat64(x[i])))
			}
		}
		raw := make([]byte, int64(len(v))*d.size())
		encodeFloats(raw, v, d)
		back := make([]float64, len(v))
		decodeFloats(back, raw, d)
		for i := range v {
			if back[i] != v[i] {
				t.Errorf("%s: %v came back as %v", d, v[i], back[i])
			}
		}
	}
}
