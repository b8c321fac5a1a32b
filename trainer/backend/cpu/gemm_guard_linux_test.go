package cpu

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// TestMicroKernels_StayInTheirColumns ensures that the assembly micro-kernels neither read nor
// write a, b and c outside what their contract allows (all 12 rows of a; b and c in the columns
// of colMask, c in the rows of rowMask): each operand is placed against a page the process may
// not touch, ending at its last allowed element, or in a second placement starting at its first,
// so that an access beyond kills the test.
func TestMicroKernels_StayInTheirColumns(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly micro-kernel on this CPU")
	}
	r := rand.New(rand.NewPCG(22, 22))
	for range 300 {
		k := randomCall(r)
		k.kc, k.rowMask, k.colMask = max(k.kc, 1), max(k.rowMask, 1), max(k.colMask, 1)
		a, b, c, acc := k.operands(r)
		want := append([]float32(nil), c...)
		k.reference(a, b, want, append([]float32(nil), acc...))
		lo, hi := bits.TrailingZeros32(k.colMask), bits.Len32(k.colMask)
		r0, r1 := bits.TrailingZeros32(k.rowMask), bits.Len32(k.rowMask)-1
		bFirst, bEnd := lo, (k.kc-1)*k.bs+hi
		cFirst, cEnd := r0*k.ldc+lo, r1*k.ldc+hi
		for is, kern := range kernels {
			for _, atEnd := range []bool{true, false} {
				ga := newGuarded(t, a, 0, len(a), true)
				gb := newGuarded(t, b, bFirst, bEnd, atEnd)
				gc := newGuarded(t, c, cFirst, cEnd, atEnd)
				k.run(kern, ga.x, gb.x, gc.x, acc)
				for i := cFirst; i < cEnd; i++ {
					if got := gc.x[i]; math.Float32bits(got) != math.Float32bits(want[i]) {
						t.Fatalf("%v, %v, at end %v: c[%d] = %v, want %v", is, k, atEnd, i, got, want[i])
					}
				}
				ga.free(t)
				gb.free(t)
				gc.free(t)
			}
		}
	}
}

// guarded is a copy of elements [first, end) of a slice between two pages the process may not
// touch, flush against the second (atEnd) or the first; x is the slice as the kernel sees it, its
// elements outside [first, end) not to be touched.
type guarded struct {
	mem []byte
	x   []float32
}

func newGuarded(t *testing.T, src []float32, first, end int, atEnd bool) guarded {
	t.Helper()
	page := os.Getpagesize()
	size := (4*(end-first) + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[page+size:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	start := page // byte offset of element first
	if atEnd {
		start = page + size - 4*(end-first)
	}
	base := unsafe.Add(unsafe.Pointer(&mem[start]), -4*first) // may point into the first guard page
	x := unsafe.Slice((*float32)(base), len(src))
	copy(x[first:end], src[first:end])
	return guarded{mem, x}
}

func (g guarded) free(t *testing.T) {
	if err := syscall.Munmap(g.mem); err != nil {
		t.Fatal(err)
	}
}

// TestElementwiseKernels_StayInTheirElements ensures that the assembly elementwise kernels read
// and write nothing past the n elements of their operands, whose tails they take under masks:
// each operand ends against a page the process may not touch.
func TestElementwiseKernels_StayInTheirElements(t *testing.T) {
	kernels := availableKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(35, 35))
	for _, n := range vecLengths[1:] {
		x := vecInputs(r, n, false)
		var ops [5]guarded
		for i := range ops {
			ops[i] = newGuarded(t, x, 0, n, true)
		}
		p := func(i int) *float32 { return &ops[i].x[0] }
		for is := range kernels {
			expSumAsm(is, p(0), p(1), n, 1)
			maxAsm(is, p(1), n)
			softmaxAddAsm(is, p(0), p(1), n, 0, 1, 1)
			swigluAsm(is, p(0), p(1), p(2), n)
			swigluBackAsm(is, p(0), p(1), p(2), p(3), p(4), n)
		}
		for _, g := range ops {
			g.free(t)
		}
	}
}
