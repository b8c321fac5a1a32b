//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"sync"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Tensor is a CUDA tensor: n elements of dt at ptr, inside an arena allocation it keeps alive.
type Tensor struct {
	mem *allocation
	ptr devicePtr
	n   int
	dt  dtype
}

// Len is the number of elements.
func (t *Tensor) Len() int { return t.n }

// Bytes is a CUDA byte buffer: 8-bit optimizer states.
type Bytes struct {
	mem *allocation
	ptr devicePtr
	n   int
}

// Len is the number of bytes.
func (b *Bytes) Len() int { return b.n }

// Backend implements backend.Backend on the process's GPU. Backends share the device (context,
// stream, arena, cuBLAS); each has its own scratch, so one Backend serves one goroutine at a time,
// as the interface says, and several may serve several.
type Backend struct {
	dev       *device
	scratch   scratch
	allocated int64 // bytes of every tensor this backend made (views and scratch excluded)
	fusedNF4  bool  // Gemm decodes NF4 weights itself (QLORA_CUDA_NF4_GEMM=fused, nf4_gemm.go)
}

var opened struct {
	sync.Mutex
	dev *device
	err error
}

// Open returns a backend on the process's GPU, opening the device (CUDA device 0: its primary
// context, a stream, the kernels, cuBLAS) on first use; opt applies to that first opening only.
// Each Backend reads QLORA_CUDA_NF4_GEMM when it opens (nf4_gemm.go).
func Open(opt Options) (*Backend, error) {
	fused, err := fusedNF4FromEnv()
	if err != nil {
		return nil, err
	}
	opened.Lock()
	defer opened.Unlock()
	if opened.dev == nil && opened.err == nil {
		opened.dev, opened.err = openDevice(opt)
	}
	if opened.err != nil {
		return nil, opened.err
	}
	return &Backend{dev: opened.dev, fusedNF4: fused}, nil
}

// New returns a backend with the default options, for backendtest.Run; it panics when there is no
// usable GPU.
func New() backend.Backend {
	b, err := Open(Options{})
	if err != nil {
		panic(err)
	}
	return b
}

func (b *Backend) Name() string { return "cuda" }

// Describe names the GPU, its compute capability, and the driver and cuBLAS versions.
func (b *Backend) Describe() string { return b.dev.drv.describe() }

// tensor returns t as a CUDA tensor of want elements (any number when want < 0), or panics naming
// the op and argument. It first writes the NF4 weights pending in t's memory (nf4_gemm.go): every
// op takes its tensors through it, so none sees the pending state.
func tensor(t backend.Tensor, op, arg string, want int) *Tensor {
	ct := lookup(t, op, arg, want)
	settle(ct)
	return ct
}

// lookup is tensor without settling: for View, Dequantize's output and Gemm's b.
func lookup(t backend.Tensor, op, arg string, want int) *Tensor {
	ct, ok := t.(*Tensor)
	if !ok {
		panic(fmt.Sprintf("cuda.%s: %s is %T, want *cuda.Tensor", op, arg, t))
	}
	if want >= 0 && ct.n != want {
		panic(fmt.Sprintf("cuda.%s: %s has %d elements, want %d", op, arg, ct.n, want))
	}
	return ct
}

func byteBuffer(b backend.Bytes, op, arg string, want int) *Bytes {
	cb, ok := b.(*Bytes)
	if !ok {
		panic(fmt.Sprintf("cuda.%s: %s is %T, want *cuda.Bytes", op, arg, b))
	}
	if want >= 0 && cb.n != want {
		panic(fmt.Sprintf("cuda.%s: %s has %d bytes, want %d", op, arg, cb.n, want))
	}
	return cb
}

func checkSizes(op string, sizes ...int) {
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("cuda.%s: negative size %d", op, s))
		}
	}
}

// newTensor allocates n zeroed elements of dt.
func (b *Backend) newTensor(op string, n int, dt dtype) *Tensor {
	checkSizes(op, n)
	mem := b.dev.allocate(op, int64(n)*dt.size())
	b.allocated += mem.bytes
	t := &Tensor{mem: mem, ptr: mem.ptr, n: n, dt: dt}
	if n > 0 {
		b.dev.do(func() { b.dev.drv.zero(t.ptr, mem.bytes) })
	}
	return t
}

// New returns n zeroed bf16 elements: activations.
func (b *Backend) New(n int) backend.Tensor { return b.newTensor("New", n, dtBF16) }

// NewFP32 returns n zeroed float32 elements: parameters, gradients, optimizer states, statistics.
func (b *Backend) NewFP32(n int) backend.Tensor { return b.newTensor("NewFP32", n, dtF32) }

func (b *Backend) View(t backend.Tensor, offset, n int) backend.Tensor {
	ct := lookup(t, "View", "t", -1)
	if offset < 0 || n < 0 || offset+n > ct.n {
		panic(fmt.Sprintf("cuda.View: [%d, %d) outside a tensor of %d elements", offset, offset+n, ct.n))
	}
	return &Tensor{mem: ct.mem, ptr: ct.ptr + devicePtr(int64(offset)*ct.dt.size()), n: n, dt: ct.dt}
}

// Load copies a frozen checkpoint tensor to the GPU as bf16 (F32 and F16 are rounded to it). An
// arena too small for it is an *OutOfMemoryError, returned.
func (b *Backend) Load(st safetensors.Tensor) (t backend.Tensor, err error) {
	name := fmt.Sprintf("tensor %q", st.Name)
	if st.File != "" {
		name = st.File + ": " + name
	}
	switch st.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return nil, fmt.Errorf("cuda.Load: %s: dtype %s, want F32, F16 or BF16", name, st.DType)
	}
	n := st.NumElements()
	if len(st.Data) != n*st.DType.Size() {
		return nil, fmt.Errorf("cuda.Load: %s: %d bytes for %d elements of %s", name, len(st.Data), n, st.DType)
	}
	raw := st.Data
	if st.DType != safetensors.BF16 {
		f32 := make([]float32, n)
		if err := st.DecodeFloat32s(f32); err != nil {
			return nil, fmt.Errorf("cuda.Load: %w", err)
		}
		raw = make([]byte, 2*n)
		for i, x := range f32 {
			h := float32ToBF16(x)
			raw[2*i], raw[2*i+1] = byte(h), byte(h>>8)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			var oom *OutOfMemoryError
			if !ok || !errors.As(e, &oom) {
				panic(r)
			}
			oom.Op = "Load " + name
			t, err = nil, e
		}
	}()
	mem := b.dev.allocate("Load", int64(len(raw)))
	b.allocated += mem.bytes
	b.dev.do(func() { b.dev.drv.upload(mem.ptr, raw) })
	return &Tensor{mem: mem, ptr: mem.ptr, n: n, dt: dtBF16}, nil
}

// Upload rounds src to dst's storage type (to nearest even) and copies it to the GPU.
func (b *Backend) Upload(dst backend.Tensor, src []float64) {
	t := tensor(dst, "Upload", "dst", len(src))
	raw := make([]byte, int64(len(src))*t.dt.size())
	encodeFloats(raw, src, t.dt)
	b.dev.do(func() { b.dev.drv.upload(t.ptr, raw) })
}

// Download copies src from the GPU into dst, exactly, after the work queued before it.
func (b *Backend) Download(dst []float64, src backend.Tensor) {
	t := tensor(src, "Download", "src", len(dst))
	raw := make([]byte, int64(len(dst))*t.dt.size())
	b.dev.do(func() { b.dev.drv.download(raw, t.ptr) })
	decodeFloats(dst, raw, t.dt)
}

func (b *Backend) Zero(t backend.Tensor) {
	ct := tensor(t, "Zero", "t", -1)
	if ct.n > 0 {
		b.dev.do(func() { b.dev.drv.zero(ct.ptr, int64(ct.n)*ct.dt.size()) })
	}
}

// Copy copies src into dst, converting when their storage types differ.
func (b *Backend) Copy(dst, src backend.Tensor) {
	s := tensor(src, "Copy", "src", -1)
	d := tensor(dst, "Copy", "dst", s.n)
	if s.n == 0 {
		return
	}
	b.dev.do(func() {
		if s.dt == d.dt {
			b.dev.drv.copyDevice(d.ptr, s.ptr, int64(s.n)*s.dt.size())
			return
		}
		b.dev.drv.launch(kCast, grid1D(s.n), block1D, argv(d, s, s.n))
	})
}

// NewBytes returns n zeroed bytes.
func (b *Backend) NewBytes(n int) backend.Bytes {
	checkSizes("NewBytes", n)
	mem := b.dev.allocate("NewBytes", int64(n))
	b.allocated += mem.bytes
	if n > 0 {
		b.dev.do(func() { b.dev.drv.zero(mem.ptr, int64(n)) })
	}
	return &Bytes{mem: mem, ptr: mem.ptr, n: n}
}

func (b *Backend) UploadBytes(dst backend.Bytes, src []byte) {
	d := byteBuffer(dst, "UploadBytes", "dst", len(src))
	if len(src) > 0 {
		b.dev.do(func() { b.dev.drv.upload(d.ptr, src) })
	}
}

func (b *Backend) DownloadBytes(dst []byte, src backend.Bytes) {
	s := byteBuffer(src, "DownloadBytes", "src", len(dst))
	if len(dst) > 0 {
		b.dev.do(func() { b.dev.drv.download(dst, s.ptr) })
	}
}

// AllocatedBytes is the memory of every tensor this backend has made (New, NewFP32, Load, LoadNF4,
// NewBytes; views and the backend's scratch excluded), as the CPU backend counts it: what the
// memory planner's exact components count.
func (b *Backend) AllocatedBytes() int64 { return b.allocated }

// MemoryStats is the arena's and the GPU's use.
type MemoryStats struct {
	ArenaBytes  int64 // reserved
	InUse       int64 // bytes asked for by live tensors and scratch
	Peak        int64 // the largest InUse has been
	Device      int64 // the GPU's memory in use by everything (NVML, else the CUDA driver)
	Process     int64 // what NVML counts for this process, or -1 when it does not say
	Total       int64 // the GPU's memory
	Utilization int   // percent of the last sample period the GPU was busy (NVML), or -1
}

// Memory returns the arena's and the GPU's use now.
func (b *Backend) Memory() MemoryStats {
	d := b.dev
	a := d.stats()
	st := MemoryStats{ArenaBytes: a.Size, InUse: a.InUse, Peak: a.Peak, Process: -1, Utilization: -1}
	d.do(func() {
		free, total := d.drv.memInfo()
		st.Device, st.Total = total-free, total
	})
	if s := d.nvml(); s != nil {
		sample := s.Sample()
		if sample.DeviceUsed >= 0 {
			st.Device = sample.DeviceUsed
		}
		if sample.ProcessKnown {
			st.Process = sample.ProcessUsed
		}
		st.Utilization = sample.UtilizationGPU
	}
	return st
}

// MemoryInUse is what this process holds on the GPU less the arena's unused part: its tensors and
// scratch, the CUDA context, cuBLAS. The run's step events report it (trainer/run's memoryInUse).
// Where NVML does not attribute memory to processes (some containers), it is the whole GPU's use
// less the free arena, so other programs on the GPU count too.
func (b *Backend) MemoryInUse() int64 {
	st := b.Memory()
	held := st.Process
	if held < 0 {
		held = st.Device
	}
	return held - (st.ArenaBytes - st.InUse)
}

// Utilization is the GPU's busy percentage over NVML's last sample period, or -1 when NVML cannot
// say. The run's step events report it (trainer/run's gpuUtilization).
func (b *Backend) Utilization() int { return b.Memory().Utilization }

// ResetPeak starts measuring a new peak of the arena from its present use.
func (b *Backend) ResetPeak() { b.dev.resetPeak() }
