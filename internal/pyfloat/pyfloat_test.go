package pyfloat

import (
	"math"
	"testing"
)

// TestRepr ensures floats print as CPython 3.11's repr does.
func TestRepr(t *testing.T) {
	cases := map[float64]string{
		0: "0.0", math.Copysign(0, -1): "-0.0", 1: "1.0", 0.5: "0.5", 100: "100.0", 0.0123: "0.0123", 0.05: "0.05",
		1e-5: "1e-05", 1.5e-5: "1.5e-05", 0.0001: "0.0001", 1e16: "1e+16", 1.5e16: "1.5e+16", 1e22: "1e+22",
		1e15: "1000000000000000.0", 123456789.0: "123456789.0", -2.5e-7: "-2.5e-07", 16: "16.0", -2.5: "-2.5",
		123456789012345678: "1.2345678901234568e+17", math.Nextafter(0.3, 1): "0.30000000000000004",
		float64(float32(0.0123)): "0.012299999594688416", 1e100: "1e+100",
		math.Inf(1): "Infinity", math.Inf(-1): "-Infinity",
	}
	for f, want := range cases {
		if got := Repr(f); got != want {
			t.Errorf("Repr(%g) = %q, want %q", f, got, want)
		}
	}
	if got := Repr(math.NaN()); got != "NaN" {
		t.Errorf("Repr(NaN) = %q", got)
	}
}
