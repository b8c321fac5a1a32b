package nf4

import "fmt"

// Dequantize writes the weight back into dst, which must hold Len elements:
// dst[i] = NF4[code i] * absmax[i/Blocksize], in float32 as bitsandbytes'
// kernel computes it.
func (q *Quantized) Dequantize(dst []float32) {
	if len(dst) != q.Len() {
		panic(fmt.Sprintf("nf4.Dequantize: dst has %d elements, weight %v has %d", len(dst), q.Shape, q.Len()))
	}
	q.DequantizeRange(dst, 0)
}

// DequantizeRange writes elements [start, start+len(dst)) of the flattened
// weight into dst, so that a caller can dequantize a few rows at a time
// instead of materializing a whole 70B projection. start may be any element,
// odd or in the middle of a block.
func (q *Quantized) DequantizeRange(dst []float32, start int) {
	if start < 0 || start+len(dst) > q.Len() {
		panic(fmt.Sprintf("nf4.DequantizeRange: range [%d, %d) outside weight of %d elements", start, start+len(dst), q.Len()))
	}
	for len(dst) > 0 {
		b := start / q.Blocksize
		end := min((b+1)*q.Blocksize, start+len(dst))
		dequantizeSpan(dst[:end-start], q.Packed, start, q.blockAbsmax(b))
		dst = dst[end-start:]
		start = end
	}
}

// dequantizeSpan decodes elements [start, start+len(dst)) that share one
// scale. Scaling the 16 code values once per span gives the same products
// as scaling every element, and leaves a table lookup per element.
func dequantizeSpan(dst []float32, packed []byte, start int, absmax float32) {
	var scaled [16]float32
	for k, c := range nf4Code {
		scaled[k] = c * absmax
	}
	i := 0
	if start%2 == 1 {
		dst[0] = scaled[packed[start/2]&15]
		i = 1
	}
	bytes := packed[(start+i)/2:]
	for ; i+1 < len(dst); i += 2 {
		b := bytes[0]
		dst[i] = scaled[b>>4]
		dst[i+1] = scaled[b&15]
		bytes = bytes[1:]
	}
	if i < len(dst) {
		dst[i] = scaled[bytes[0]>>4]
	}
}

// BlockAbsmax returns the scale of every block in a new slice, decoding the
// double-quantized ones.
func (q *Quantized) BlockAbsmax() []float32 {
	out := make([]float32, q.NumBlocks())
	for b := range out {
		out[b] = q.blockAbsmax(b)
	}
	return out
}

func (q *Quantized) blockAbsmax(b int) float32 {
	if q.Double != nil {
		return q.Double.absmax(b)
	}
	return q.Absmax[b]
}

// nibble returns the 4-bit code of element i of a packed weight.
func nibble(packed []byte, i int) uint8 {
	return packed[i/2] >> (4 * (1 - uint(i)%2)) & 15
}
