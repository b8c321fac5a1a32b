package cpu

import (
	"math"
	"unsafe"
)

// The exponentials of the softmaxes (attention, cross-entropy) and of SiLU.
//
// In float32 they are computed as exp_amd64.s computes them with AVX-512 (and exp_avx2_amd64.s,
// the same bits, with AVX2); exp32 performs the same operations with the same roundings in Go,
// which the tests use to check the assembly (exactGo). Otherwise, and in float64, the reference,
// math.Exp.

// expSum writes e_i = exp(src[i] − shift) into dst (unless dst is nil; dst may be src) and returns
// Σ e_i. With the assembly (or exactGo) the sum is taken in 16 lanes, element i in lane i mod 16,
// which are then added pairwise (lane i + lane i+8, then +4, +2, +1); otherwise in order.
func expSum[T Float](dst, src []T, shift T) T {
	if dst != nil {
		dst = dst[:len(src)]
	}
	if len(src) == 0 {
		return 0
	}
	if s32, ok := asFloat32(src); ok {
		var d32 []float32
		if dst != nil {
			d32, _ = asFloat32(dst)
		}
		if is := isaFor[T](); is != isaGo {
			var dp *float32
			if d32 != nil {
				dp = &d32[0]
			}
			return T(expSumAsm(is, dp, &s32[0], len(s32), *(*float32)(unsafe.Pointer(&shift))))
		}
		if exactGo {
			return T(expSum32(d32, s32, *(*float32)(unsafe.Pointer(&shift))))
		}
	}
	var sum T
	for i, x := range src {
		e := T(math.Exp(float64(x - shift)))
		if dst != nil {
			dst[i] = e
		}
		sum += e
	}
	return sum
}

// expSum32 is expSumAVX512 (and expSumAVX2) in Go.
func expSum32(dst, src []float32, shift float32) float32 {
	var lanes [16]float32
	for i, x := range src {
		e := exp32(x - shift)
		if dst != nil {
			dst[i] = e
		}
		lanes[i%16] += e
	}
	for w := 8; w >= 1; w /= 2 {
		for i := range w {
			lanes[i] += lanes[i+w]
		}
	}
	return lanes[0]
}

// Cephes' expf: exp(x) = 2ⁿ·(1 + r + r²·P(r)), n = round(x·log2 e), r = x − n·ln2 in two parts.
const (
	expLog2e = float32(1.44269504088896341)
	expLn2Hi = float32(0.693359375)
	expLn2Lo = float32(-2.12194440e-4)
	expHi    = float32(88.72283905206835) // exp overflows to +Inf above
	expLo    = float32(-105)              // and is exactly 0 below
)

var expPoly = [6]float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

// exp32 is the float32 exponential of exp_amd64.s and exp_avx2_amd64.s, operation for operation.
func exp32(x float32) float32 {
	if x != x {
		return x
	}
	x = max(min(x, expHi), expLo)
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := fma32(-n, expLn2Hi, x)
	r = fma32(-n, expLn2Lo, r)
	p := expPoly[0]
	for _, c := range expPoly[1:] {
		p = fma32(r, p, c)
	}
	p = fma32(r*r, p, r)
	p += 1
	return float32(math.Ldexp(float64(p), int(n)))
}

// maxOf returns the largest element of x, -Inf for none. Whether a NaN wins is not specified:
// callers take exponentials of x − max next, which turn a NaN into a NaN sum either way.
func maxOf[T Float](x []T) T {
	if s32, ok := asFloat32(x); ok && len(x) > 0 {
		if is := isaFor[T](); is != isaGo {
			return T(maxAsm(is, &s32[0], len(s32)))
		}
	}
	mx := T(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	return mx
}
