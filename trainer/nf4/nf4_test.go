package nf4

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

func normalWeight(rng *rand.Rand, n int, std float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * std)
	}
	return w
}

// maxHalfGap is half the widest gap between neighbouring NF4 codes: no value
// in [-1, 1] is farther than that from its nearest code.
func maxHalfGap() float32 {
	var g float32
	for k := 0; k+1 < 16; k++ {
		g = max(g, nf4Code[k+1]-nf4Code[k])
	}
	return g / 2
}

// TestNF4Index_CountsThresholdsBelow ensures the tree returns the number of
// thresholds strictly below x (so a value on a threshold gets the lower
// code) for every threshold, its float32 neighbours and random values.
func TestNF4Index_CountsThresholdsBelow(t *testing.T) {
	var xs []float32
	for _, th := range nf4Threshold[:15] {
		xs = append(xs, th, math.Nextafter32(th, 2), math.Nextafter32(th, -2))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		xs = append(xs, float32(rng.Float64()*2.2-1.1))
	}
	for _, x := range xs {
		want := 0
		for _, th := range nf4Threshold[:15] {
			if x > th {
				want++
			}
		}
		if got := nf4Index(x); int(got) != want {
			t.Fatalf("nf4Index(%v) = %d, want %d", x, got, want)
		}
	}
	if got := nf4Index(float32(math.NaN())); got != 0 {
		t.Errorf("nf4Index(NaN) = %d, want 0", got)
	}
}

// TestNF4IndexFinite_MatchesTree ensures the table lookup used for speed
// gives the tree's code for every finite float32: all of them with
// NF4_EXHAUSTIVE=1 (about 20 s), otherwise a stride through all bit patterns
// plus every float within 2^16 ulps of each threshold and 2^8 of each table
// range boundary.
func TestNF4IndexFinite_MatchesTree(t *testing.T) {
	check := func(bits uint32) {
		x := math.Float32frombits(bits)
		if x == x && !math.IsInf(float64(x), 0) && nf4IndexFinite(x) != nf4Index(x) {
			t.Fatalf("x=%v (%#08x): table %d, tree %d", x, bits, nf4IndexFinite(x), nf4Index(x))
		}
	}
	stride := uint64(4099)
	if os.Getenv("NF4_EXHAUSTIVE") == "1" {
		stride = 1
	}
	for b := uint64(0); b < 1<<32; b += stride {
		check(uint32(b))
	}
	around := func(c, width uint32) {
		for d := uint32(0); d < width; d++ {
			check(c + d)
			check(c - d)
		}
	}
	for _, th := range nf4Threshold[:15] {
		around(math.Float32bits(th), 1<<16)
	}
	for r := uint32(0); r < 4096; r++ {
		around(r<<20, 1<<8)
	}
}

// TestNF4Index_IsNearestCode ensures that away from exact ties the code is
// the nearest NF4 value.
func TestNF4Index_IsNearestCode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		x := float32(rng.Float64()*2 - 1)
		got := nf4Code[nf4Index(x)]
		for _, c := range nf4Code {
			if d, dg := abs32(x-c), abs32(x-got); d < dg-1e-6 {
				t.Fatalf("x=%v coded as %v, but %v is nearer", x, got, c)
			}
		}
	}
}

// TestThresholds_AreTheCompiledLiterals ensures the four thresholds whose
// float64 midpoints are float32 ties hold the value C reads from the
// literal (the nearer float32 to the printed decimal), not the twice-rounded
// midpoint.
func TestThresholds_AreTheCompiledLiterals(t *testing.T) {
	want := map[int]uint32{0: 0xbf591cd9, 8: 0x3df64863, 12: 0x3f006d03, 14: 0x3f5c89d9}
	for k, bits := range want {
		if got := math.Float32bits(nf4Threshold[k]); got != bits {
			t.Errorf("threshold %d = %#08x, want %#08x", k, got, bits)
		}
		twice := float32((float64(nf4Code[k]) + float64(nf4Code[k+1])) / 2)
		if twice == nf4Threshold[k] {
			t.Errorf("threshold %d: expected the twice-rounded midpoint to differ", k)
		}
	}
}

// TestRoundTrip_ErrorBound ensures every dequantized element is within half
// the widest NF4 gap (times its block's scale) of the original.
func TestRoundTrip_ErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	half := maxHalfGap()
	for _, bs := range []int{32, 64, 256, 4096} {
		w := normalWeight(rng, 3*4099, 0.02)
		w[17] = 0.9 // an outlier
		q, err := Quantize(w, []int{3, 4099}, bs, false)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(w))
		q.Dequantize(got)
		for i := range w {
			bound := q.Absmax[i/bs] * (half + 1e-6)
			if d := abs32(w[i] - got[i]); d > bound {
				t.Fatalf("blocksize %d element %d: |%v - %v| = %v > %v", bs, i, w[i], got[i], d, bound)
			}
		}
	}
}

// TestDoubleQuant_ErrorBound ensures decoded scales are within half the
// widest dynamic-map gap (times the nested scale) of the true scales, and
// the weight error within the NF4 bound plus that scale error.
func TestDoubleQuant_ErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	w := normalWeight(rng, 300*128, 0.02)
	for i := 0; i < len(w); i += 997 {
		w[i] *= 30
	}
	plain, err := Quantize(w, []int{300, 128}, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Quantize(w, []int{300, 128}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	var gap float32
	for i := 0; i+1 < 256; i++ {
		gap = max(gap, dynamicMap[i+1]-dynamicMap[i])
	}
	dec := q.BlockAbsmax()
	for b, a := range plain.Absmax {
		bound := q.Double.NestedAbsmax[b/NestedBlocksize]*(gap/2+1e-6) + 1e-7
		if d := abs32(a - dec[b]); d > bound {
			t.Fatalf("block %d: scale %v decoded as %v, error %v > %v", b, a, dec[b], d, bound)
		}
	}
	got := make([]float32, len(w))
	q.Dequantize(got)
	half := maxHalfGap()
	for i := range w {
		b := i / 64
		bound := plain.Absmax[b]*(half+1e-6) + abs32(plain.Absmax[b]-dec[b])
		if d := abs32(w[i] - got[i]); d > bound {
			t.Fatalf("element %d: error %v > %v", i, d, bound)
		}
	}
}

// TestDynamicMap_Properties ensures the map has bitsandbytes' shape: sorted,
// symmetric but for the extra 1.0, code[127] = 0, code[255] = 1, min
// -0.99296875, and the last bits torch produces on x86-64.
func TestDynamicMap_Properties(t *testing.T) {
	m := DynamicMap()
	if m[127] != 0 || m[255] != 1 || m[0] != float32(-0.99296875) {
		t.Errorf("code[127]=%v code[255]=%v code[0]=%v", m[127], m[255], m[0])
	}
	for i := 0; i+1 < 256; i++ {
		if !(m[i] < m[i+1]) {
			t.Fatalf("map not strictly increasing at %d: %v, %v", i, m[i], m[i+1])
		}
	}
	for i := 0; i < 127; i++ {
		if m[i] != -m[254-i] {
			t.Fatalf("map not symmetric: code[%d]=%v, code[%d]=%v", i, m[i], 254-i, m[254-i])
		}
	}
	// Entries whose last bit depends on how linspace rounds, as bitsandbytes
	// on x86-64 stores them in nested_quant_map.
	spot := map[int]float32{18: -0.7398437261581421, 20: -0.7117187976837158, 64: -0.09859374910593033, 65: -0.09578125923871994}
	for i, v := range spot {
		if m[i] != v {
			t.Errorf("code[%d] = %.17g, want %.17g", i, m[i], v)
		}
	}
}

// TestPacking_RoundTrip ensures codes land in the right nibbles (first
// element high), an odd tail leaves a zero low nibble, and weights made of
// code values come back exactly.
func TestPacking_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 2, 63, 64, 65, 127, 129, 1000, 1001} {
		codes := make([]uint8, n)
		w := make([]float32, n)
		for i := range w {
			codes[i] = uint8(rng.IntN(16))
			if i%64 == 0 {
				codes[i] = 15 // scale 1 in every block
			}
			w[i] = nf4Code[codes[i]]
		}
		q, err := Quantize(w, []int{n}, 64, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range codes {
			if got := nibble(q.Packed, i); got != c {
				t.Fatalf("n=%d: element %d has code %d, want %d", n, i, got, c)
			}
		}
		if n%2 == 1 && q.Packed[n/2]&15 != 0 {
			t.Errorf("n=%d: pad nibble %d, want 0", n, q.Packed[n/2]&15)
		}
		got := make([]float32, n)
		q.Dequantize(got)
		sameBits(t, "dequantized codes", got, w)
	}
}

// TestDequantizeRange_MatchesDequantize ensures any sub-range, odd starts
// and block crossings included, equals the same slice of the full result.
func TestDequantizeRange_MatchesDequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	w := normalWeight(rng, 70*71, 1)
	for _, double := range []bool{false, true} {
		q, err := Quantize(w, []int{70, 71}, 32, double)
		if err != nil {
			t.Fatal(err)
		}
		full := make([]float32, len(w))
		q.Dequantize(full)
		for range 300 {
			start := rng.IntN(len(w))
			n := rng.IntN(len(w) - start + 1)
			part := make([]float32, n)
			q.DequantizeRange(part, start)
			sameBits(t, "range", part, full[start:start+n])
		}
	}
}

// TestQuantize_InvalidBlocksize ensures sizes bitsandbytes rejects are
// errors wrapping ErrBlocksize.
func TestQuantize_InvalidBlocksize(t *testing.T) {
	w := make([]float32, 128)
	for _, bs := range []int{-64, 0, 1, 16, 48, 96, 8192} {
		_, err := Quantize(w, []int{2, 64}, bs, false)
		if !errors.Is(err, ErrBlocksize) {
			t.Errorf("blocksize %d: err = %v, want ErrBlocksize", bs, err)
		}
	}
	for _, bs := range []int{32, 64, 128, 256, 512, 1024, 2048, 4096} {
		if _, err := Quantize(w, []int{2, 64}, bs, true); err != nil {
			t.Errorf("blocksize %d: %v", bs, err)
		}
	}
}

// TestQuantize_NonFinite ensures NaN and infinities are errors naming the
// element.
func TestQuantize_NonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		w := make([]float32, 200)
		w[131] = bad
		_, err := Quantize(w, []int{200}, 64, false)
		if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "element 131") {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}

// TestQuantize_ShapeMismatchPanics ensures a shape that does not describe
// the slice is treated as the programming error it is.
func TestQuantize_ShapeMismatchPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "nf4.Quantize") {
			t.Errorf("recover() = %v, want a named panic", r)
		}
	}()
	_, _ = Quantize(make([]float32, 10), []int{3, 4}, 64, false)
}

// TestQuantize_Empty ensures an empty weight quantizes to empty slices.
func TestQuantize_Empty(t *testing.T) {
	q, err := Quantize(nil, []int{0, 16}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Packed) != 0 || len(q.Double.Codes) != 0 || q.Double.Offset != 0 || q.Validate() != nil {
		t.Errorf("empty weight gave %+v, %+v, validate %v", q, q.Double, q.Validate())
	}
}

// TestValidate_Inconsistent ensures each kind of inconsistency is caught.
func TestValidate_Inconsistent(t *testing.T) {
	fresh := func(double bool) *Quantized {
		q, err := Quantize(make([]float32, 600), []int{6, 100}, 32, double)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	cases := map[string]func(q *Quantized){
		"blocksize":     func(q *Quantized) { q.Blocksize = 48 },
		"packed":        func(q *Quantized) { q.Packed = q.Packed[1:] },
		"absmax":        func(q *Quantized) { q.Absmax = q.Absmax[1:] },
		"shape":         func(q *Quantized) { q.Shape = []int{6, -100} },
		"both":          func(q *Quantized) { q.Double = fresh(true).Double },
		"codes":         func(q *Quantized) { q.Absmax = nil; q.Double = fresh(true).Double; q.Double.Codes = q.Double.Codes[1:] },
		"nested absmax": func(q *Quantized) { q.Absmax = nil; q.Double = fresh(true).Double; q.Double.NestedAbsmax = nil },
		"nested bs":     func(q *Quantized) { q.Absmax = nil; q.Double = fresh(true).Double; q.Double.Blocksize = 128 },
		"nested offset": func(q *Quantized) {
			q.Absmax = nil
			q.Double = fresh(true).Double
			q.Double.Offset = float32(math.NaN())
		},
		"absmax missing": func(q *Quantized) { q.Absmax = nil },
	}
	for name, spoil := range cases {
		q := fresh(false)
		if err := q.Validate(); err != nil {
			t.Fatalf("fresh weight: %v", err)
		}
		spoil(q)
		if err := q.Validate(); err == nil {
			t.Errorf("%s: Validate accepted an inconsistent weight", name)
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// dQuantizeKernel is bitsandbytes' dQuantize<0> ported line by line; the
// fast dynamicIndex must agree with it everywhere.
func dQuantizeKernel(code *[256]float32, x float32) uint8 {
	pivot, upperPivot, lowerPivot := 127, 255, 0
	lower, upper := float32(-1), float32(1)
	val := code[pivot]
	for i := 64; i > 0; i >>= 1 {
		if x > val {
			lowerPivot, lower = pivot, val
			pivot += i
		} else {
			upperPivot, upper = pivot, val
			pivot -= i
		}
		val = code[pivot]
	}
	if upperPivot == 255 {
		upper = code[upperPivot]
	}
	if lowerPivot == 0 {
		lower = code[lowerPivot]
	}
	if x > val {
		if x > (upper+val)*0.5 {
			return uint8(upperPivot)
		}
		return uint8(pivot)
	}
	if x < (lower+val)*0.5 {
		return uint8(lowerPivot)
	}
	return uint8(pivot)
}

// TestDynamicIndex_MatchesKernel ensures the simplified search decides as
// the kernel does on every entry, every midpoint and its neighbours, NaN,
// the ends and random values.
func TestDynamicIndex_MatchesKernel(t *testing.T) {
	xs := []float32{float32(math.NaN()), -1, 1, -1.0000001, 1.0000001, 0, float32(math.Copysign(0, -1)), -2, 2}
	for i := 0; i < 256; i++ {
		c := dynamicMap[i]
		xs = append(xs, c, math.Nextafter32(c, 2), math.Nextafter32(c, -2))
		if i < 255 {
			mid := (c + dynamicMap[i+1]) * 0.5
			xs = append(xs, mid, math.Nextafter32(mid, 2), math.Nextafter32(mid, -2))
		}
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 200000 {
		x := float32(rng.Float64()*2 - 1)
		xs = append(xs, x, x*1e-3, x*1e-6)
	}
	for _, x := range xs {
		if got, want := dynamicIndex(&dynamicMap, x), dQuantizeKernel(&dynamicMap, x); got != want {
			t.Fatalf("dynamicIndex(%v) = %d, kernel %d", x, got, want)
		}
	}
}
