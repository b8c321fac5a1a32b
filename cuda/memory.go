//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// The device's memory is an arena: segments reserved with cuMemAlloc, each sub-allocated by first
// fit (arena.go), never given back while the process runs.
//
// Sized from the plan: ReservePlan (or Options.ArenaBytes) reserves one segment, the plan's tensors
// and cuBLAS workspace plus the backend's small scratch, before anything is allocated, and never
// grows it. A run that cannot fit fails there with the plan's figures; an allocation past the plan
// fails naming it, so plan and reality cannot drift apart unnoticed.
//
// Without a plan, segments are reserved as tensors need them, each at least growStep: the GPU's
// memory in use (nvidia-smi, the desktop's chart) follows the run, and the display and other
// programs on a workstation GPU keep theirs.

// growStep is the smallest segment a growing arena reserves.
const growStep = 256 << 20

// segment is one reservation and its sub-allocator.
type segment struct {
	base  devicePtr
	arena *arena
}

// allocation is a range of a segment; a runtime cleanup returns it when nothing refers to it. The
// one stream orders every use of the memory, so a range released while kernels that read it are
// still queued is reused only by work queued after them.
type allocation struct {
	ptr     devicePtr
	bytes   int64
	pending []pendingNF4 // NF4 weights Dequantize left to the GEMM (nf4_gemm.go), oldest first
}

// allocationRef is what an allocation's cleanup needs to return it.
type allocationRef struct {
	seg    *segment
	off, n int64
}

// ReservePlan sizes the arena for a run from its plan (its tensors and cuBLAS workspace, plus the
// backend's scratch: arenaBytesFor) and reserves it, so that a run that cannot fit fails now with
// the plan's figures, and an allocation past the plan fails naming it. It must come before the
// first tensor of the process.
func (b *Backend) ReservePlan(p plan.Plan) error {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.segments) > 0 {
		return fmt.Errorf("cuda: ReservePlan after tensors were allocated (%s reserved)", gib(d.statsLocked().Size))
	}
	d.plan = &p
	return d.reserveLocked(arenaBytesFor(&p), true)
}

// reserveLocked reserves a segment of n bytes; fixed marks the arena as sized once.
func (d *device) reserveLocked(n int64, fixed bool) error {
	var p devicePtr
	var free, total int64
	var err error
	d.do(func() {
		free, total = d.drv.memInfo()
		if n <= free {
			p, err = d.drv.reserve(n)
		}
	})
	d.total = total
	if n > free || err != nil {
		oom := &OutOfMemoryError{Op: "reserving GPU memory", Requested: n, Arena: d.statsLocked(), Free: free, Total: total, Plan: d.plan}
		if err != nil {
			return fmt.Errorf("%w (%v)", oom, err)
		}
		return oom
	}
	d.segments = append(d.segments, &segment{base: p, arena: newArena(n)})
	d.fixed = d.fixed || fixed
	return nil
}

// allocate takes n bytes, growing the arena when it may; it panics with an *OutOfMemoryError when
// they do not fit. It must not be called inside do.
func (d *device) allocate(op string, n int64) *allocation {
	d.mu.Lock()
	if len(d.segments) == 0 && d.opt.ArenaBytes > 0 {
		if err := d.reserveLocked(d.opt.ArenaBytes, true); err != nil {
			d.mu.Unlock()
			panic(err)
		}
	}
	a, err := d.allocLocked(op, n)
	setup := err == nil && !d.scratchReady
	if setup {
		d.scratchReady = true
	}
	d.mu.Unlock()
	if err != nil {
		panic(err)
	}
	if setup {
		d.setUpScratch()
	}
	return a
}

func (d *device) allocLocked(op string, n int64) (*allocation, error) {
	if a := d.fromSegments(n); a != nil {
		return a, nil
	}
	var err error
	if !d.fixed {
		if err = d.reserveLocked(max(spanSize(n), growStep), false); err == nil {
			return d.fromSegments(n), nil
		}
	}
	// Tensors nothing refers to any more hold device memory until the garbage collector runs their
	// cleanups, and Go does not know that memory is short: collect, and try again.
	if d.collectGarbage() {
		if a := d.fromSegments(n); a != nil {
			return a, nil
		}
	}
	var oom *OutOfMemoryError
	if errors.As(err, &oom) {
		oom.Op, oom.Requested = op, n
		return nil, err
	}
	var free int64
	d.do(func() { free, _ = d.drv.memInfo() })
	return nil, &OutOfMemoryError{Op: op, Requested: n, Arena: d.statsLocked(), Free: free, Total: d.total, Plan: d.plan}
}

// fromSegments takes n bytes from the first segment with room, or returns nil.
func (d *device) fromSegments(n int64) *allocation {
	for _, s := range d.segments {
		if off, ok := s.arena.alloc(n); ok {
			return d.track(s, off, n)
		}
	}
	return nil
}

// collectGarbage runs the garbage collector and waits, up to a second, for the cleanups it queued
// to return memory; it reports whether any came back.
func (d *device) collectGarbage() bool {
	before := d.inUse.Load()
	runtime.GC()
	for range 100 {
		if d.inUse.Load() < before {
			time.Sleep(10 * time.Millisecond) // let the rest of the cleanups run
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (d *device) track(s *segment, off, n int64) *allocation {
	use := d.inUse.Add(n)
	for p := d.peak.Load(); use > p && !d.peak.CompareAndSwap(p, use); p = d.peak.Load() {
	}
	a := &allocation{ptr: s.base + devicePtr(off), bytes: n}
	d.drv.track(a.ptr, n)
	runtime.AddCleanup(a, d.release, allocationRef{s, off, n})
	return a
}

// release is an allocation's cleanup.
func (d *device) release(r allocationRef) {
	d.drv.untrack(r.seg.base + devicePtr(r.off))
	r.seg.arena.release(r.off, r.n)
	d.inUse.Add(-r.n)
}

// setUpScratch takes the device's own scratch, at the first allocation: cuBLAS's workspace (the
// planner's "cuBLAS workspace") and the 8-bit optimizer's maps.
func (d *device) setUpScratch() {
	const workspaceBytes = 32 << 20
	d.workspace = d.allocate("cuBLAS workspace", workspaceBytes)
	d.maps8bit = d.allocate("8-bit maps", 512*4)
	maps := make([]float64, 512)
	signed, unsigned := nf4.DynamicMap(), nf4.DynamicMapUnsigned()
	for i := range 256 {
		maps[i], maps[256+i] = float64(signed[i]), float64(unsigned[i])
	}
	raw := make([]byte, 512*4)
	encodeFloats(raw, maps, dtF32)
	d.do(func() {
		d.drv.setWorkspace(d.workspace.ptr, workspaceBytes)
		d.drv.upload(d.maps8bit.ptr, raw)
	})
}

// stats sums the segments' use.
func (d *device) stats() arenaStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.statsLocked()
}

func (d *device) statsLocked() arenaStats {
	st := arenaStats{InUse: d.inUse.Load(), Peak: d.peak.Load()}
	for _, s := range d.segments {
		a := s.arena.stats()
		st.Size += a.Size
		st.Taken += a.Taken
		st.Allocations += a.Allocations
		st.LargestFree = max(st.LargestFree, a.LargestFree)
	}
	return st
}

// resetPeak starts a new peak from the present use.
func (d *device) resetPeak() { d.peak.Store(d.inUse.Load()) }
