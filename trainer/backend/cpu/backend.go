package cpu

import (
	"fmt"
	"unsafe"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Float is the storage and arithmetic type of a CPU backend.
type Float interface {
	float32 | float64
}

// Tensor is a CPU tensor: a flat slice. Views share the slice's storage.
//
// Data is the storage itself, to be read through the backend (Download, or any op): a weight that
// Dequantize wrote into a tensor of this backend may still be pending there (see memory), and
// ops decode it before they touch those elements.
type Tensor[T Float] struct {
	Data []T
	mem  *memory[T] // the allocation Data belongs to; nil for tensors made outside the backend
	off  int        // where Data starts in mem.data
}

// Len is the number of elements.
func (t *Tensor[T]) Len() int { return len(t.Data) }

// quantized is a frozen NF4 weight, kept packed.
type quantized struct {
	q *nf4.Quantized
}

func (q *quantized) Shape() [2]int { return [2]int{q.q.Shape[0], q.q.Shape[1]} }

// cpuBackend implements backend.Backend with T arithmetic. It owns the scratch and the argument
// structs of its parallel kernels, so it must not be used from two goroutines at once.
type cpuBackend[T Float] struct {
	allocated int64       // bytes of every tensor made by New, Load, LoadNF4 and NewBytes (views excluded)
	scratch   [][]T       // one slot per worker, grown on first use
	scratch32 [][]float32 // the same in float32 (decoded NF4 rows)

	// One argument struct per parallel op, filled by the op's method for the duration of a call.
	dequantize        dequantizeKernel[T]
	gemm              gemmKernel[T]
	add               addKernel[T]
	embedding         embeddingKernel[T]
	rmsnorm           rmsnormKernel[T]
	rmsnormBackward   rmsnormBackwardKernel[T]
	rope              ropeKernel[T]
	attention         attentionKernel[T]
	attentionBackward attentionBackwardKernel[T]
	swiglu            swigluKernel[T]
	dropout           dropoutKernel[T]
	crossEntropy      crossEntropyKernel[T]

	optim optimScratch[T] // the optimizer ops' kernels and partial sums (optim.go)
	full  fullScratch[T]  // the full-training ops' kernels and bucketing (full.go)
}

// New returns a CPU backend computing in T.
func New[T Float]() backend.Backend { return &cpuBackend[T]{} }

func (bk *cpuBackend[T]) Name() string {
	var zero T
	return fmt.Sprintf("cpu-%T", zero)
}

// workspace returns scratch slots for workers goroutines, each at least size elements.
func (bk *cpuBackend[T]) workspace(workers, size int) [][]T {
	for len(bk.scratch) < workers {
		bk.scratch = append(bk.scratch, nil)
	}
	for w := range workers {
		if len(bk.scratch[w]) < size {
			bk.scratch[w] = make([]T, size)
		}
	}
	return bk.scratch[:workers]
}

// data returns the slice of t, checking that t belongs to this backend's type and holds want
// elements (any number when want < 0). op and arg name the failure.
// A weight pending in it is decoded first, so every op sees what Dequantize wrote.
func data[T Float](t backend.Tensor, op, arg string, want int) []T {
	ct := tensor[T](t, op, arg)
	if want >= 0 && len(ct.Data) != want {
		panic(fmt.Sprintf("cpu.%s: %s has %d elements, want %d", op, arg, len(ct.Data), want))
	}
	if ct.mem != nil && ct.mem.nparts > 0 {
		ct.mem.settle(ct.off, len(ct.Data))
	}
	return ct.Data
}

// tensor returns t as this backend's tensor type, naming op and arg when it is not.
func tensor[T Float](t backend.Tensor, op, arg string) *Tensor[T] {
	ct, ok := t.(*Tensor[T])
	if !ok {
		var zero T
		panic(fmt.Sprintf("cpu.%s: %s is %T, want *cpu.Tensor[%T]", op, arg, t, zero))
	}
	return ct
}

// checkSizes panics unless every size is ≥ 0.
func checkSizes(op string, sizes ...int) {
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("cpu.%s: negative size %d", op, s))
		}
	}
}

func (bk *cpuBackend[T]) New(n int) backend.Tensor {
	checkSizes("New", n)
	bk.count(n)
	return newMemory(make([]T, n))
}

// NewFP32 is New: the CPU computes in T everywhere.
func (bk *cpuBackend[T]) NewFP32(n int) backend.Tensor { return bk.New(n) }

// AllocatedBytes is the memory of every tensor this backend has made (views excluded), scratch
// not included: what the memory planner's exact components count.
func (bk *cpuBackend[T]) AllocatedBytes() int64 { return bk.allocated }

// count adds n elements of T to the allocation total.
func (bk *cpuBackend[T]) count(n int) {
	var zero T
	bk.allocated += int64(n) * int64(unsafe.Sizeof(zero))
}

// View returns the same tensor for the same part of an allocation each time (views are
// immutable), so that the views a training step takes allocate nothing once warm.
func (bk *cpuBackend[T]) View(t backend.Tensor, offset, n int) backend.Tensor {
	parent := tensor[T](t, "View", "t")
	if offset < 0 || n < 0 || offset+n > len(parent.Data) {
		panic(fmt.Sprintf("cpu.View: [%d, %d) outside a tensor of %d elements", offset, offset+n, len(parent.Data)))
	}
	if parent.mem == nil {
		return &Tensor[T]{Data: parent.Data[offset : offset+n : offset+n]}
	}
	return parent.mem.view(parent.off+offset, n)
}

func (bk *cpuBackend[T]) Load(t safetensors.Tensor) (backend.Tensor, error) {
	name := fmt.Sprintf("tensor %q", t.Name)
	if t.File != "" {
		name = t.File + ": " + name
	}
	switch t.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return nil, fmt.Errorf("cpu.Load: %s: dtype %s, want F32, F16 or BF16", name, t.DType)
	}
	n := t.NumElements()
	if len(t.Data) != n*t.DType.Size() {
		return nil, fmt.Errorf("cpu.Load: %s: %d bytes for %d elements of %s", name, len(t.Data), n, t.DType)
	}
	out := make([]T, n)
	bk.count(n)
	f32, ok := any(out).([]float32)
	if !ok {
		f32 = make([]float32, n)
	}
	if err := t.DecodeFloat32s(f32); err != nil {
		return nil, fmt.Errorf("cpu.Load: %w", err)
	}
	if !ok {
		for i, x := range f32 {
			out[i] = T(x)
		}
	}
	return newMemory(out), nil
}

func (bk *cpuBackend[T]) LoadNF4(q *nf4.Quantized) backend.Quantized {
	if len(q.Shape) != 2 {
		panic(fmt.Sprintf("cpu.LoadNF4: shape %v, want (out, in)", q.Shape))
	}
	bk.allocated += nf4.Bytes(q.Len(), q.Blocksize, q.Double != nil)
	return &quantized{q: q}
}

func (bk *cpuBackend[T]) Upload(dst backend.Tensor, src []float64) {
	d := data[T](dst, "Upload", "dst", len(src))
	for i, x := range src {
		d[i] = T(x)
	}
}

func (bk *cpuBackend[T]) Download(dst []float64, src backend.Tensor) {
	s := data[T](src, "Download", "src", len(dst))
	for i, x := range s {
		dst[i] = float64(x)
	}
}

func (bk *cpuBackend[T]) Zero(t backend.Tensor) {
	clear(data[T](t, "Zero", "t", -1))
}

func (bk *cpuBackend[T]) Copy(dst, src backend.Tensor) {
	s := data[T](src, "Copy", "src", -1)
	copy(data[T](dst, "Copy", "dst", len(s)), s)
}

// Dequantize writes w (out, in) as T into out (out, in). Into a tensor of this backend it writes
// lazily: the elements are marked as holding w (memory.pending), a Gemm that takes exactly them as
// its b decodes w tile by tile while packing (gemm_nf4.go), and any other op that touches them
// decodes them in full first. So the whole weight is never expanded on the training path.
func (bk *cpuBackend[T]) Dequantize(out backend.Tensor, w backend.Quantized) {
	qw, ok := w.(*quantized)
	if !ok {
		panic(fmt.Sprintf("cpu.Dequantize: w is %T, not a CPU weight", w))
	}
	ot := tensor[T](out, "Dequantize", "out")
	if len(ot.Data) != qw.q.Len() {
		panic(fmt.Sprintf("cpu.Dequantize: out has %d elements, want %d", len(ot.Data), qw.q.Len()))
	}
	if ot.mem != nil {
		ot.mem.defer_(ot.off, qw.q)
		return
	}
	bk.dequantizeInto(ot.Data, qw.q)
}

// dequantizeInto decodes q into o on every core.
func (bk *cpuBackend[T]) dequantizeInto(o []T, q *nf4.Quantized) {
	const grain = 1 << 14
	bk.dequantize = dequantizeKernel[T]{out: o, q: q}
	parallelFor(len(o), grain, workersFor(len(o), grain), &bk.dequantize)
	bk.dequantize = dequantizeKernel[T]{}
}

type dequantizeKernel[T Float] struct {
	out []T
	q   *nf4.Quantized
}

func (k *dequantizeKernel[T]) run(_, lo, hi int) {
	if f32, ok := any(k.out).([]float32); ok {
		k.q.DequantizeRange(f32[lo:hi], lo)
		return
	}
	var buf [512]float32
	for lo < hi {
		part := buf[:min(len(buf), hi-lo)]
		k.q.DequantizeRange(part, lo)
		for i, x := range part {
			k.out[lo+i] = T(x)
		}
		lo += len(part)
	}
}
