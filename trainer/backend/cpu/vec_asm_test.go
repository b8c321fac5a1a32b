package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecLengths are the lengths the elementwise kernels are tested on: none, within one vector of 8
// or 16, either side of those widths, and long with an odd tail.
var vecLengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 100, 1001}

// vecSpecials are inputs at the edges of the exponential: NaN, the infinities, huge and tiny
// (subnormal too), signed zeros, around the overflow and underflow clamps.
var vecSpecials = []float32{
	float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38, -3e38, 1e-40, -1e-40, 1e-8,
	0, float32(math.Copysign(0, -1)), 88.7, 88.8, 90, -87, -103, -104, -105, -150, -200,
}

// vecInputs returns n inputs spread wide (so that the order of a sum shows in its bits), with
// specials every few elements when asked.
func vecInputs(r *rand.Rand, n int, specials bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 30)
		if specials && r.IntN(4) == 0 {
			x[i] = vecSpecials[r.IntN(len(vecSpecials))]
		}
	}
	return x
}

// vecGuard is how many elements past the end of each output the tests check are left alone.
const vecGuard = 16

// withSentinels returns a copy of x followed by vecGuard NaNs of a payload no kernel makes; the kernels
// get the first len(x) elements, and the tests compare all of them.
func withSentinels(x []float32) []float32 {
	g := append(make([]float32, 0, len(x)+vecGuard), x...)
	for range vecGuard {
		g = append(g, math.Float32frombits(0x7fc0_1234))
	}
	return g
}

// sameBitsEverywhere runs f with the Go code under exactGo and with each set of assembly kernels
// this CPU has, and fails at the first output whose bits differ between AVX2 and AVX-512, or
// between either and the Go code. A NaN from the Go code need only be a NaN: where two NaNs meet
// in an addition, the compiler's order of the operands decides which comes out, not the source.
func sameBitsEverywhere(t *testing.T, what string, f func() []float32) {
	t.Helper()
	var want []float32
	withKernels(t, isaGo, true, func() { want = f() })
	got := map[isa][]float32{}
	for is := range availableKernels() {
		withKernels(t, is, false, func() { got[is] = f() })
		for i, w := range want {
			g := got[is][i]
			if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
				t.Fatalf("%s: output %d = %v (%#08x) with %v, %v (%#08x) in Go", what, i, g, math.Float32bits(g), is, w, math.Float32bits(w))
			}
		}
	}
	if len(got) < 2 {
		return
	}
	for i, w := range got[isaAVX512] {
		if g := got[isaAVX2][i]; math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("%s: output %d = %v (%#08x) with AVX2, %v (%#08x) with AVX-512", what, i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

// TestExpSum_KernelsAgree ensures that expSum gives the same bits, the exponentials written and
// their sum, with each set of assembly kernels as in Go (exactGo), with and without dst, and
// writes nothing past the end of dst.
func TestExpSum_KernelsAgree(t *testing.T) {
	if len(availableKernels()) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(31, 31))
	for _, n := range vecLengths {
		for _, specials := range []bool{false, true} {
			x := vecInputs(r, n, specials)
			// A shift of +Inf makes the +Inf inputs NaNs of the other sign than the NaN inputs,
			// so that the NaN a sum ends with shows the order the lanes were added in.
			for _, shift := range []float32{0, 3.5, -2, slicesMax(x), float32(math.Inf(1))} {
				what := fmt.Sprintf("n=%d specials=%v shift=%v", n, specials, shift)
				sameBitsEverywhere(t, what, func() []float32 {
					dst := withSentinels(make([]float32, n))
					sum := expSum(dst[:n], x, shift)
					return append(dst, sum, expSum(nil, x, shift))
				})
			}
		}
	}
}

// TestMax_KernelsAgree ensures that maxOf gives the largest element with each set of assembly
// kernels and, where a NaN or zeros of both signs make the answer depend on the order of the
// comparisons, the same bits with AVX2 as with AVX-512.
func TestMax_KernelsAgree(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(32, 32))
	for _, n := range vecLengths {
		for _, specials := range []bool{false, true} {
			x := vecInputs(r, n, specials)
			results := map[isa]float32{}
			for is := range kernels {
				withKernels(t, is, false, func() { results[is] = maxOf(x) })
				if want := slicesMax(x); results[is] != want && !math.IsNaN(float64(want)) {
					t.Fatalf("n=%d specials=%v: max %v with %v, want %v", n, specials, results[is], is, want)
				}
			}
			if len(results) == 2 && math.Float32bits(results[isaAVX2]) != math.Float32bits(results[isaAVX512]) {
				t.Fatalf("n=%d specials=%v: max %v with AVX2, %v with AVX-512", n, specials, results[isaAVX2], results[isaAVX512])
			}
		}
	}
}

// TestSoftmaxAdd_KernelsAgree ensures that softmaxAdd adds the same bits with each set of assembly
// kernels as in Go (exactGo), and writes nothing past the end of d.
func TestSoftmaxAdd_KernelsAgree(t *testing.T) {
	if len(availableKernels()) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(33, 33))
	for _, n := range vecLengths {
		for _, specials := range []bool{false, true} {
			x, d := vecInputs(r, n, specials), vecInputs(r, n, false)
			mx := slicesMax(x)
			var sum float32
			withKernels(t, isaGo, true, func() { sum = expSum(nil, x, mx) })
			for _, scale := range []float32{1, -0.37, 1e-3} {
				sameBitsEverywhere(t, fmt.Sprintf("n=%d specials=%v scale=%v", n, specials, scale), func() []float32 {
					out := withSentinels(d)
					softmaxAdd(out[:n], x, mx, sum, scale)
					return out
				})
			}
		}
	}
}

// TestSwiGLU_KernelsAgree ensures that the SwiGLU kernel, forward and backward, gives the same bits
// with each set of assembly kernels as in Go (exactGo), and writes nothing past the end of its
// outputs.
func TestSwiGLU_KernelsAgree(t *testing.T) {
	if len(availableKernels()) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(34, 34))
	for _, n := range vecLengths[1:] { // the kernels run on n ≥ 1
		for _, specials := range []bool{false, true} {
			gate, up := vecInputs(r, n, specials), vecInputs(r, n, false)
			dout, dgate, dup := vecInputs(r, n, false), vecInputs(r, n, false), vecInputs(r, n, specials)
			what := fmt.Sprintf("n=%d specials=%v", n, specials)
			sameBitsEverywhere(t, "forward "+what, func() []float32 {
				out := withSentinels(make([]float32, n))
				k := swigluKernel[float32]{out: out[:n], gate: gate, up: up}
				k.run(0, 0, n)
				return out
			})
			sameBitsEverywhere(t, "backward "+what, func() []float32 {
				dg, du := withSentinels(dgate), withSentinels(dup)
				k := swigluKernel[float32]{backward: true, dgate: dg[:n], dup: du[:n], dout: dout, gate: gate, up: up}
				k.run(0, 0, n)
				return append(dg, du...)
			})
		}
	}
}
