package export

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// chunkElements is how many elements one worker handles at a time: small enough that its scratch
// stays in cache and a cancellation is noticed within milliseconds, large enough to amortise the
// hand-off.
const chunkElements = 1 << 16

// weightReader writes elements [start, start+len(dst)) of a flattened base tensor into dst, as
// float32. It must be safe to call from several goroutines on disjoint ranges.
type weightReader func(dst []float32, start int)

// denseReader reads a 16- or 32-bit tensor of the memory-mapped checkpoint.
func denseReader(t safetensors.Tensor) weightReader {
	size := t.DType.Size()
	return func(dst []float32, start int) {
		part := safetensors.Tensor{Info: safetensors.Info{Name: t.Name, DType: t.DType, Shape: []int{len(dst)}},
			File: t.File, Data: t.Data[start*size : (start+len(dst))*size]}
		if err := part.DecodeFloat32s(dst); err != nil {
			panic(fmt.Sprintf("export: decoding a checked tensor: %v", err)) // dtype and size were checked
		}
	}
}

// nf4Reader dequantizes an NF4 weight exactly as the trainer does (nf4.Dequantize), so that a model
// merged into the NF4 base computes what the QLoRA model with its adapter computed.
func nf4Reader(q *nf4.Quantized) weightReader {
	return q.DequantizeRange
}

// merged is one tensor of the output, computed in float32 on demand: W' = W + scaling·B·A for an
// adapted projection (float64 accumulation, one rounding to float32), W itself otherwise.
type merged struct {
	n       int          // elements
	in      int          // row length of a projection; 0 for a tensor merged with nothing
	base    weightReader // W
	lora    *lora.ModuleWeights
	scaling float64
}

// floats writes the whole tensor into dst.
func (m *merged) floats(ctx context.Context, dst []float32) error {
	return m.each(ctx, func(start int, v []float32) { copy(dst[start:], v) })
}

// encode writes the whole tensor into dst as dtype (F32, F16 or BF16; nearest, ties to even).
func (m *merged) encode(ctx context.Context, dtype safetensors.DType, dst []byte) error {
	size := dtype.Size()
	return m.each(ctx, func(start int, v []float32) { encodeInto(dst[start*size:], dtype, v) })
}

// each computes the tensor chunk by chunk on every core and hands each chunk to emit, which may
// be called concurrently for disjoint ranges. Every element is computed the same way whatever the
// chunking, so the result does not depend on the number of cores.
func (m *merged) each(ctx context.Context, emit func(start int, v []float32)) error {
	chunk := chunkElements
	if m.lora != nil {
		chunk = max(1, chunkElements/m.in) * m.in // whole rows
	}
	chunks := (m.n + chunk - 1) / chunk
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, chunk)
			var acc []float64
			if m.lora != nil {
				acc = make([]float64, m.in)
			}
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				start := c * chunk
				v := buf[:min(chunk, m.n-start)]
				m.base(v, start)
				if m.lora != nil {
					m.addDelta(v, start/m.in, acc)
				}
				emit(start, v)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// addDelta adds scaling·(B·A)[o, :] to each row o of v, which holds rows row0, row0+1, ...:
//
//	v[o][i] = float32(v[o][i] + scaling · Σ_k B[o,k]·A[k,i])   in float64
//
// acc is scratch of length in.
func (m *merged) addDelta(v []float32, row0 int, acc []float64) {
	a, r, in, s := m.lora.A, m.lora.R, m.in, m.scaling
	for o := 0; o*in < len(v); o++ {
		clear(acc)
		bRow := m.lora.B[(row0+o)*r : (row0+o+1)*r]
		for k, b := range bRow {
			bk := float64(b)
			for i, x := range a[k*in : (k+1)*in] {
				acc[i] += bk * float64(x)
			}
		}
		row := v[o*in : (o+1)*in]
		for i, w := range row {
			row[i] = float32(float64(w) + s*acc[i])
		}
	}
}

// encodeInto writes v into dst as dtype, little-endian.
func encodeInto(dst []byte, dtype safetensors.DType, v []float32) {
	switch dtype {
	case safetensors.F32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
	case safetensors.BF16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(dst[2*i:], safetensors.Float32ToBF16(x))
		}
	case safetensors.F16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(dst[2*i:], safetensors.Float32ToF16(x))
		}
	default:
		panic(fmt.Sprintf("export: cannot encode floats as %s", dtype))
	}
}

// scratch is working memory reused from one tensor to the next. The safetensors writer asks for a
// tensor's bytes only when it reaches that tensor and has written them before it asks for the
// next (safetensors.Source), so one buffer serves every tensor of an export: the merge's memory
// is that of its largest tensor, whatever the model's size.
type scratch struct {
	bytes  []byte
	floats []float32
}

func (s *scratch) byteBuf(n int) []byte {
	if cap(s.bytes) < n {
		s.bytes = nil // let the old one go before the new one is made
		s.bytes = make([]byte, n)
	}
	return s.bytes[:n]
}

func (s *scratch) floatBuf(n int) []float32 {
	if cap(s.floats) < n {
		s.floats = nil
		s.floats = make([]float32, n)
	}
	return s.floats[:n]
}
