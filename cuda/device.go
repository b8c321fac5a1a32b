//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// devicePtr is an address in device memory.
type devicePtr uintptr

// driver is what the backend needs of CUDA: the GPU through gorgonia.org/cu and cuBLAS (driver_cu.go,
// -tags cuda), or the emulator (driver_emu.go, -tags cudaemu). Its methods run on the device
// goroutine only (device.do) and panic on failure; kernels and copies run in order on one stream.
type driver interface {
	describe() string             // the GPU, its compute capability, driver and cuBLAS versions
	uuid() string                 // the GPU's UUID as NVML writes it ("GPU-…"), or ""
	memInfo() (free, total int64) // the device's memory now
	reserve(bytes int64) (devicePtr, error)
	upload(dst devicePtr, src []byte)   // returns when src may be reused
	download(dst []byte, src devicePtr) // waits for the work before it
	copyDevice(dst, src devicePtr, bytes int64)
	zero(dst devicePtr, bytes int64)
	launch(k *kernel, grid, block [3]uint32, args []uint64)
	gemm(g *gemmCall)
	setWorkspace(p devicePtr, bytes int64)
	// startProfile times every launch and GEMM from now on; stopProfile waits for them and
	// returns their times, in launch order.
	startProfile()
	stopProfile() []timedSpan
	// track and untrack tell the emulator which memory the kernels may touch; no-ops on a GPU.
	track(p devicePtr, bytes int64)
	untrack(p devicePtr)
}

// gemmCall is one cublasGemmEx, column-major, with CUBLAS_COMPUTE_32F: c (m,n) = alpha·op(a)·op(b) +
// beta·c, op = transpose when trans is set; types are cudaDataType values.
type gemmCall struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              devicePtr
	aType, lda     int
	b              devicePtr
	bType, ldb     int
	c              devicePtr
	cType, ldc     int
}

// device is the one GPU of the process and everything that belongs to its context: the driver, the
// goroutine the context is current on, the memory (memory.go), the cuBLAS workspace and the 8-bit
// optimizer's code maps. Every Backend shares it.
type device struct {
	drv  driver
	work chan func() // to the goroutine locked to the context's OS thread; nil runs work inline
	opt  Options

	mu           sync.Mutex // guards the memory's segments and the lazy setup
	segments     []*segment
	fixed        bool       // one segment sized from a plan (or Options.ArenaBytes): it never grows
	plan         *plan.Plan // the run's plan, when ReservePlan gave one
	total        int64      // the GPU's memory, learned at the first reservation
	scratchReady bool
	inUse, peak  atomic.Int64 // bytes asked for by live allocations, and the most there have been

	workspace *allocation // cuBLAS's
	maps8bit  *allocation // the signed, then the unsigned dynamic map (512 float32)

	samplerOnce sync.Once
	sampler     *gpuinfo.Sampler // NVML on this GPU, or nil when NVML cannot say
}

// nvml returns the NVML sampler of this GPU, starting it on first use; nil when NVML is missing or
// does not know the GPU.
func (d *device) nvml() *gpuinfo.Sampler {
	d.samplerOnce.Do(func() {
		var uuid string
		d.do(func() { uuid = d.drv.uuid() })
		if uuid != "" {
			d.sampler, _ = gpuinfo.NewSampler(uuid, os.Getpid())
		}
	})
	return d.sampler
}

// Options configure the process's device; the first New or Open wins.
type Options struct {
	// ArenaBytes, when not 0, reserves one arena of that many bytes at the first allocation and
	// never grows it (as ReservePlan does from a plan); 0 grows the arena as tensors need.
	ArenaBytes int64
}

// do runs f on the device goroutine and waits; a panic in f is raised again on the caller's
// goroutine. f must not call do (it would wait for itself) or allocate from the arena.
func (d *device) do(f func()) {
	if d.work == nil {
		f()
		return
	}
	done := make(chan any, 1)
	d.work <- func() {
		defer func() { done <- recover() }()
		f()
	}
	if p := <-done; p != nil {
		panic(p)
	}
}

// startWorker starts the goroutine that owns the context: locked to its OS thread, it runs init
// (which makes the context current) and then every function sent to work.
func startWorker(init func() error) (chan func(), error) {
	work := make(chan func())
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := init(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range work {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return work, nil
}

// grid1D is the grid for n items of a grid-stride kernel.
func grid1D(n int) [3]uint32 {
	blocks := (n + threadsPerBlock - 1) / threadsPerBlock
	return [3]uint32{uint32(min(max(blocks, 1), 1<<16)), 1, 1}
}

var block1D = [3]uint32{threadsPerBlock, 1, 1}

// argv packs kernel parameters as their 8 bytes: a *Tensor as its pointer and dtype, a *Bytes or
// *allocation as its pointer, devicePtr as itself, ints, bools (0 or 1) and float64s.
func argv(vals ...any) []uint64 {
	out := make([]uint64, 0, 2*len(vals))
	for _, v := range vals {
		switch x := v.(type) {
		case *Tensor:
			out = append(out, uint64(x.ptr), uint64(x.dt))
		case *Bytes:
			out = append(out, uint64(x.ptr))
		case *allocation:
			out = append(out, uint64(x.ptr))
		case devicePtr:
			out = append(out, uint64(x))
		case int:
			out = append(out, uint64(int64(x)))
		case bool:
			if x {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		case float64:
			out = append(out, math.Float64bits(x))
		default:
			panic(fmt.Sprintf("cuda: kernel argument of type %T", v))
		}
	}
	return out
}
