package nf4

import (
	"math/rand/v2"
	"testing"
)

// A 4096x4096 projection: 16.8M weights, the size of a Llama-7B q_proj.
const benchRows, benchCols = 4096, 4096

func benchWeight() []float32 {
	return normalWeight(rand.New(rand.NewPCG(1, 1)), benchRows*benchCols, 0.02)
}

func BenchmarkQuantize(b *testing.B) {
	w := benchWeight()
	for _, double := range []bool{false, true} {
		name := "4096x4096"
		if double {
			name += "/double"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(w) * 4))
			for b.Loop() {
				if _, err := Quantize(w, []int{benchRows, benchCols}, DefaultBlocksize, double); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	w := benchWeight()
	dst := make([]float32, len(w))
	for _, double := range []bool{false, true} {
		q, err := Quantize(w, []int{benchRows, benchCols}, DefaultBlocksize, double)
		if err != nil {
			b.Fatal(err)
		}
		name := "4096x4096"
		if double {
			name += "/double"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(w) * 4))
			for b.Loop() {
				q.Dequantize(dst)
			}
		})
	}
}
