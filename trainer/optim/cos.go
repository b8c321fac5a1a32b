package optim

import "math"

// cosRN is cos(x) rounded to the nearest float64, as the C library's cos that Python's math.cos
// calls gives it; Go's math.Cos can be a bit or two off, and transformers' cosine schedule
// multiplies that error (0.5·(1 + cos) near cos = −1). The argument is reduced by π/2 held in three
// float64s and the Taylor series summed in double-double arithmetic (about 106 bits), then rounded
// once. It serves the schedule's arguments, 0 ≤ x ≤ a few π; beyond 1e6 or for NaN and ±Inf it
// falls back to math.Cos.
func cosRN(x float64) float64 {
	if !(math.Abs(x) <= 1e6) {
		return math.Cos(x)
	}
	const ( // π/2 = pio2a + pio2b + pio2c
		pio2a = 1.5707963267948966
		pio2b = 6.123233995736766e-17
		pio2c = -1.4973849048591698e-33
	)
	k := math.Round(x / pio2a)
	// r = x − k·π/2, in double-double.
	a, aErr := twoProd(k, pio2a)
	r := ddAdd(twoSum(x, -a), dd{-aErr, 0})
	b, bErr := twoProd(k, pio2b)
	r = ddAdd(r, dd{-b, -bErr})
	r = ddAdd(r, dd{-k * pio2c, 0})

	var v dd
	switch q := int64(k) & 3; q {
	case 0, 2:
		v = ddCosSin(r, true)
		if q == 2 {
			v = dd{-v.hi, -v.lo}
		}
	default:
		v = ddCosSin(r, false)
		if q == 1 {
			v = dd{-v.hi, -v.lo}
		}
	}
	return v.hi + v.lo
}

// dd is an unevaluated sum hi + lo with |lo| ≤ ulp(hi)/2.
type dd struct{ hi, lo float64 }

// twoSum returns a + b exactly as a double-double.
func twoSum(a, b float64) dd {
	s := a + b
	bb := s - a
	return dd{s, (a - (s - bb)) + (b - bb)}
}

// twoProd returns p = fl(a·b) and the exact error a·b − p.
func twoProd(a, b float64) (p, err float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

func ddAdd(x, y dd) dd {
	s := twoSum(x.hi, y.hi)
	t := twoSum(x.lo, y.lo)
	s.lo += t.hi
	s = twoSum(s.hi, s.lo)
	s.lo += t.lo
	return twoSum(s.hi, s.lo)
}

func ddMul(x, y dd) dd {
	p, e := twoProd(x.hi, y.hi)
	e += float64(x.hi*y.lo) + float64(x.lo*y.hi) // unfused, for the same bits on every build
	return twoSum(p, e)
}

// ddDiv divides x by a small integer d (exact as a float64).
func ddDiv(x dd, d float64) dd {
	q1 := x.hi / d
	p, e := twoProd(q1, d)
	rem := ((x.hi - p) - e) + x.lo
	return twoSum(q1, rem/d)
}

// ddCosSin sums the Taylor series of cos r (cos set) or sin r for |r| ≤ π/4.
func ddCosSin(r dd, cos bool) dd {
	r2 := ddMul(r, r)
	term, n := r, 1.0
	if cos {
		term, n = dd{1, 0}, 0
	}
	sum := term
	for math.Abs(term.hi) > 1e-40 {
		term = ddDiv(ddMul(term, r2), -(n+1)*(n+2))
		n += 2
		sum = ddAdd(sum, term)
	}
	return sum
}
