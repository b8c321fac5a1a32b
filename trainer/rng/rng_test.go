package rng

import (
	"math"
	"testing"
)

// TestPhilox4x32_KnownAnswers ensures the rounds match the Random123 known-answer vectors.
func TestPhilox4x32_KnownAnswers(t *testing.T) {
	cases := []struct {
		c    [4]uint32
		k0   uint32
		k1   uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, 0, 0, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffff, 0xffffffff, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Philox4x32(c.c, c.k0, c.k1); got != c.want {
			t.Errorf("Philox4x32(%x, %x, %x) = %x, want %x", c.c, c.k0, c.k1, got, c.want)
		}
	}
}

// TestUniform_Distribution ensures draws lie in [0,1) with the mean and variance of a uniform, and
// that streams and seeds differ.
func TestUniform_Distribution(t *testing.T) {
	const n = 1 << 16
	var sum, sq float64
	for i := uint64(0); i < n; i++ {
		u := Uniform(7, 3, i)
		if u < 0 || u >= 1 {
			t.Fatalf("draw %d = %g", i, u)
		}
		sum += u
		sq += u * u
	}
	mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
	if math.Abs(mean-0.5) > 0.01 || math.Abs(variance-1.0/12) > 0.005 {
		t.Errorf("mean %g variance %g", mean, variance)
	}
	if Uniform(7, 3, 0) == Uniform(7, 4, 0) || Uniform(7, 3, 0) == Uniform(8, 3, 0) {
		t.Error("streams or seeds collide")
	}
	dst := make([]float64, 9)
	Fill(dst, 7, 3, 5)
	if dst[4] != Uniform(7, 3, 9) {
		t.Error("Fill disagrees with Uniform")
	}
}
