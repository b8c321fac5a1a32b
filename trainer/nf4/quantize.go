package nf4

import (
	"fmt"
	"math"
)

// DefaultBlocksize is the NF4 block size bitsandbytes and QLoRA use.
const DefaultBlocksize = 64

// NestedBlocksize is the block size of the double-quantized scales; fixed by
// bitsandbytes' quantize_4bit.
const NestedBlocksize = 256

// Quantized is one NF4 weight, the bitsandbytes way.
//
// Exactly one of Absmax and Double is set: double quantization replaces the
// float32 scales by their 8-bit codes, and BlockAbsmax decodes them. Keeping
// no decoded copy means a Quantized holds what a checkpoint holds, nothing
// more.
type Quantized struct {
	Shape     []int     // the weight's shape, [out, in]; flattened row-major
	Blocksize int       // elements per block: a power of two, 32..4096
	Packed    []byte    // (n+1)/2 bytes, first element of each pair in the high nibble
	Absmax    []float32 // one scale per block, when not double-quantized
	Double    *DoubleQuant
}

// DoubleQuant holds the block scales of a Quantized, themselves quantized:
// absmax[b] = float32(Map[Codes[b]] * NestedAbsmax[b/Blocksize]) + Offset.
type DoubleQuant struct {
	Codes        []uint8   // one 8-bit code per NF4 block
	NestedAbsmax []float32 // one scale per Blocksize codes
	Offset       float32   // mean of the scales, subtracted before coding
	Blocksize    int       // NestedBlocksize
	// Map is the code the Codes index: DynamicMap() when quantized here, the
	// file's nested_quant_map when read (which may differ in last bits).
	Map [256]float32
}

// Len is the number of weight elements.
func (q *Quantized) Len() int { return numElements(q.Shape) }

// NumBlocks is the number of NF4 blocks, ceil(Len/Blocksize).
func (q *Quantized) NumBlocks() int { return ceilDiv(q.Len(), q.Blocksize) }

// ValidBlocksize reports whether bitsandbytes accepts blocksize for NF4.
func ValidBlocksize(blocksize int) bool {
	return blocksize >= 32 && blocksize <= 4096 && blocksize&(blocksize-1) == 0
}

// Quantize quantizes the weight w of the given shape (w is the row-major
// flattening; bf16 or f16 weights converted to float32 first give the same
// result as bitsandbytes quantizing them directly) to NF4 with the given
// block size, double-quantizing the scales when double is set.
//
// A blocksize bitsandbytes does not accept is an error wrapping ErrBlocksize;
// a NaN or infinite weight is an error wrapping ErrNonFinite that names its
// index. A shape whose product is not len(w) is a programming error and
// panics.
func Quantize(w []float32, shape []int, blocksize int, double bool) (*Quantized, error) {
	if !ValidBlocksize(blocksize) {
		return nil, fmt.Errorf("%w: got %d", ErrBlocksize, blocksize)
	}
	n := numElements(shape)
	if n != len(w) {
		panic(fmt.Sprintf("nf4.Quantize: shape %v has %d elements, weight has %d", shape, n, len(w)))
	}
	q := &Quantized{
		Shape:     append([]int(nil), shape...),
		Blocksize: blocksize,
		Packed:    make([]byte, (n+1)/2),
		Absmax:    make([]float32, ceilDiv(n, blocksize)),
	}
	for b := range q.Absmax {
		lo := b * blocksize
		hi := min(lo+blocksize, n)
		m, bad := blockAbsmax(w[lo:hi])
		if bad >= 0 {
			return nil, fmt.Errorf("%w: element %d is %v", ErrNonFinite, lo+bad, w[lo+bad])
		}
		q.Absmax[b] = m
		quantizeBlock(q.Packed[lo/2:(hi+1)/2], w[lo:hi], m)
	}
	if double {
		q.Double = doubleQuantize(q.Absmax)
		q.Absmax = nil
	}
	return q, nil
}

// blockAbsmax returns max |x| over the block, or the index of the first
// element that is NaN or infinite (else -1). bitsandbytes' fmaxf would skip
// a NaN and let an infinity zero the whole block; neither is a weight.
//
// Non-negative floats order like their bit patterns, so the maximum is taken
// on the bits with the sign cleared: an integer max without branches, and a
// single check per block, since NaN and infinity have the largest patterns.
func blockAbsmax(w []float32) (m float32, bad int) {
	var bits uint32
	for _, x := range w {
		bits = max(bits, math.Float32bits(x)&^(1<<31))
	}
	if bits >= 0x7f800000 {
		for i, x := range w {
			if math.Float32bits(x)&^(1<<31) >= 0x7f800000 {
				return 0, i
			}
		}
	}
	return math.Float32frombits(bits), -1
}

// quantizeBlock writes the NF4 codes of one block into dst, (len(w)+1)/2
// bytes. Like bitsandbytes it multiplies by the float32 reciprocal of the
// absmax rather than dividing: the two can differ in the last bit, and the
// last bit decides codes at thresholds. The unused low nibble of an odd tail
// is 0.
func quantizeBlock(dst []byte, w []float32, absmax float32) {
	r := 1 / absmax
	if r > math.MaxFloat32 {
		// A zero (or tiny subnormal) absmax: 0 * (1/0) is NaN, which only
		// the tree maps to code 0 the way bitsandbytes does.
		quantizeBlockTree(dst, w, r)
		return
	}
	pairs := len(w) / 2
	dst = dst[:(len(w)+1)/2]
	w = w[:2*pairs+len(w)%2]
	for j := 0; j < pairs; j++ {
		dst[j] = nf4IndexFinite(w[2*j]*r)<<4 | nf4IndexFinite(w[2*j+1]*r)
	}
	if len(w)%2 == 1 {
		dst[pairs] = nf4IndexFinite(w[2*pairs]*r) << 4
	}
}

// quantizeBlockTree is quantizeBlock by the decision tree, for any r.
func quantizeBlockTree(dst []byte, w []float32, r float32) {
	for i, x := range w {
		if i%2 == 0 {
			dst[i/2] = nf4Index(x*r) << 4
		} else {
			dst[i/2] |= nf4Index(x * r)
		}
	}
}

// Validate checks that the fields of q agree with each other: shape,
// block size, lengths of every slice, and that exactly one of Absmax and
// Double is set. Read calls it; Quantize's results always pass.
func (q *Quantized) Validate() error {
	for _, d := range q.Shape {
		if d < 0 {
			return fmt.Errorf("nf4: negative dimension in shape %v", q.Shape)
		}
	}
	if !ValidBlocksize(q.Blocksize) {
		return fmt.Errorf("%w: got %d", ErrBlocksize, q.Blocksize)
	}
	n := q.Len()
	if len(q.Packed) != (n+1)/2 {
		return fmt.Errorf("nf4: %d packed bytes for shape %v, want %d", len(q.Packed), q.Shape, (n+1)/2)
	}
	nb := q.NumBlocks()
	switch {
	case q.Double == nil && len(q.Absmax) != nb:
		return fmt.Errorf("nf4: %d absmax values for %d blocks", len(q.Absmax), nb)
	case q.Double != nil && q.Absmax != nil:
		return fmt.Errorf("nf4: both absmax and double-quantized absmax are set")
	case q.Double != nil:
		return q.Double.validate(nb)
	}
	return nil
}

// numElements is the product of the dimensions; it panics on a negative one.
func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("nf4: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Bytes is the memory a Quantized of n elements holds: the packed codes and the block scales (the
// 8-bit codes, nested scales, offset and 256-entry map when double-quantized, else float32 scales).
// The memory planner counts the NF4 base with it.
func Bytes(n, blocksize int, double bool) int64 {
	blocks := int64(ceilDiv(n, blocksize))
	packed := int64(n+1) / 2
	if !double {
		return packed + 4*blocks
	}
	nested := (blocks + NestedBlocksize - 1) / NestedBlocksize
	return packed + blocks + 4*nested + 4 + 4*256
}
