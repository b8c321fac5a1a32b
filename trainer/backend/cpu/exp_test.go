package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExp32_MatchesAssemblyAndMath ensures that the Go exp32 and expSum32 give the bits of the
// AVX-512 kernels (on a CPU that has them), and that exp32 is within 2 ulp of the exponential.
func TestExp32_MatchesAssemblyAndMath(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	x := make([]float32, 1000)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 30)
	}
	x = append(x, 0, -0, 1, -1, 88.7, 88.8, -87, -103, -104, -105, -200, float32(math.Inf(-1)), float32(math.Inf(1)), 1e-8, -1e-8)
	for _, v := range x {
		got, want := float64(exp32(v)), math.Exp(float64(v))
		if math.IsInf(want, 1) && v <= expHi {
			want = math.MaxFloat32
		}
		if want < 0x1p-126 { // below the normal range: absolute error
			if math.Abs(got-want) > 0x1p-148 {
				t.Errorf("exp32(%v) = %v, want %v", v, got, want)
			}
			continue
		}
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		if math.Abs(got-want) > 2*ulp && !math.IsInf(got, 1) {
			t.Errorf("exp32(%v) = %v, want %v (%v ulp)", v, got, want, math.Abs(got-want)/ulp)
		}
	}
	if exp32(float32(math.Inf(-1))) != 0 || !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Error("exp32 of -Inf is not 0, or of NaN not NaN")
	}
	if !useAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	for _, n := range []int{1, 15, 16, 17, 100, len(x)} {
		for _, shift := range []float32{0, 3.5, -2} {
			d1, d2 := make([]float32, n), make([]float32, n)
			s1 := expSumAVX512(&d1[0], &x[0], n, shift)
			s2 := expSum32(d2, x[:n], shift)
			if math.Float32bits(s1) != math.Float32bits(s2) {
				t.Fatalf("n=%d shift=%v: sum %v (assembly), %v (Go)", n, shift, s1, s2)
			}
			for i := range d1 {
				if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
					t.Fatalf("exp(%v - %v) = %v (assembly), %v (Go)", x[i], shift, d1[i], d2[i])
				}
			}
			if m1, m2 := maxAVX512(&x[0], n), slicesMax(x[:n]); m1 != m2 {
				t.Fatalf("max of %d = %v (assembly), %v", n, m1, m2)
			}
		}
	}
}

func slicesMax(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// TestWorkload_AssemblyMatchesGo ensures that every op gives the same bits with the assembly
// kernels of each kind this CPU has (AVX-512, AVX2) as the Go
// code doing the same operations (exactGo), and results within float32 rounding with the fast Go
// code that CPUs without them run.
func TestWorkload_AssemblyMatchesGo(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	var exact, fast [][]float32
	withKernels(t, isaGo, true, func() { exact = workload[float32](2) })
	withKernels(t, isaGo, false, func() { fast = workload[float32](2) })
	for is := range kernels {
		var asm [][]float32
		withKernels(t, is, true, func() { asm = workload[float32](2) })
		for i := range asm {
			var num, den float64
			for j := range asm[i] {
				if math.Float32bits(asm[i][j]) != math.Float32bits(exact[i][j]) {
					t.Fatalf("output %d element %d: %v with %v, %v in Go", i, j, asm[i][j], is, exact[i][j])
				}
				d := float64(fast[i][j] - asm[i][j])
				num, den = num+d*d, den+float64(asm[i][j])*float64(asm[i][j])
			}
			if rel := math.Sqrt(num / den); !(rel < 1e-5) {
				t.Errorf("output %d: ‖fast Go − %v‖/‖%v‖ = %.2g", i, is, is, rel)
			}
		}
	}
}
