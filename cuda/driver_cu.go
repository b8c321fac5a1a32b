//go:build cuda && !cudaemu

package cuda

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"gorgonia.org/cu"
)

// cuDriver is the GPU: gorgonia.org/cu for the primary context of device 0, one stream, memory,
// copies and launches; cuBLAS through dlopen (cublas_cu.go); pinned staging memory through our own
// binding (pinned_cu.go). Every method runs on the device goroutine, where the context is current.
//
// All work goes to one stream, in order. A kernel's failure (an illegal address, say) surfaces at
// the next synchronisation, a download; with QLORA_CUDA_SYNC=1 every launch is synchronised, so
// the failure names its kernel (slow: for debugging and the device checks).
type cuDriver struct {
	device    cu.Device
	ctx       cu.CUContext
	stream    cu.Stream
	modules   map[string]cu.Module
	functions map[*kernel]cu.Function
	blas      *cublas
	staging   pinned
	syncEach  bool
	recent    []string // the last kernels launched, for the message when one fails
	desc      string
	prof      *eventProfile // while profiling
}

// stagingBytes is the pinned buffer every upload and download passes through, in pieces.
const stagingBytes = 64 << 20

func openDevice(opt Options) (*device, error) {
	drv := &cuDriver{modules: map[string]cu.Module{}, functions: map[*kernel]cu.Function{}, syncEach: os.Getenv("QLORA_CUDA_SYNC") == "1"}
	work, err := startWorker(drv.init)
	if err != nil {
		return nil, err
	}
	return &device{drv: drv, work: work, opt: opt}, nil
}

// init runs on the device goroutine: device 0's primary context made current (the context cuBLAS
// uses too), a stream, every module (the driver compiles the PTX for this GPU), cuBLAS.
func (d *cuDriver) init() error {
	n, err := cu.NumDevices()
	if err != nil || n == 0 {
		return fmt.Errorf("cuda: no CUDA device (%v)", err)
	}
	if d.device, err = cu.GetDevice(0); err != nil {
		return fmt.Errorf("cuda: device 0: %w", err)
	}
	name, _ := d.device.Name()
	major, minor, err := d.device.ComputeCapability()
	if err != nil {
		return fmt.Errorf("cuda: %s: %w", name, err)
	}
	if major < 8 {
		return fmt.Errorf("cuda: %s has compute capability %d.%d; the kernels need 8.0 or newer (Ampere: bf16)", name, major, minor)
	}
	if d.ctx, err = d.device.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("cuda: %s: primary context: %w", name, err)
	}
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: %s: %w", name, err)
	}
	if d.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return fmt.Errorf("cuda: %s: stream: %w", name, err)
	}
	for _, m := range modules() {
		mod, err := cu.LoadData(modulePTX(m))
		if err != nil {
			return fmt.Errorf("cuda: loading kernels/%s.ptx on %s (sm_%d%d): %w", m, name, major, minor, err)
		}
		d.modules[m] = mod
	}
	if d.staging, err = allocPinned(stagingBytes); err != nil {
		return fmt.Errorf("cuda: pinned staging memory: %w", err)
	}
	if d.blas, err = openCublas(streamHandle(d.stream)); err != nil {
		return err
	}
	v := cu.Version()
	d.desc = fmt.Sprintf("%s (sm_%d%d), driver for CUDA %d.%d, %s", name, major, minor, v/1000, v%1000/10, d.blas.desc)
	return nil
}

func (d *cuDriver) describe() string { return d.desc }

func (d *cuDriver) uuid() string {
	id, err := d.device.UUID()
	if err != nil {
		return ""
	}
	return "GPU-" + id.String()
}

func (d *cuDriver) memInfo() (free, total int64) {
	free, total, err := cu.MemInfo()
	d.check("cuMemGetInfo", err)
	return free, total
}

func (d *cuDriver) reserve(bytes int64) (devicePtr, error) {
	p, err := cu.MemAlloc(bytes)
	return devicePtr(p), err
}

func (d *cuDriver) upload(dst devicePtr, src []byte) {
	for off := 0; off < len(src); off += stagingBytes {
		n := min(stagingBytes, len(src)-off)
		copy(d.staging.bytes[:n], src[off:off+n])
		d.check("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(dst)+cu.DevicePtr(off), d.staging.ptr, int64(n), d.stream))
		d.synchronize() // the staging buffer is reused next
	}
}

func (d *cuDriver) download(dst []byte, src devicePtr) {
	for off := 0; off < len(dst); off += stagingBytes {
		n := min(stagingBytes, len(dst)-off)
		d.check("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(d.staging.ptr, cu.DevicePtr(src)+cu.DevicePtr(off), int64(n), d.stream))
		d.synchronize()
		copy(dst[off:off+n], d.staging.bytes[:n])
	}
}

func (d *cuDriver) copyDevice(dst, src devicePtr, bytes int64) {
	d.check("cuMemcpyDtoDAsync", cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, d.stream))
}

func (d *cuDriver) zero(dst devicePtr, bytes int64) {
	d.check("cuMemsetD8Async", cu.MemsetD8Async(cu.DevicePtr(dst), 0, bytes, d.stream))
}

func (d *cuDriver) function(k *kernel) cu.Function {
	if fn, ok := d.functions[k]; ok {
		return fn
	}
	fn, err := d.modules[k.module].Function(k.name)
	d.check("cuModuleGetFunction "+k.String(), err)
	d.functions[k] = fn
	return fn
}

func (d *cuDriver) launch(k *kernel, grid, block [3]uint32, args []uint64) {
	if len(args) != k.params {
		panic(fmt.Sprintf("cuda: %s takes %d parameters, given %d", k, k.params, len(args)))
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	d.recent = append(d.recent, k.name)
	if len(d.recent) > 8 {
		d.recent = d.recent[1:]
	}
	fn := d.function(k)
	d.timed(k.name, func() {
		err := fn.Launch(int(grid[0]), int(grid[1]), int(grid[2]), int(block[0]), int(block[1]), int(block[2]), 0, d.stream, params)
		d.check("launching "+k.String(), err)
	})
	if d.syncEach {
		d.synchronize()
	}
}

func (d *cuDriver) gemm(g *gemmCall) {
	var st int
	name := ""
	if d.prof != nil {
		name = gemmName(g) // formatted only while profiling: GEMMs are most of a step's launches
	}
	d.timed(name, func() { st = d.blas.gemmEx(g) })
	if st != 0 {
		panic(fmt.Sprintf("cuda: cublasGemmEx(m=%d n=%d k=%d, types %d·%d→%d, ld %d %d %d): cuBLAS status %d",
			g.m, g.n, g.k, g.aType, g.bType, g.cType, g.lda, g.ldb, g.ldc, st))
	}
	d.recent = append(d.recent, "cublasGemmEx")
	if d.syncEach {
		d.synchronize()
	}
}

func (d *cuDriver) setWorkspace(p devicePtr, bytes int64) {
	if st := d.blas.setWorkspace(p, bytes); st != 0 {
		panic(fmt.Sprintf("cuda: cublasSetWorkspace: cuBLAS status %d", st))
	}
}

func (d *cuDriver) synchronize() {
	if err := d.stream.Synchronize(); err != nil {
		panic(fmt.Errorf("cuda: the GPU failed running [%s]: %w", strings.Join(d.recent, " "), err))
	}
	d.recent = d.recent[:0]
}

func (d *cuDriver) track(devicePtr, int64) {}
func (d *cuDriver) untrack(devicePtr)      {}

// check panics with a CUDA error, naming the call.
func (d *cuDriver) check(call string, err error) {
	if err != nil {
		panic(fmt.Errorf("cuda: %s: %w", call, err))
	}
}

// streamHandle is the CUstream inside a cu.Stream (a struct holding only it), for cuBLAS.
func streamHandle(s cu.Stream) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&s))
}
