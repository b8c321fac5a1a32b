package nf4

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/pyfloat"
)

// The goldens are written by scripts/nf4_reference.py, an independent numpy
// implementation of bitsandbytes' kernels. Arrays are base64 of
// little-endian float32 (or raw bytes), so comparisons are bit for bit.

type goldenTables struct {
	NF4Code           f32s  `json:"nf4_code"`
	NF4Thresholds     f32s  `json:"nf4_thresholds"`
	DynamicMap        f32s  `json:"dynamic_map"`
	DynamicProbe      f32s  `json:"dynamic_probe"`
	DynamicProbeCodes bytes `json:"dynamic_probe_codes"`
}

type goldenCase struct {
	Name         string `json:"name"`
	Shape        []int  `json:"shape"`
	Blocksize    int    `json:"blocksize"`
	Double       bool   `json:"double"`
	DType        string `json:"dtype"`
	Input        f32s   `json:"input"`
	Packed       bytes  `json:"packed"`
	Absmax       f32s   `json:"absmax"`
	Codes        bytes  `json:"codes"`
	NestedAbsmax f32s   `json:"nested_absmax"`
	Offset       f32s   `json:"offset"`
	OffsetRepr   string `json:"offset_repr"`
	Dequant      f32s   `json:"dequant"`
	QuantState   string `json:"quant_state"`
}

// f32s decodes base64 little-endian float32.
type f32s []float32

func (f *f32s) UnmarshalJSON(b []byte) error {
	var raw bytes
	if err := raw.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = make([]float32, len(raw)/4)
	for i := range *f {
		(*f)[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

// bytes decodes base64.
type bytes []byte

func (p *bytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	*p = raw
	return err
}

func loadGolden(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "nf4", name))
	if err != nil {
		t.Fatalf("golden %s missing (regenerate with /usr/bin/python3 scripts/nf4_reference.py): %v", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
}

func loadCases(t testing.TB) []goldenCase {
	var cases []goldenCase
	loadGolden(t, "cases.json", &cases)
	if len(cases) == 0 {
		t.Fatal("cases.json holds no cases")
	}
	return cases
}

// sameBits compares float32 slices bit for bit and reports the first few
// differences.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s[%d] = %#02x, want %#02x", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d bytes differ", what, bad, len(got))
	}
}

// TestTables_MatchReference ensures the NF4 table, the tree's thresholds and
// the dynamic map are the reference's, bit for bit.
func TestTables_MatchReference(t *testing.T) {
	var g goldenTables
	loadGolden(t, "tables.json", &g)
	code := NF4Code()
	sameBits(t, "nf4 code", code[:], g.NF4Code)
	th := NF4Thresholds()
	sameBits(t, "nf4 thresholds", th[:], g.NF4Thresholds)
	m := DynamicMap()
	sameBits(t, "dynamic map", m[:], g.DynamicMap)
}

// TestDynamicIndex_MatchesReference ensures the 8-bit search picks the
// reference's code for every map entry, every midpoint (the ties), the
// floats either side of each midpoint, the ends, -0 and NaN.
func TestDynamicIndex_MatchesReference(t *testing.T) {
	var g goldenTables
	loadGolden(t, "tables.json", &g)
	if len(g.DynamicProbe) != len(g.DynamicProbeCodes) || len(g.DynamicProbe) < 1000 {
		t.Fatalf("probe has %d points and %d codes", len(g.DynamicProbe), len(g.DynamicProbeCodes))
	}
	got := make([]byte, len(g.DynamicProbe))
	for i, x := range g.DynamicProbe {
		got[i] = dynamicIndex(&dynamicMap, x)
	}
	sameBytes(t, "dynamic codes", got, g.DynamicProbeCodes)
}

// TestQuantize_MatchesReference ensures packed codes, scales, double-quant
// codes, nested scales, offset and the dequantized weight equal the
// reference's for every golden case.
func TestQuantize_MatchesReference(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			plain, err := Quantize(c.Input, c.Shape, c.Blocksize, false)
			if err != nil {
				t.Fatal(err)
			}
			sameBytes(t, "packed", plain.Packed, c.Packed)
			sameBits(t, "absmax", plain.Absmax, c.Absmax)
			q := plain
			if c.Double {
				if q, err = Quantize(c.Input, c.Shape, c.Blocksize, true); err != nil {
					t.Fatal(err)
				}
				checkDouble(t, q, c)
			}
			got := make([]float32, len(c.Input))
			q.Dequantize(got)
			sameBits(t, "dequantized", got, c.Dequant)
		})
	}
}

func checkDouble(t *testing.T, q *Quantized, c goldenCase) {
	t.Helper()
	if q.Absmax != nil || q.Double == nil {
		t.Fatal("double-quantized weight should have Double set and Absmax nil")
	}
	sameBytes(t, "packed (double)", q.Packed, c.Packed)
	sameBytes(t, "absmax codes", q.Double.Codes, c.Codes)
	sameBits(t, "nested absmax", q.Double.NestedAbsmax, c.NestedAbsmax)
	sameBits(t, "offset", []float32{q.Double.Offset}, c.Offset)
	if got := pyfloat.Repr(float64(q.Double.Offset)); got != c.OffsetRepr {
		t.Errorf("offset repr %q, want Python's %q", got, c.OffsetRepr)
	}
}

// TestGoldenCases_CoverTheEdges guards the golden file itself: the cases the
// brief requires must stay in it.
func TestGoldenCases_CoverTheEdges(t *testing.T) {
	var zeroBlock, oddCount, crossRows, bigDouble bool
	blocksizes := map[int]bool{}
	for _, c := range loadCases(t) {
		blocksizes[c.Blocksize] = true
		for _, a := range c.Absmax {
			zeroBlock = zeroBlock || a == 0
		}
		n := len(c.Input)
		oddCount = oddCount || (n%2 == 1 && n%c.Blocksize != 0)
		crossRows = crossRows || c.Shape[1]%c.Blocksize != 0
		bigDouble = bigDouble || (c.Double && len(c.Codes) > NestedBlocksize)
	}
	if !zeroBlock || !oddCount || !crossRows || !bigDouble {
		t.Errorf("golden coverage: zero block %v, odd count %v, blocks across rows %v, >256 double-quant blocks %v",
			zeroBlock, oddCount, crossRows, bigDouble)
	}
	for _, bs := range []int{32, 64, 128, 4096} {
		if !blocksizes[bs] {
			t.Errorf("no golden case with blocksize %d", bs)
		}
	}
}
