//go:build cuda || cudaemu

package cuda

import (
	"encoding/binary"
	"math"
	"slices"
)

// scratch is a backend's working memory beside the tensors it hands out: the host-side inputs of
// the ops (token ids, targets, positions, segments, RoPE frequencies) kept on the GPU while they do
// not change, bf16 copies of fp32 GEMM operands, the gradient norm's partial sums, and flash
// attention's backward row dots (4 bytes per row and head). It grows on first use and is small (a
// few MiB for the largest models); the planner does not count it (see scratchAllowance).
type scratch struct {
	ints     [numIntSlots]intsSlot
	invFreq  floatsSlot
	cast     [2]*allocation // Gemm's bf16 copies of a and b
	partials *allocation    // SumSquares
	delta    *allocation    // AttentionBackward's dout·out per row and head (flash path)
}

// The int32 inputs the ops take from the host, each in its own slot so that a step's positions and
// segments stay on the GPU across the layers.
const (
	slotTokens = iota // Embedding's ids, CrossEntropy's targets
	slotTargets
	slotPositions
	slotSegments
	numIntSlots
)

type intsSlot struct {
	mem  *allocation
	host []int32 // what mem holds
}

type floatsSlot struct {
	mem  *allocation
	host []float64
}

// ints returns where v will be on the GPU, and the function to call inside the op's do that
// copies it there when it differs from what the slot holds. nil v is a null pointer.
func (b *Backend) ints(op string, slot int, v []int32) (devicePtr, func()) {
	if v == nil {
		return 0, func() {}
	}
	s := &b.scratch.ints[slot]
	if s.mem != nil && slices.Equal(s.host, v) {
		return s.mem.ptr, func() {}
	}
	need := int64(4 * len(v))
	if s.mem == nil || s.mem.bytes < need {
		s.mem, s.host = b.dev.allocate(op+" inputs", max(need, 4096)), nil
	}
	raw := make([]byte, need)
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	mem := s.mem
	return mem.ptr, func() {
		b.dev.drv.upload(mem.ptr, raw)
		s.host = append(s.host[:0], v...)
	}
}

// frequencies is ints for RoPE's inverse frequencies (float64).
func (b *Backend) frequencies(v []float64) (devicePtr, func()) {
	s := &b.scratch.invFreq
	if s.mem != nil && slices.Equal(s.host, v) {
		return s.mem.ptr, func() {}
	}
	need := int64(8 * len(v))
	if s.mem == nil || s.mem.bytes < need {
		s.mem, s.host = b.dev.allocate("RoPE frequencies", max(need, 1024)), nil
	}
	raw := make([]byte, need)
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(x))
	}
	mem := s.mem
	return mem.ptr, func() {
		b.dev.drv.upload(mem.ptr, raw)
		s.host = append(s.host[:0], v...)
	}
}

// bf16Copy returns a bf16 tensor in cast slot i with room for t, to cast t into inside the op's do.
func (b *Backend) bf16Copy(op string, i int, t *Tensor) *Tensor {
	need := 2 * int64(t.n)
	if b.scratch.cast[i] == nil || b.scratch.cast[i].bytes < need {
		b.scratch.cast[i] = b.dev.allocate(op+" bf16 copy", max(need, 1<<16))
	}
	mem := b.scratch.cast[i]
	return &Tensor{mem: mem, ptr: mem.ptr, n: t.n, dt: dtBF16}
}

// partialSums returns room for n float64 partial sums.
func (b *Backend) partialSums(n int) *allocation {
	need := 8 * int64(n)
	if b.scratch.partials == nil || b.scratch.partials.bytes < need {
		b.scratch.partials = b.dev.allocate("SumSquares partial sums", max(need, 1024))
	}
	return b.scratch.partials
}

// attentionDelta returns room for n float32 row dots.
func (b *Backend) attentionDelta(n int) *allocation {
	need := 4 * int64(n)
	if b.scratch.delta == nil || b.scratch.delta.bytes < need {
		b.scratch.delta = b.dev.allocate("AttentionBackward row dots", max(need, 1<<16))
	}
	return b.scratch.delta
}
