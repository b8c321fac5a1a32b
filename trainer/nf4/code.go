package nf4

import "math"

// nf4Code is bitsandbytes' NF4 table (get_4bit_type("nf4")): index = 4-bit
// value. The literals are the float32 values bitsandbytes ships.
var nf4Code = [16]float32{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// nf4Threshold[k] separates code k from code k+1. The values are the float
// literals of dQuantizeNF4 in bitsandbytes' kernels.cu: the shortest decimals
// of the float64 midpoints of neighbouring codes, which the C compiler rounds
// to float32 directly, as Go does here. Four of those midpoints (k = 0, 8,
// 12, 14) lie exactly halfway between two float32 values, and there
// float32(midpoint) computed in float64 would pick the other neighbour; the
// literal is what the GPU compares with. Index 15 is padding so that masked
// indexing needs no bounds check.
var nf4Threshold = [16]float32{
	-0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
	-0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
	0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
	0.5016634166240692, 0.6427869200706482, 0.8614784181118011, 0,
}

// NF4Code returns the 16 NF4 code values, index = 4-bit code. This is also
// the table stored as P.weight.quant_map.
func NF4Code() [16]float32 { return nf4Code }

// NF4Thresholds returns the 15 float32 decision thresholds of bitsandbytes'
// dQuantizeNF4: element k separates code k from code k+1, and a value equal
// to a threshold gets the lower code.
func NF4Thresholds() [15]float32 {
	var t [15]float32
	copy(t[:], nf4Threshold[:15])
	return t
}

// nf4Index maps a value already scaled by 1/absmax to its 4-bit code.
//
// It is bitsandbytes' decision tree, node for node: the root compares with
// threshold 7, its children with 3 and 11, then 1, 5, 9, 13, then the even
// leaves, always with a strict ">". This is the definition; quantization uses
// nf4IndexFinite, which the tests hold to it, and falls back to this for
// blocks whose reciprocal overflows: NaN (an all-zero block: 0 * (1/0))
// fails every comparison and gets code 0, as on the GPU. Index arithmetic
// on the comparisons compiles to SETcc instead of unpredictable branches.
func nf4Index(x float32) uint8 {
	i := b2i(x > nf4Threshold[7]) << 3
	i += b2i(x > nf4Threshold[(i+3)&15]) << 2
	i += b2i(x > nf4Threshold[(i+1)&15]) << 1
	i += b2i(x > nf4Threshold[i&15])
	return uint8(i)
}

// b2i compiles to a SETcc.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nf4IndexFinite is nf4Index for finite x, by table instead of by tree.
//
// sortKey orders float32 values as unsigned integers (it only confuses -0
// with +0, and no threshold is 0). The thresholds are far enough apart that
// each of the 4096 key ranges of width 2^20 holds at most one of them, so a
// 16 KiB table gives the number of thresholds below the range and the one
// inside it, and a single integer comparison finishes. The tests check it
// against the tree on a sweep of bit patterns (and, with NF4_EXHAUSTIVE=1,
// on all 2^32); it halves the cost of quantization. NaN must not reach it:
// its key depends on the NaN's sign bit.
func nf4IndexFinite(x float32) uint8 {
	k := sortKey(x)
	e := nf4Table[k>>20]
	return uint8(e>>20) + uint8(b2i(k&(1<<20-1) > e&(1<<20-1)))
}

// sortKey maps float32 to uint32 preserving order: negative values have all
// bits flipped, non-negative ones only the sign bit.
func sortKey(x float32) uint32 {
	b := math.Float32bits(x)
	return b ^ (uint32(int32(b)>>31) | 1<<31)
}

// nf4Table[r] holds, for the keys r<<20 .. r<<20 | (1<<20 - 1), the count of
// thresholds below the range in the high bits and the low 20 key bits of the
// threshold inside the range (all ones if none: no key exceeds it).
var nf4Table = buildNF4Table()

func buildNF4Table() *[4096]uint32 {
	var t [4096]uint32
	for r := range t {
		below, inside := uint32(0), uint32(1<<20-1)
		for _, th := range nf4Threshold[:15] {
			switch k := sortKey(th); {
			case k>>20 < uint32(r):
				below++
			case k>>20 == uint32(r):
				if inside != 1<<20-1 {
					panic("nf4: two thresholds in one table range")
				}
				inside = k & (1<<20 - 1)
			}
		}
		t[r] = below<<20 | inside
	}
	return &t
}

// dynamicMap is create_dynamic_map(signed=True, max_exponent_bits=7,
// total_bits=8), built once.
var dynamicMap = buildDynamicMap()

// DynamicMap returns bitsandbytes' signed 8-bit dynamic map, the code of the
// double-quantized scales (stored as P.weight.nested_quant_map): 256 sorted
// float32 values, entry 127 is 0, entry 255 is 1, entry 0 is -0.99296875.
func DynamicMap() [256]float32 { return dynamicMap }

// buildDynamicMap follows create_dynamic_map: for exponent i in 0..6 the
// 2^i midpoints of torch.linspace(0.1, 1, 2^i+1), scaled by 10^(i-6), with
// both signs; then 0 and 1; sorted. Every step is float32 as in torch, so the
// last bits match the table bitsandbytes stores.
func buildDynamicMap() [256]float32 {
	var m [256]float32
	n := 0
	for i := 0; i < 7; i++ {
		b := torchLinspace(0.1, 1, 1<<i+1)
		scale := float32(pow10[i])
		for j := 0; j+1 < len(b); j++ {
			mid := float32(b[j]+b[j+1]) / 2
			v := float32(scale * mid)
			m[n], m[n+1] = v, -v
			n += 2
		}
	}
	m[n], m[n+1] = 0, 1
	sortFloat32s(m[:])
	return m
}

// torchLinspace reproduces torch.linspace for float32 on CPU: the step is
// (end-start)/(steps-1) in float32; the first half counts up from start, the
// second half down from end. torch's x86-64 kernels contract start+step*idx
// into one fused multiply-add; the product of a float32 and a small integer is
// exact in float64, so adding in float64 and rounding once is that fma.
func torchLinspace(start, end float32, steps int) []float32 {
	out := make([]float32, steps)
	step := (end - start) / float32(steps-1)
	half := steps / 2
	for idx := range out {
		if idx < half {
			out[idx] = float32(float64(start) + float64(step)*float64(idx))
		} else {
			out[idx] = float32(float64(end) - float64(step)*float64(steps-idx-1))
		}
	}
	return out
}

// pow10[i] is Python's 10 ** (i-6) as a float64 (the nearest double);
// torch converts it to float32 before multiplying, and so does the caller.
var pow10 = [7]float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}

// sortFloat32s is an insertion sort: 256 elements, run once, no NaNs.
func sortFloat32s(a []float32) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// dynamicIndex maps a value already scaled by 1/absmax to its 8-bit code,
// with the decisions of bitsandbytes' dQuantize<0>: a seven-step binary
// search over the sorted map from entry 127 (up when x > entry, else down),
// then rounding to a neighbour at the float32 midpoint.
//
// bitsandbytes tracks the last entries passed on either side; after the
// search they are always pivot-1 and pivot+1 (the search ends on an even
// entry), except that a search that never went up ends on entry 0 and keeps
// it. So: above the pivot entry, take pivot+1 when x is beyond the midpoint;
// at or below it, take pivot-1 when x is strictly below the midpoint. Ties
// therefore go to the even entry, and NaN ends at code 0. The tests check
// this against a line-by-line port of the kernel.
func dynamicIndex(code *[256]float32, x float32) uint8 {
	p := 127
	for i := 64; i > 0; i >>= 1 {
		p += (2*b2i(x > code[p&255]) - 1) * i
	}
	p &= 255
	val := code[p]
	if x > val {
		return uint8(p + b2i(x > (code[(p+1)&255]+val)*0.5))
	}
	if p == 0 {
		return 0
	}
	return uint8(p - b2i(x < (code[(p-1)&255]+val)*0.5))
}

// unsignedDynamicMap is create_dynamic_map(signed=False), built once.
var unsignedDynamicMap = buildUnsignedDynamicMap()

// DynamicMapUnsigned returns bitsandbytes' unsigned 8-bit dynamic map, the
// code of 8-bit AdamW's second moment (qmap2): 256 sorted float32 values,
// entry 0 is 0, entry 255 is 1.
func DynamicMapUnsigned() [256]float32 { return unsignedDynamicMap }

// buildUnsignedDynamicMap is buildDynamicMap without the sign: for exponent
// i in 0..6 the 2^(i+1) midpoints of torch.linspace(0.1, 1, 2^(i+1)+1),
// scaled by 10^(i-6); then 0 and 1; sorted. bitsandbytes keeps one sign bit
// out of the budget in both cases (non_sign_bits = total_bits - 1) and
// spends it on twice the fraction items here.
func buildUnsignedDynamicMap() [256]float32 {
	var m [256]float32
	n := 0
	for i := 0; i < 7; i++ {
		b := torchLinspace(0.1, 1, 1<<(i+1)+1)
		scale := float32(pow10[i])
		for j := 0; j+1 < len(b); j++ {
			mid := float32(b[j]+b[j+1]) / 2
			m[n] = float32(scale * mid)
			n++
		}
	}
	m[n], m[n+1] = 0, 1
	sortFloat32s(m[:])
	return m
}
