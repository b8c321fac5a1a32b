package cpu

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// asmKernel is the signature of sgemm12x32AVX512 and sgemm12x32AVX2.
type asmKernel func(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int)

// kernelCall is one call of a micro-kernel on float32 slices, strides in elements.
type kernelCall struct {
	kc, ars, aps, bs, ldc int
	rowMask, colMask      uint32
	alpha, beta           float32
	flags                 int
}

func (k kernelCall) String() string {
	return fmt.Sprintf("kc=%d ars=%d aps=%d bs=%d ldc=%d rows=%03x cols=%08x alpha=%v beta=%v flags=%d",
		k.kc, k.ars, k.aps, k.bs, k.ldc, k.rowMask, k.colMask, k.alpha, k.beta, k.flags)
}

// run calls kern on a, b, c and acc (acc nil when flags is 0).
func (k kernelCall) run(kern asmKernel, a, b, c, acc []float32) {
	var accp *float32
	if acc != nil {
		accp = &acc[0]
	}
	kern(k.kc, &a[0], uintptr(4*k.ars), uintptr(4*k.aps), &b[0], uintptr(4*k.bs), &c[0], uintptr(4*k.ldc),
		k.rowMask, k.colMask, k.alpha, k.beta, accp, k.flags)
}

// reference is what the call computes, in Go: the fma chain of every element in the masks from
// zero (or from acc with accLoad) into acc with accSave, else alpha·s (+ beta·c) into c.
func (k kernelCall) reference(a, b, c, acc []float32) {
	for r := range gemmMR {
		for j := range gemmNR {
			if k.rowMask>>r&1 == 0 || k.colMask>>j&1 == 0 {
				continue
			}
			var s float32
			if k.flags&accLoad != 0 {
				s = acc[r*gemmNR+j]
			}
			for p := range k.kc {
				s = fma32(a[r*k.ars+p*k.aps], b[p*k.bs+j], s)
			}
			switch {
			case k.flags&accSave != 0:
				acc[r*gemmNR+j] = s
			case k.beta == 0:
				c[r*k.ldc+j] = k.alpha * s
			default:
				c[r*k.ldc+j] = float32(k.alpha*s) + float32(k.beta*c[r*k.ldc+j])
			}
		}
	}
}

// operands returns random a (12 rows), b (kc rows of bs) and c (12 rows of ldc, with beta == 0
// NaN in every element, so that a read shows), and acc (12×32) for flags.
func (k kernelCall) operands(r *rand.Rand) (a, b, c, acc []float32) {
	a = randSlice[float32](r, 11*k.ars+max(k.kc-1, 0)*k.aps+1)
	b = randSlice[float32](r, max(k.kc, 1)*k.bs)
	c = randSlice[float32](r, 12*k.ldc)
	if k.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	if k.flags != 0 {
		acc = randSlice[float32](r, gemmMR*gemmNR)
	}
	return a, b, c, acc
}

// sameInMasks reports the first element of acc in the masks whose bits differ between x and y.
func (k kernelCall) sameInMasks(x, y []float32) error {
	for r := range gemmMR {
		for j := range gemmNR {
			i := r*gemmNR + j
			if k.rowMask>>r&1 != 0 && k.colMask>>j&1 != 0 && math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return fmt.Errorf("acc[%d][%d] = %v, want %v", r, j, x[i], y[i])
			}
		}
	}
	return nil
}

// randomCall draws a call from the classes the kernels must get right: row masks full, one row,
// the top or bottom rows of a partial tile, or random; column masks full, the first cols (fewer
// than 8, not a multiple of 8), or random; kc 0, 1, odd, large; a with rows contiguous in k
// (aps = 1, as gemm.go's a) or columns contiguous (ars = 1, transposed a and attention); beta
// ±0 or not; every flag.
func randomCall(r *rand.Rand) kernelCall {
	var k kernelCall
	switch rows := 1 + r.IntN(gemmMR); r.IntN(5) {
	case 0:
		k.rowMask = 1<<gemmMR - 1
	case 1:
		k.rowMask = 1 << r.IntN(gemmMR)
	case 2:
		k.rowMask = (1<<gemmMR - 1) &^ (1<<(gemmMR-rows) - 1) // the last tile moved up
	case 3:
		k.rowMask = 1<<rows - 1
	default:
		k.rowMask = uint32(r.IntN(1 << gemmMR))
	}
	switch r.IntN(4) {
	case 0:
		k.colMask = math.MaxUint32
	case 1:
		k.colMask = 1<<(1+r.IntN(7)) - 1
	case 2:
		k.colMask = uint32(1<<(1+r.IntN(31)) - 1)
	default:
		k.colMask = r.Uint32()
	}
	k.kc = []int{0, 1, 2, 3, 4, 5, 7, 8, 13, 31, 64, 129, 256, 600}[r.IntN(14)]
	lda := k.kc + r.IntN(3)
	if r.IntN(2) == 0 {
		k.ars, k.aps = max(lda, 1), 1
	} else {
		k.ars, k.aps = 1, gemmMR+r.IntN(3)
	}
	k.bs = gemmNR + r.IntN(3)
	if r.IntN(3) == 0 { // b straight from a matrix whose last panel is narrower than NR
		k.bs = bits.Len32(k.colMask)
	}
	k.ldc = gemmNR + r.IntN(5)
	k.alpha = []float32{1, -0.5, 3}[r.IntN(3)]
	k.beta = []float32{0, float32(math.Copysign(0, -1)), 1, 0.75}[r.IntN(4)]
	k.flags = r.IntN(4)
	return k
}

// withKernels runs f with the kernels of is (as far as this CPU has them: the micro-kernel, the
// packing, the elementwise kernels and the NF4 decoders) and exactGo set as given,
// and restores them.
func withKernels(t *testing.T, is isa, exact bool, f func()) {
	t.Helper()
	avx512, avx2, exactWas := useAVX512, useAVX2, exactGo
	defer func() { useAVX512, useAVX2, exactGo = avx512, avx2, exactWas }()
	useAVX512, useAVX2, exactGo = avx512 && is == isaAVX512, avx2 && is >= isaAVX2, exact
	if got := isaFor[float32](); got != is {
		t.Fatalf("kernels %v asked, %v available", is, got)
	}
	f()
}

func (is isa) String() string {
	return [...]string{isaGo: "Go", isaAVX2: "AVX2", isaAVX512: "AVX-512"}[is]
}

// availableKernels are the assembly micro-kernels this CPU runs.
func availableKernels() map[isa]asmKernel {
	kernels := map[isa]asmKernel{}
	if useAVX512 {
		kernels[isaAVX512] = sgemm12x32AVX512
	}
	if useAVX2 {
		kernels[isaAVX2] = sgemm12x32AVX2
	}
	return kernels
}

// TestMicroKernels_MatchReference ensures that each assembly micro-kernel gives, in the rows and
// columns of its masks, the bits of the fma chains computed in Go, on random calls of every class
// (randomCall); that it leaves every other element of c as it was, never reads c when beta is ±0
// (c is NaN there), and keeps the sums in acc with accSave. With both kernels on the CPU the AVX2
// one is thereby held to the AVX-512 one's bits.
func TestMicroKernels_MatchReference(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly micro-kernel on this CPU")
	}
	r := rand.New(rand.NewPCG(21, 21))
	for range 4000 {
		k := randomCall(r)
		a, b, c, acc := k.operands(r)
		wantC, wantAcc := append([]float32(nil), c...), append([]float32(nil), acc...)
		k.reference(a, b, wantC, wantAcc)
		for is, kern := range kernels {
			gotC, gotAcc := append([]float32(nil), c...), append([]float32(nil), acc...)
			k.run(kern, a, b, gotC, gotAcc)
			for i := range wantC {
				if math.Float32bits(gotC[i]) != math.Float32bits(wantC[i]) {
					t.Fatalf("%v, %v: c[%d][%d] = %v, want %v", is, k, i/k.ldc, i%k.ldc, gotC[i], wantC[i])
				}
			}
			if k.flags&accSave != 0 {
				if err := k.sameInMasks(gotAcc, wantAcc); err != nil {
					t.Fatalf("%v, %v: %v", is, k, err)
				}
			}
		}
	}
}

// BenchmarkMicroKernel times each assembly micro-kernel alone on one core: a 12×32 tile over
// k = 256 from a packed panel of b, as Gemm calls it; GFLOP/s counts 2·12·32·256 per call.
func BenchmarkMicroKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(23, 23))
	k := kernelCall{kc: gemmKC, ars: gemmKC, aps: 1, bs: gemmNR, ldc: gemmNR, rowMask: 1<<gemmMR - 1, colMask: math.MaxUint32, alpha: 1}
	a, bp, c, _ := k.operands(r)
	for is, kern := range availableKernels() {
		b.Run(is.String(), func(b *testing.B) {
			for b.Loop() {
				k.run(kern, a, bp, c, nil)
			}
			b.ReportMetric(2*gemmMR*gemmNR*gemmKC*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestPackTrans_KernelsAgree ensures that packTrans fills the panel alike with each set of assembly
// kernels (AVX2's 8×8 blocks with the rest in Go, AVX-512's gathers) and in Go: kc and cols on
// either side of multiples of 8, rows of src longer than kc.
func TestPackTrans_KernelsAgree(t *testing.T) {
	if len(availableKernels()) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(24, 24))
	for _, kc := range []int{1, 7, 8, 9, 16, 17, 63, 100, 256} {
		for _, cols := range []int{1, 7, 8, 9, 15, 16, 24, 31, 32} {
			srs := kc + r.IntN(3)
			src := randSlice[float32](r, (cols-1)*srs+kc)
			sameBitsEverywhere(t, fmt.Sprintf("kc=%d cols=%d srs=%d", kc, cols, srs), func() []float32 {
				panel := randSlice[float32](rand.New(rand.NewPCG(1, 1)), kc*gemmNR+vecGuard)
				packTrans(isaFor[float32](), panel, src, srs, kc, cols)
				return panel
			})
		}
	}
}
