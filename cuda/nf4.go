//go:build cuda || cudaemu

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// quantized is a frozen NF4 weight on the GPU, held as a checkpoint holds it (nf4.Bytes to the
// byte): the packed codes, and the float32 block scales or their double-quantized form (one code
// a block, one float per 256 blocks, the 256-entry map and the offset).
type quantized struct {
	shape     [2]int
	n         int
	blocksize int
	packed    *allocation
	absmax    *allocation // float32 scales, or nil when double-quantized
	codes     *allocation // double quantization: one byte a block,
	nested    *allocation // one float32 per 256 blocks,
	mapOffset *allocation // the map, then the offset (257 float32)
}

func (q *quantized) Shape() [2]int { return q.shape }

// LoadNF4 copies a frozen NF4 weight to the GPU, packed.
func (bk *Backend) LoadNF4(q *nf4.Quantized) backend.Quantized {
	if len(q.Shape) != 2 {
		panic(fmt.Sprintf("cuda.LoadNF4: shape %v, want (out, in)", q.Shape))
	}
	w := &quantized{shape: [2]int{q.Shape[0], q.Shape[1]}, n: q.Len(), blocksize: q.Blocksize}
	type piece struct {
		dst  **allocation
		data []byte
	}
	pieces := []piece{{&w.packed, q.Packed}}
	if q.Double == nil {
		pieces = append(pieces, piece{&w.absmax, float32Bytes(q.Absmax)})
	} else {
		d := q.Double
		mapOffset := append(append([]float32{}, d.Map[:]...), d.Offset)
		pieces = append(pieces, piece{&w.codes, d.Codes}, piece{&w.nested, float32Bytes(d.NestedAbsmax)},
			piece{&w.mapOffset, float32Bytes(mapOffset)})
	}
	for _, p := range pieces {
		*p.dst = bk.dev.allocate("LoadNF4", int64(len(p.data)))
		bk.allocated += int64(len(p.data))
	}
	bk.dev.do(func() {
		for _, p := range pieces {
			if len(p.data) > 0 {
				bk.dev.drv.upload((*p.dst).ptr, p.data)
			}
		}
	})
	return w
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Dequantize writes w (out, in) into out, decoding double-quantized scales on the fly, 8 weights
// a thread; with the fused path on, it marks out as holding w instead (nf4_gemm.go).
func (bk *Backend) Dequantize(out backend.Tensor, w backend.Quantized) {
	qw, ok := w.(*quantized)
	if !ok {
		panic(fmt.Sprintf("cuda.Dequantize: w is %T, not a CUDA weight", w))
	}
	ot := lookup(out, "Dequantize", "out", qw.n)
	if qw.n == 0 {
		return
	}
	if bk.fusedNF4 {
		bk.dev.deferDequantize(ot, qw)
		return
	}
	settle(ot) // weights pending there from a fused Backend go first
	bk.dev.do(func() { bk.dev.dequantize(ot, qw) })
}

// dequantize launches nf4_dequantize of w into out; on the device goroutine.
func (d *device) dequantize(out *Tensor, w *quantized) {
	d.drv.launch(kDequantizeNF4, grid1D(max(w.n/8, 1)), block1D, argv(out, w.packed, devPtr(w.absmax), devPtr(w.codes),
		devPtr(w.nested), devPtr(w.mapOffset), w.n, w.blocksize))
}

// devPtr is a's pointer, or 0 for a missing part of a weight.
func devPtr(a *allocation) devicePtr {
	if a == nil {
		return 0
	}
	return a.ptr
}
