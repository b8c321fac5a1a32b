package cpu

import (
	"math"
	"unsafe"
)

// microKernel is the Go micro-kernel, for float64 and for CPUs without the assembly one: for the
// rows r < MR set in rowMask and the columns j < cols,
//
//	c[r·ldc + j] = alpha·s (+ beta·c[r·ldc + j] when beta != 0),  s = fma chain over p < kc of
//	a[r·ars + p·aps]·b[p·bs + j], from zero,
//
// with every fma rounded once, as the assembly computes it.
func microKernel[T Float](kc int, a []T, ars, aps int, b []T, bs int, c []T, ldc int, rowMask uint32, cols int, alpha, beta T, sums []T, flags int) {
	var acc [gemmMR * gemmNR]T
	if flags&accLoad != 0 {
		copy(acc[:], sums)
	}
	if a32, ok := asFloat32(a); ok {
		b32, _ := asFloat32(b)
		acc32, _ := asFloat32(acc[:])
		sums32(acc32, kc, a32, ars, aps, b32, bs, rowMask, cols)
	} else {
		sums64(asFloat64(acc[:]), kc, asFloat64(a), ars, aps, asFloat64(b), bs, rowMask, cols)
	}
	if flags&accSave != 0 {
		copy(sums, acc[:])
		return
	}
	for r := range gemmMR {
		if rowMask>>r&1 == 0 {
			continue
		}
		row := c[r*ldc : r*ldc+cols]
		for j, s := range acc[r*gemmNR : r*gemmNR+cols] {
			s = T(alpha * s) // the conversions keep each product rounded on its own (no fusing)
			if beta != 0 {
				s += T(beta * row[j])
			}
			row[j] = s
		}
	}
}

// sums32 adds into acc (MR×NR) the products of microKernel, for float32: with exactGo, rounding
// each fma once as the assembly does (slow); otherwise as fast as plain Go goes (sums32Fast).
func sums32(acc []float32, kc int, a []float32, ars, aps int, b []float32, bs int, rowMask uint32, cols int) {
	if !exactGo {
		sums32Fast(acc, kc, a, ars, aps, b, bs, cols)
		return
	}
	for r := range gemmMR {
		if rowMask>>r&1 == 0 {
			continue
		}
		sums := acc[r*gemmNR : r*gemmNR+cols]
		ar := a[r*ars:]
		for p := range kc {
			x := ar[p*aps]
			for j, y := range b[p*bs : p*bs+len(sums)] {
				sums[j] = fma32(x, y, sums[j])
			}
		}
	}
}

// exactGo makes the Go code that stands in for the assembly compute exactly what the assembly
// computes (fma32, exp32, the same order of sums), which is slow: the tests set it to check the
// assembly bit for bit. Without it, as in production on CPUs without AVX-512, the Go paths favour
// speed: multiply-adds as the compiler makes them (fused on arm64, not on amd64), and math.Exp.
var exactGo = false

// sums32Fast is sums32 without exactGo: two rows by four columns at a time in registers, each
// sum over this part of k from zero, then added to acc.
func sums32Fast(acc []float32, kc int, a []float32, ars, aps int, b []float32, bs int, cols int) {
	for r := 0; r < gemmMR; r += 2 {
		a0, a1 := a[r*ars:], a[(r+1)*ars:]
		j := 0
		for ; j+4 <= cols; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			for p := range kc {
				x0, x1 := a0[p*aps], a1[p*aps]
				y := b[p*bs+j : p*bs+j+4 : p*bs+j+4]
				s00 = x0*y[0] + s00
				s01 = x0*y[1] + s01
				s02 = x0*y[2] + s02
				s03 = x0*y[3] + s03
				s10 = x1*y[0] + s10
				s11 = x1*y[1] + s11
				s12 = x1*y[2] + s12
				s13 = x1*y[3] + s13
			}
			r0, r1 := acc[r*gemmNR+j:r*gemmNR+j+4], acc[(r+1)*gemmNR+j:(r+1)*gemmNR+j+4]
			r0[0], r0[1], r0[2], r0[3] = s00+r0[0], s01+r0[1], s02+r0[2], s03+r0[3]
			r1[0], r1[1], r1[2], r1[3] = s10+r1[0], s11+r1[1], s12+r1[2], s13+r1[3]
		}
		for ; j < cols; j++ {
			var s0, s1 float32
			for p := range kc {
				y := b[p*bs+j]
				s0 = a0[p*aps]*y + s0
				s1 = a1[p*aps]*y + s1
			}
			acc[r*gemmNR+j] += s0
			acc[(r+1)*gemmNR+j] += s1
		}
	}
}

// sums64 is sums32 for float64.
func sums64(acc []float64, kc int, a []float64, ars, aps int, b []float64, bs int, rowMask uint32, cols int) {
	for r := range gemmMR {
		if rowMask>>r&1 == 0 {
			continue
		}
		sums := acc[r*gemmNR : r*gemmNR+cols]
		ar := a[r*ars:]
		for p := range kc {
			x := ar[p*aps]
			for j, y := range b[p*bs : p*bs+len(sums)] {
				sums[j] = math.FMA(x, y, sums[j])
			}
		}
	}
}

// fma32 is x·y + z rounded once to float32. The product is exact in float64 and the sum s is
// rounded once there; rounding s again to float32 is the correctly rounded result unless s fell
// exactly halfway between two float32 values while the exact sum did not, which the sign of the
// sum's rounding error then decides.
func fma32(x, y, z float32) float32 {
	p, zz := float64(x)*float64(y), float64(z)
	s := p + zz
	r := float32(s)
	bits := math.Float64bits(s)
	if exp := int(bits>>52&0x7ff) - 1023; exp >= -126 && exp <= 127 && bits&(1<<29-1) != 1<<28 {
		return r // a normal float32 range value that is not a float32 midpoint
	}
	if math.IsInf(s, 0) || math.IsNaN(s) || float64(r) == s {
		return r
	}
	// s lies strictly between the float32 values lo < hi.
	lo, hi := r, r
	if float64(r) < s {
		hi = math.Nextafter32(r, float32(math.Inf(1)))
	} else {
		lo = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	mid := float64(lo)/2 + float64(hi)/2
	if math.IsInf(float64(hi), 1) {
		mid = float64(lo) + 0x1p103 // halfway from the largest float32 to 2¹²⁸
	} else if math.IsInf(float64(lo), -1) {
		mid = float64(hi) - 0x1p103
	}
	if s != mid {
		return r
	}
	bb := s - p // s = p + zz + e exactly (TwoSum)
	e := (p - (s - bb)) + (zz - bb)
	switch {
	case e > 0:
		return hi
	case e < 0:
		return lo
	}
	return r
}

// asFloat32 returns s as []float32 when T is float32.
func asFloat32[T Float](s []T) ([]float32, bool) {
	var zero T
	if unsafe.Sizeof(zero) != 4 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s)), true
}

// asFloat64 returns s as []float64; T must be float64.
func asFloat64[T Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
