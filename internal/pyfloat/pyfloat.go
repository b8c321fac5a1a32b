// Package pyfloat prints a float64 as Python's repr(float) does — which is also what json.dumps
// writes — so files we write match byte for byte what the Python ecosystem writes (PEFT's
// adapter_config.json, bitsandbytes' quant_state, chat templates' tojson).
package pyfloat

import (
	"math"
	"strconv"
	"strings"
)

// Repr is the shortest decimal that reads back to f: positional for exponents -4..15 with at least
// one digit after the point ("0.5", "100.0", "0.0123"), otherwise scientific with a signed exponent
// of at least two digits ("1e-05", "1.5e+16"). NaN and the infinities come out as json.dumps writes
// them.
func Repr(f float64) string {
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
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX: Go writes two exponent digits at least, as Python does
	_, expText, _ := strings.Cut(sci, "e")
	if exp, _ := strconv.Atoi(expText); exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
