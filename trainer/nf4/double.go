package nf4

import (
	"fmt"
	"math"
)

// doubleQuantize codes the NF4 block scales as bitsandbytes' quantize_4bit
// does with compress_statistics: subtract their mean, then quantize_blockwise
// with the signed dynamic map in blocks of NestedBlocksize.
func doubleQuantize(absmax []float32) *DoubleQuant {
	d := &DoubleQuant{
		Codes:        make([]uint8, len(absmax)),
		NestedAbsmax: make([]float32, ceilDiv(len(absmax), NestedBlocksize)),
		Offset:       meanOffset(absmax),
		Blocksize:    NestedBlocksize,
		Map:          dynamicMap,
	}
	centred := make([]float32, len(absmax))
	for i, a := range absmax {
		centred[i] = a - d.Offset
	}
	for b := range d.NestedAbsmax {
		lo := b * NestedBlocksize
		hi := min(lo+NestedBlocksize, len(centred))
		d.NestedAbsmax[b] = quantizeBlock8(d.Codes[lo:hi], centred[lo:hi], &d.Map)
	}
	return d
}

// meanOffset is the double-quantization offset: the scales summed in float64
// in index order, divided in float64, rounded once to float32. bitsandbytes
// takes torch's float32 mean on the GPU, whose summation order we cannot
// reproduce; this order is fixed, independent of cores, and the one the
// reference script uses. An empty weight has offset 0.
func meanOffset(absmax []float32) float32 {
	if len(absmax) == 0 {
		return 0
	}
	var s float64
	for _, a := range absmax {
		s += float64(a)
	}
	return float32(s / float64(len(absmax)))
}

// quantizeBlock8 is one block of bitsandbytes' 8-bit blockwise quantization
// (kQuantizeBlockwise, General8bit): codes[i] = nearest map entry to
// x[i] * (1/absmax). It returns the block's absmax. A block of zeros has
// absmax 0, its codes come from NaN (code 0) and decode to 0.
func quantizeBlock8(codes []uint8, x []float32, code *[256]float32) float32 {
	var m float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > m {
			m = a
		}
	}
	r := 1 / m
	codes = codes[:len(x)]
	for i, v := range x {
		codes[i] = dynamicIndex(code, v*r)
	}
	return m
}

// absmax decodes the scale of NF4 block b. The explicit float32 conversion
// keeps the multiply and the add as two roundings (Go may otherwise fuse
// them), as bitsandbytes computes dequantize_blockwise(...) + offset.
func (d *DoubleQuant) absmax(b int) float32 {
	return float32(d.Map[d.Codes[b]]*d.NestedAbsmax[b/d.Blocksize]) + d.Offset
}

// validate checks the lengths against nblocks NF4 blocks.
func (d *DoubleQuant) validate(nblocks int) error {
	if d.Blocksize != NestedBlocksize {
		return fmt.Errorf("nf4: nested blocksize %d, want %d", d.Blocksize, NestedBlocksize)
	}
	if len(d.Codes) != nblocks {
		return fmt.Errorf("nf4: %d nested absmax codes for %d blocks", len(d.Codes), nblocks)
	}
	if want := ceilDiv(nblocks, d.Blocksize); len(d.NestedAbsmax) != want {
		return fmt.Errorf("nf4: %d nested absmax values for %d codes, want %d", len(d.NestedAbsmax), nblocks, want)
	}
	if math.IsNaN(float64(d.Offset)) || math.IsInf(float64(d.Offset), 0) {
		return fmt.Errorf("nf4: nested offset %v is not finite", d.Offset)
	}
	return nil
}
