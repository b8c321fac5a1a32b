//go:build cudaemu && !cuda

package cuda

import (
	"fmt"
	"sync"
	"time"

	"github.com/qlora-studio/qlora-studio/cuda/internal/emu"
)

// emuDriver runs the kernels on the CPU through the emulator (internal/emu), for testing the
// backend without a GPU: `go test -tags cudaemu ./cuda`. It has no thread to stay on, so the
// device runs work inline; device memory is host memory; cuBLAS is the emulator's GemmEx.
type emuDriver struct {
	total    int64
	reserved int64
	spans    []timedSpan // while profiling, else nil
	profile  bool

	// running is held while a kernel or GEMM runs. A tensor nothing refers to any more may be
	// released by a runtime cleanup in the middle of a launch that uses it; on a GPU the stream
	// orders its reuse after that launch, here untrack waits for the launch to end.
	running sync.Mutex
}

// emuMemory is the emulated GPU's size (host memory, committed only where touched).
const emuMemory = 4 << 30

func openDevice(opt Options) (*device, error) {
	return &device{drv: &emuDriver{total: emuMemory}, opt: opt}, nil
}

func (d *emuDriver) describe() string { return "CUDA emulator (the kernels on the CPU)" }
func (d *emuDriver) uuid() string     { return "" }

func (d *emuDriver) memInfo() (free, total int64) { return d.total - d.reserved, d.total }

func (d *emuDriver) reserve(bytes int64) (devicePtr, error) {
	p := emu.Malloc(bytes)
	if p == 0 {
		return 0, fmt.Errorf("emulator: no host memory for %d bytes", bytes)
	}
	d.reserved += bytes
	return devicePtr(p), nil
}

func (d *emuDriver) upload(dst devicePtr, src []byte)   { emu.CopyIn(uintptr(dst), src) }
func (d *emuDriver) download(dst []byte, src devicePtr) { emu.CopyOut(dst, uintptr(src)) }
func (d *emuDriver) copyDevice(dst, src devicePtr, bytes int64) {
	emu.Copy(uintptr(dst), uintptr(src), bytes)
}
func (d *emuDriver) zero(dst devicePtr, bytes int64) { emu.Zero(uintptr(dst), bytes) }

func (d *emuDriver) launch(k *kernel, grid, block [3]uint32, args []uint64) {
	if len(args) != k.params {
		panic(fmt.Sprintf("cuda: %s takes %d parameters, given %d", k, k.params, len(args)))
	}
	d.timed(k.name, func() {
		if err := emu.Launch(k.name, grid, block, 0, args); err != nil {
			panic(fmt.Errorf("cuda: %s: %w", k, err))
		}
	})
}

func (d *emuDriver) gemm(g *gemmCall) {
	var st int
	name := ""
	if d.profile {
		name = gemmName(g) // formatted only while profiling, as on a GPU
	}
	d.timed(name, func() {
		st = emu.GemmEx(b2i(g.transA), b2i(g.transB), g.m, g.n, g.k, g.alpha, uintptr(g.a), g.aType, g.lda,
			uintptr(g.b), g.bType, g.ldb, g.beta, uintptr(g.c), g.cType, g.ldc)
	})
	if st != 0 {
		panic(fmt.Sprintf("cuda: cublasGemmEx(m=%d n=%d k=%d, types %d·%d→%d, ld %d %d %d): cuBLAS status %d",
			g.m, g.n, g.k, g.aType, g.bType, g.cType, g.lda, g.ldb, g.ldc, st))
	}
}

func (d *emuDriver) setWorkspace(devicePtr, int64) {}

// The emulator runs each launch to its end before returning, so the host clock times it.
func (d *emuDriver) startProfile() { d.profile = true }

func (d *emuDriver) timed(name string, launch func()) {
	d.running.Lock()
	defer d.running.Unlock()
	if !d.profile {
		launch()
		return
	}
	start := time.Now()
	launch()
	d.spans = append(d.spans, timedSpan{name: name, seconds: time.Since(start).Seconds()})
}

func (d *emuDriver) stopProfile() []timedSpan {
	spans := d.spans
	d.profile, d.spans = false, nil
	return spans
}

func (d *emuDriver) track(p devicePtr, bytes int64) { emu.Track(uintptr(p), bytes) }
func (d *emuDriver) untrack(p devicePtr) {
	d.running.Lock()
	defer d.running.Unlock()
	emu.Untrack(uintptr(p))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
