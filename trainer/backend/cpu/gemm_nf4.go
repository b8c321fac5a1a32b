package cpu

import "github.com/qlora-studio/qlora-studio/trainer/nf4"

// NF4 fused into Gemm: when b is a weight Dequantize left pending, each panel of b is decoded from
// the packed codes as it is packed, NR columns at a time, so no more than K×NR floats of the
// weight exist as floats at once per worker. The decoded values are bit for bit those of
// nf4.Quantized.Dequantize: the code's value times the block's scale, in float32.

var nf4Values = nf4.NF4Code()

// packNF4 fills panel (K×NR) with op(b)[:, j0:j0+cols] of the NF4 weight g.q, whose flat elements
// are b: op(b)[p,j] = w[j·K + p] when transB, w[p·Nc + j] otherwise. dec (NR×K floats) is scratch.
func (g *gemmKernel[T]) packNF4(panel []T, dec []float32, j0, cols int) {
	k, n := g.k, g.n
	panel = panel[:k*gemmNR]
	scales := dec[gemmNR*k:]
	if g.transB { // each column of the panel is a run of K elements of the weight: decode, transpose
		for j := range cols {
			start := (j0 + j) * k
			if g.isa != isaGo && k%16 == 0 { // whole groups of 16 in one block each
				groupScales(scales[:k/16], g.q, start)
				nf4DecodeGroups(g.isa, &dec[j*k], 0, &g.q.Packed[start/2], 0, 1, k/16, &scales[0])
				continue
			}
			decodeNF4(dec[j*k:(j+1)*k], g.q, start)
		}
		if f32, ok := asFloat32(panel); ok {
			packTrans(g.isa, f32, dec, k, k, cols)
			return
		}
		if cols < gemmNR {
			clear(panel)
		}
		for j := range cols {
			for p, x := range dec[j*k : (j+1)*k] {
				panel[p*gemmNR+j] = T(x)
			}
		}
		return
	}
	// Each row of the panel is a run of cols elements of the weight.
	f32, direct := asFloat32(panel)
	if g.isa != isaGo && n%16 == 0 { // cols is 16 or 32: whole groups of 16, one decoding call for the panel
		groups := cols / 16
		if groups < 2 {
			clear(f32)
		}
		for p := range k {
			groupScales(scales[p*groups:(p+1)*groups], g.q, p*n+j0)
		}
		nf4DecodeGroups(g.isa, &f32[0], gemmNR*4, &g.q.Packed[j0/2], uintptr(n/2), k, groups, &scales[0])
		return
	}
	for p := range k {
		row := dec[:cols]
		if direct {
			row = f32[p*gemmNR : p*gemmNR+cols]
		}
		decodeNF4(row, g.q, p*n+j0)
		if !direct {
			for j, x := range row {
				panel[p*gemmNR+j] = T(x)
			}
		}
		clear(panel[p*gemmNR+cols : (p+1)*gemmNR])
	}
}

// nf4DecodeGroups decodes rows of groups of 16 NF4 codes with the kernel of is (isaAVX2 or
// isaAVX512; nf4DecodeGroupsAVX512 says what it computes), the table nf4's.
func nf4DecodeGroups(is isa, dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32) {
	if is == isaAVX2 {
		nf4DecodeGroupsAVX2(dst, dstStride, src, srcStride, rows, groups, scales, &nf4Values)
		return
	}
	nf4DecodeGroupsAVX512(dst, dstStride, src, srcStride, rows, groups, scales, &nf4Values)
}

// groupScales writes into scales the scale of each group of 16 elements from start on (start a
// multiple of 16, so that no group crosses a block).
func groupScales(scales []float32, q *nf4.Quantized, start int) {
	b, s := -1, float32(0)
	for i := range scales {
		if blk := (start + 16*i) / q.Blocksize; blk != b {
			b, s = blk, blockAbsmax(q, blk)
		}
		scales[i] = s
	}
}

// decodeNF4 writes elements [start, start+len(dst)) of q's flattened weight into dst, as
// q.DequantizeRange does, a block's span at a time.
func decodeNF4(dst []float32, q *nf4.Quantized, start int) {
	for len(dst) > 0 {
		b := start / q.Blocksize
		end := min((b+1)*q.Blocksize, start+len(dst))
		decodeSpan(dst[:end-start], q.Packed, start, blockAbsmax(q, b))
		dst = dst[end-start:]
		start = end
	}
}

// blockAbsmax is the scale of block b, decoded from the double quantization when there is one:
// float32(Map[code]·NestedAbsmax) + Offset, two roundings, as nf4 and bitsandbytes compute it.
func blockAbsmax(q *nf4.Quantized, b int) float32 {
	d := q.Double
	if d == nil {
		return q.Absmax[b]
	}
	return float32(d.Map[d.Codes[b]]*d.NestedAbsmax[b/d.Blocksize]) + d.Offset
}

// decodeSpan decodes elements [start, start+len(dst)) of packed, which share the scale absmax.
func decodeSpan(dst []float32, packed []byte, start int, absmax float32) {
	var scaled [16]float32
	for i, v := range nf4Values {
		scaled[i] = v * absmax
	}
	i := 0
	if start%2 == 1 {
		dst[0] = scaled[packed[start/2]&15]
		i = 1
	}
	bytes := packed[(start+i)/2:]
	if n16 := (len(dst) - i) / 16; n16 > 0 && (useAVX512 || useAVX2) {
		if useAVX512 {
			nf4DecodeAVX512(&dst[i], &bytes[0], n16, &scaled)
		} else {
			nf4DecodeAVX2(&dst[i], &bytes[0], n16, &scaled)
		}
		i += 16 * n16
		bytes = bytes[8*n16:]
	}
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
