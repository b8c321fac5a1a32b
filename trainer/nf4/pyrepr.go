package nf4

import (
	"math"
	"strconv"
	"strings"
)

// pyFloatRepr formats f as Python's repr(float) does, which is what
// json.dumps writes for a float: the shortest decimal that reads back to the
// same float64, positional for exponents -4..15 with at least one digit after
// the point ("0.5", "100.0", "0.0123"), otherwise scientific with a signed,
// at least two-digit exponent ("1e-05", "1.5e+16"). NaN and the infinities
// come out as json.dumps writes them.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0 && math.Signbit(f):
		return "-0.0"
	case f == 0:
		return "0.0"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, shortest digits
	mant, expText, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expText)
	if exp < -4 || exp >= 16 {
		// Go writes at least two exponent digits with a sign, as Python does.
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	_ = mant
	return s
}
