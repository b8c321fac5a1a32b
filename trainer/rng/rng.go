// Package rng is the counter-based random generator every backend shares: Philox4x32-10, keyed by a
// seed and addressed by (stream, index). A draw depends only on those three numbers, never on the
// order of draws or the number of threads, so the CPU and the GPU draw the same dropout masks and
// LoRA initialisations, and a resumed run continues exactly where it stopped.
package rng

import "math/bits"

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 returns the four 32-bit words for counter (c0..c3) under key (k0, k1), after the
// standard ten rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011).
func Philox4x32(c [4]uint32, k0, k1 uint32) [4]uint32 {
	for round := 0; round < 10; round++ {
		hi0, lo0 := bits.Mul32(philoxM0, c[0])
		hi1, lo1 := bits.Mul32(philoxM1, c[2])
		c = [4]uint32{hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0}
		k0 += philoxW0
		k1 += philoxW1
	}
	return c
}

// Uint32 is word index%4 of block index/4 of the stream: counter (index/4 low, index/4 high,
// stream low, stream high), key = seed.
func Uint32(seed, stream, index uint64) uint32 {
	block := index / 4
	out := Philox4x32([4]uint32{uint32(block), uint32(block >> 32), uint32(stream), uint32(stream >> 32)},
		uint32(seed), uint32(seed>>32))
	return out[index%4]
}

// Uniform is a float in [0, 1) with 24 random bits, exact in float32.
func Uniform(seed, stream, index uint64) float64 {
	return float64(Uint32(seed, stream, index)>>8) * (1.0 / (1 << 24))
}

// Fill writes Uniform(seed, stream, start+i) into dst[i], four draws per block.
func Fill(dst []float64, seed, stream, start uint64) {
	for i := range dst {
		dst[i] = Uniform(seed, stream, start+uint64(i))
	}
}
