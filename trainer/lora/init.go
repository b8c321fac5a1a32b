package lora

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/rng"
)

// initStreams keeps initialisation draws apart from dropout's streams, which count steps from 0.
const initStreams = 1 << 63

// InitA draws A (r,in) as PEFT does (kaiming_uniform with a=√5, i.e. U(-1/√in, 1/√in)) from the
// shared counter-based generator, so every backend and every run with this seed starts the same.
// module numbers the adapted projection (layer·7 + projection). B starts at zero.
func InitA(r, in int, seed, module uint64) []float64 {
	bound := 1 / math.Sqrt(float64(in))
	a := make([]float64, r*in)
	rng.Fill(a, seed, initStreams|module, 0)
	for i, u := range a {
		a[i] = (2*u - 1) * bound
	}
	return a
}
