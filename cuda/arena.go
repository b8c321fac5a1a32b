package cuda

import (
	"fmt"
	"sort"
	"sync"
)

// arenaAlign is where every allocation starts, as cudaMalloc aligns: enough for any vector load
// and for cuBLAS.
const arenaAlign = 256

// arena sub-allocates one reservation of device memory: first fit over a sorted free list that
// coalesces on release. It is bookkeeping only (offsets, no device calls), so releases may come
// from any goroutine (tensors are released by runtime cleanups); the mutex guards it.
//
// It counts two figures: the bytes the live allocations asked for (what the memory planner's exact
// components count), and the bytes their spans take with alignment (what the planner's
// fragmentation estimate is for).
type arena struct {
	mu     sync.Mutex
	size   int64
	free   []span // sorted by offset, none adjacent
	asked  int64  // bytes asked for by live allocations
	taken  int64  // bytes of their spans
	peak   int64  // the largest asked has been
	allocs int
}

// span is a range of the arena, in bytes from its start.
type span struct{ off, size int64 }

// arenaStats is a snapshot of an arena's use.
type arenaStats struct {
	Size        int64 // the reservation
	InUse       int64 // bytes asked for by live allocations
	Taken       int64 // the same with alignment
	Peak        int64 // the largest InUse has been
	LargestFree int64 // the largest allocation that would succeed now
	Allocations int
}

func newArena(size int64) *arena {
	a := &arena{size: size}
	if size > 0 {
		a.free = []span{{0, size}}
	}
	return a
}

// spanSize is what an allocation of n bytes takes: at least one aligned unit, so that every
// allocation has its own address.
func spanSize(n int64) int64 {
	return max(arenaAlign, (n+arenaAlign-1)/arenaAlign*arenaAlign)
}

// alloc takes n bytes and returns their offset, or false when no free span is large enough.
func (a *arena) alloc(n int64) (int64, bool) {
	if n < 0 {
		panic(fmt.Sprintf("cuda: allocation of %d bytes", n))
	}
	need := spanSize(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, f := range a.free {
		if f.size < need {
			continue
		}
		if f.size == need {
			a.free = append(a.free[:i], a.free[i+1:]...)
		} else {
			a.free[i] = span{f.off + need, f.size - need}
		}
		a.asked += n
		a.taken += need
		a.peak = max(a.peak, a.asked)
		a.allocs++
		return f.off, true
	}
	return 0, false
}

// release returns the allocation of n bytes at off.
func (a *arena) release(off, n int64) {
	s := span{off, spanSize(n)}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := sort.Search(len(a.free), func(i int) bool { return a.free[i].off >= s.off })
	if (i < len(a.free) && a.free[i].off < s.off+s.size) || (i > 0 && a.free[i-1].off+a.free[i-1].size > s.off) {
		panic(fmt.Sprintf("cuda: release of [%d, %d), which overlaps free memory", s.off, s.off+s.size))
	}
	a.asked -= n
	a.taken -= s.size
	a.allocs--
	joinsNext := i < len(a.free) && a.free[i].off == s.off+s.size
	joinsPrev := i > 0 && a.free[i-1].off+a.free[i-1].size == s.off
	switch {
	case joinsPrev && joinsNext:
		a.free[i-1].size += s.size + a.free[i].size
		a.free = append(a.free[:i], a.free[i+1:]...)
	case joinsPrev:
		a.free[i-1].size += s.size
	case joinsNext:
		a.free[i] = span{s.off, s.size + a.free[i].size}
	default:
		a.free = append(a.free, span{})
		copy(a.free[i+1:], a.free[i:])
		a.free[i] = s
	}
}

func (a *arena) stats() arenaStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := arenaStats{Size: a.size, InUse: a.asked, Taken: a.taken, Peak: a.peak, Allocations: a.allocs}
	for _, f := range a.free {
		st.LargestFree = max(st.LargestFree, f.size)
	}
	return st
}
