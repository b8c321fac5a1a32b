package cpu

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// kernel is one parallel op: run computes the independent outputs [lo, hi) on worker w, which owns
// the backend's scratch slot w for the duration of the call. Kernels are structs held by the backend
// (not closures) so that handing one to the pool allocates nothing.
type kernel interface {
	run(w, lo, hi int)
}

// parallelFor runs k over [0, n) cut into chunks of grain items, on at most workers goroutines (the
// caller being worker 0). The chunks depend only on n and grain, and each item is computed by one
// goroutine from start to end, so results are the same for any number of workers. Calls do not
// nest: a kernel must not call parallelFor.
func parallelFor(n, grain, workers int, k kernel) {
	if workers <= 1 || n <= grain {
		for lo := 0; lo < n; lo += grain {
			k.run(0, lo, min(lo+grain, n))
		}
		return
	}
	pool.run(n, grain, workers, k)
}

// workersFor is the number of goroutines worth waking for n items in chunks of grain: one per
// chunk, at most GOMAXPROCS.
func workersFor(n, grain int) int {
	chunks := (n + grain - 1) / grain
	return max(1, min(chunks, runtime.GOMAXPROCS(0)))
}

// workerPool is a set of helper goroutines started on first use and kept, shared by every backend
// of the process: one parallel op runs at a time (mu), the others wait.
type workerPool struct {
	mu   sync.Mutex
	wake []chan struct{} // helper w+1 waits on wake[w]
	done sync.WaitGroup

	// The op being run, set under mu before the helpers are woken.
	k        kernel
	n, grain int
	next     atomic.Int64 // next chunk to claim

	failed   sync.Mutex
	panicked any // the first panic of a worker, raised again on the caller's goroutine
}

// kernelPanic is a panic raised in a worker, with the worker's stack.
type kernelPanic struct {
	value any
	stack []byte
}

func (k kernelPanic) String() string { return fmt.Sprintf("%v\n\nin a worker:\n%s", k.value, k.stack) }

var pool workerPool

func (p *workerPool) run(n, grain, workers int, k kernel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.wake) < workers-1 {
		ch := make(chan struct{})
		p.wake = append(p.wake, ch)
		go p.helper(len(p.wake), ch)
	}
	p.k, p.n, p.grain = k, n, grain
	p.next.Store(0)
	p.done.Add(workers - 1)
	for w := 1; w < workers; w++ {
		p.wake[w-1] <- struct{}{}
	}
	p.guard(0)
	p.done.Wait()
	p.k = nil
	if v := p.panicked; v != nil {
		p.panicked = nil
		panic(v)
	}
}

// helper runs worker w's share of each op it is woken for.
func (p *workerPool) helper(w int, wake chan struct{}) {
	for range wake {
		p.guard(w)
		p.done.Done()
	}
}

// guard runs worker w's share, keeping a panic (a bug in a kernel) for the caller to raise once
// every worker is done, rather than killing the process from a goroutine nobody can recover or
// leaving helpers running while the pool is reused.
func (p *workerPool) guard(w int) {
	defer func() {
		if v := recover(); v != nil {
			p.failed.Lock()
			if p.panicked == nil {
				p.panicked = kernelPanic{value: v, stack: debug.Stack()}
			}
			p.failed.Unlock()
			p.next.Store(int64(p.n)) // the others stop at their next chunk
		}
	}()
	p.work(w)
}

// work claims chunks until none is left.
func (p *workerPool) work(w int) {
	for {
		lo := int(p.next.Add(1)-1) * p.grain
		if lo >= p.n {
			return
		}
		p.k.run(w, lo, min(lo+p.grain, p.n))
	}
}

// launch runs a kernel that needs no scratch over n items in chunks of grain.
func (bk *cpuBackend[T]) launch(n, grain int, k kernel) {
	parallelFor(n, grain, workersFor(n, grain), k)
}
