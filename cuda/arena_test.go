package cuda

import (
	"math/rand/v2"
	"testing"
)

// TestArena_FirstFitCoalesces ensures allocations are aligned and disjoint, released ranges are
// reused and merge with their neighbours, and the counts follow.
func TestArena_FirstFitCoalesces(t *testing.T) {
	a := newArena(4096)
	x, ok1 := a.alloc(100)  // [0, 256)
	y, ok2 := a.alloc(300)  // [256, 768)
	z, ok3 := a.alloc(1000) // [768, 1792)
	if !ok1 || !ok2 || !ok3 || x != 0 || y != 256 || z != 768 {
		t.Fatalf("offsets %d %d %d (%v %v %v), want 0 256 768", x, y, z, ok1, ok2, ok3)
	}
	if st := a.stats(); st.InUse != 1400 || st.Taken != 1792 || st.Allocations != 3 || st.LargestFree != 4096-1792 {
		t.Errorf("stats %+v", st)
	}
	a.release(y, 300)
	if off, ok := a.alloc(200); !ok || off != 256 {
		t.Errorf("alloc after a release: %d %v, want the freed 256", off, ok)
	} else {
		a.release(off, 200)
	}
	a.release(x, 100)
	a.release(z, 1000)
	if st := a.stats(); st.InUse != 0 || st.Taken != 0 || st.Allocations != 0 || st.LargestFree != 4096 || st.Peak != 1400 {
		t.Errorf("after releasing everything: %+v, want one free span of 4096 and the peak kept", st)
	}
	if _, ok := a.alloc(4097); ok {
		t.Error("an allocation larger than the arena succeeded")
	}
	if off, ok := a.alloc(4096); !ok || off != 0 {
		t.Errorf("the whole arena: %d %v", off, ok)
	}
}

// TestArena_RandomNeverOverlaps allocates and releases at random and checks that live ranges
// never overlap and that everything coalesces back at the end.
func TestArena_RandomNeverOverlaps(t *testing.T) {
	const size = 1 << 20
	a := newArena(size)
	rnd := rand.New(rand.NewPCG(1, 2))
	type live struct{ off, n int64 }
	var held []live
	for range 5000 {
		if len(held) > 0 && rnd.IntN(2) == 0 {
			i := rnd.IntN(len(held))
			a.release(held[i].off, held[i].n)
			held = append(held[:i], held[i+1:]...)
			continue
		}
		n := int64(rnd.IntN(20000))
		off, ok := a.alloc(n)
		if !ok {
			continue
		}
		if off%arenaAlign != 0 || off+n > size {
			t.Fatalf("alloc(%d) = %d: misaligned or outside", n, off)
		}
		for _, h := range held {
			if off < h.off+spanSize(h.n) && h.off < off+spanSize(n) {
				t.Fatalf("alloc(%d) = %d overlaps [%d, +%d)", n, off, h.off, h.n)
			}
		}
		held = append(held, live{off, n})
	}
	for _, h := range held {
		a.release(h.off, h.n)
	}
	if st := a.stats(); st.LargestFree != size || st.InUse != 0 {
		t.Errorf("after releasing everything: %+v", st)
	}
}

// TestArena_DoubleReleasePanics ensures a release of free memory is caught, not silently merged.
func TestArena_DoubleReleasePanics(t *testing.T) {
	a := newArena(4096)
	off, _ := a.alloc(10)
	a.release(off, 10)
	defer func() {
		if recover() == nil {
			t.Error("releasing free memory did not panic")
		}
	}()
	a.release(off, 10)
}
