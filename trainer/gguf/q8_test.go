package gguf

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
)

// f16Values are the non-negative finite float16 values in increasing order, with their bits: the
// test's own float16 rounding searches them instead of manipulating bits.
var f16Values = func() (v []struct {
	x    float64
	bits uint16
}) {
	for bits := uint16(0); bits < 0x7c00; bits++ {
		exp, mant := int(bits>>10), float64(bits&0x3ff)
		x := math.Ldexp(mant, -24) // subnormal
		if exp > 0 {
			x = math.Ldexp(1024+mant, exp-25)
		}
		v = append(v, struct {
			x    float64
			bits uint16
		}{x, bits})
	}
	return v
}()

// referenceF16 rounds a non-negative value to the nearest float16, ties to the even bit pattern,
// past the largest finite value (and its half ulp) to infinity.
func referenceF16(x float32) uint16 {
	f := float64(x)
	i := sort.Search(len(f16Values), func(i int) bool { return f16Values[i].x >= f })
	if i == len(f16Values) {
		if f >= 65520 { // 65504 + half an ulp of 32
			return 0x7c00
		}
		return 0x7bff
	}
	if i == 0 || f16Values[i].x == f {
		return f16Values[i].bits
	}
	lo, hi := f16Values[i-1], f16Values[i]
	switch {
	case f-lo.x < hi.x-f:
		return lo.bits
	case f-lo.x > hi.x-f:
		return hi.bits
	case lo.bits%2 == 0:
		return lo.bits
	}
	return hi.bits
}

// referenceQ8_0 quantizes as ggml's quantize_row_q8_0_ref, written apart from QuantizeQ8_0: the
// scale rounded to float16 by search, values rounded half away from zero by comparing fractions.
func referenceQ8_0(x []float32) []byte {
	out := make([]byte, 0, len(x)/32*34)
	for b := 0; b < len(x); b += 32 {
		var amax float32
		for _, v := range x[b : b+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		inv := float32(0)
		if d != 0 {
			inv = 1 / d
		}
		out = binary.LittleEndian.AppendUint16(out, referenceF16(d))
		for _, v := range x[b : b+32] {
			p := v * inv
			a := float32(math.Abs(float64(p)))
			whole := float32(math.Floor(float64(a)))
			if a-whole >= 0.5 {
				whole++
			}
			if p < 0 {
				whole = -whole
			}
			out = append(out, byte(int8(whole)))
		}
	}
	return out
}

// TestQuantizeQ8_0_NumpyGolden ensures the blocks equal, byte for byte, those numpy computes from
// ggml's reference rounding (testdata/q8_0/gen_q8_0.py): ties, zero blocks, float16 underflow,
// subnormal, maximum and overflowing scales included.
func TestQuantizeQ8_0_NumpyGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/q8_0/input.f32")
	must(t, err)
	want, err := os.ReadFile("testdata/q8_0/expected.q8_0")
	must(t, err)
	x := make([]float32, len(raw)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	got, err := Encode(Q8_0, x)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("%d bytes, want %d", len(got), len(want))
	}
	for b := 0; b < len(want); b += 34 {
		if string(got[b:b+34]) != string(want[b:b+34]) {
			t.Errorf("block %d: %x, numpy gives %x", b/34, got[b:b+34], want[b:b+34])
		}
	}
	if ref := referenceQ8_0(x); string(ref) != string(want) {
		t.Errorf("the test's reference quantizer disagrees with numpy")
	}
}

// TestQuantizeQ8_0_Reference ensures the blocks equal the test's reference quantizer on many
// random blocks of every magnitude, and that dequantizing errs by at most half a step (plus the
// float16 rounding of the step).
func TestQuantizeQ8_0_Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 32*4000)
	for i := range x {
		scale := math.Pow(10, float64(i/32%12)-8) // 1e-8 .. 1e3, one per block
		x[i] = float32(rng.NormFloat64() * scale)
		if i%97 == 0 {
			x[i] = float32(math.Round(float64(x[i])*4) / 4) // some exact quarters
		}
	}
	got, err := Encode(Q8_0, x)
	must(t, err)
	want := referenceQ8_0(x)
	for b := 0; b < len(want); b += 34 {
		if string(got[b:b+34]) != string(want[b:b+34]) {
			t.Fatalf("block %d: %x, the reference gives %x", b/34, got[b:b+34], want[b:b+34])
		}
	}
	back, err := Decode(Q8_0, got, len(x))
	must(t, err)
	compareValues(t, "random", Q8_0, back, x)
}

// TestEncode_Refuses ensures a Q8_0 tensor of a partial block and an unencodable type are errors.
func TestEncode_Refuses(t *testing.T) {
	if _, err := Encode(Q8_0, make([]float32, 33)); err == nil {
		t.Error("33 values encoded as Q8_0")
	}
	if _, err := Encode(Q4_K, make([]float32, 256)); err == nil {
		t.Error("Q4_K encoded")
	}
	if _, err := Decode(Q8_0, make([]byte, 33), 32); err == nil {
		t.Error("33 bytes decoded as one Q8_0 block")
	}
}
