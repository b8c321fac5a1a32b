package nf4

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

const testModule = "model.layers.0.self_attn.q_proj"

// writeAndOpen writes tensors to a file in a temporary folder and opens it;
// the file is closed when the test ends.
func writeAndOpen(t *testing.T, tensors []safetensors.Source) *safetensors.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := safetensors.WriteFile(path, map[string]string{"format": "pt"}, tensors); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sameQuantized compares every field of two weights.
func sameQuantized(t *testing.T, got, want *Quantized) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) || got.Blocksize != want.Blocksize {
		t.Fatalf("shape %v blocksize %d, want %v %d", got.Shape, got.Blocksize, want.Shape, want.Blocksize)
	}
	sameBytes(t, "packed", got.Packed, want.Packed)
	if (got.Absmax == nil) != (want.Absmax == nil) || (got.Double == nil) != (want.Double == nil) {
		t.Fatalf("absmax set %v double set %v, want %v %v", got.Absmax != nil, got.Double != nil, want.Absmax != nil, want.Double != nil)
	}
	sameBits(t, "absmax", got.Absmax, want.Absmax)
	if want.Double != nil {
		g, w := got.Double, want.Double
		sameBytes(t, "codes", g.Codes, w.Codes)
		sameBits(t, "nested absmax", g.NestedAbsmax, w.NestedAbsmax)
		sameBits(t, "offset", []float32{g.Offset}, []float32{w.Offset})
		sameBits(t, "map", g.Map[:], w.Map[:])
		if g.Blocksize != w.Blocksize {
			t.Errorf("nested blocksize %d, want %d", g.Blocksize, w.Blocksize)
		}
	}
}

// TestTensors_RoundTrip ensures a weight written with the safetensors writer
// reads back field for field, with the dtype it was written with, for both
// forms and for the module name with or without a trailing dot.
func TestTensors_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	w := normalWeight(rng, 300*111, 0.02)
	for _, double := range []bool{false, true} {
		q, err := Quantize(w, []int{300, 111}, 128, double)
		if err != nil {
			t.Fatal(err)
		}
		bias := safetensors.Bytes(testModule+".bias", safetensors.BF16, []int{300}, make([]byte, 600))
		f := writeAndOpen(t, append(Tensors(testModule+".", q, "float16"), bias))
		if !Stored(f, testModule) || Stored(f, "model.layers.0.self_attn.k_proj") {
			t.Errorf("Stored: q_proj %v, k_proj %v", Stored(f, testModule), Stored(f, "model.layers.0.self_attn.k_proj"))
		}
		got, dtype, err := Read(f, testModule)
		if err != nil {
			t.Fatal(err)
		}
		if dtype != "float16" {
			t.Errorf("dtype %q, want float16", dtype)
		}
		sameQuantized(t, got, q)
	}
}

// TestTensors_MatchBitsandbytesLayout ensures the names, dtypes and shapes
// are those of section 2 of the reference and that the quant_state bytes are
// exactly what Python's json.dumps writes (from the goldens).
func TestTensors_MatchBitsandbytesLayout(t *testing.T) {
	for _, c := range loadCases(t) {
		q, err := Quantize(c.Input, c.Shape, c.Blocksize, c.Double)
		if err != nil {
			t.Fatal(err)
		}
		n, nb := len(c.Input), len(c.Absmax)
		want := map[string]string{
			"m.weight":                               fmt.Sprintf("U8 [%d 1]", (n+1)/2),
			"m.weight.quant_map":                     "F32 [16]",
			"m.weight.absmax":                        fmt.Sprintf("F32 [%d]", nb),
			"m.weight.quant_state.bitsandbytes__nf4": fmt.Sprintf("U8 [%d]", len(c.QuantState)),
		}
		if c.Double {
			want["m.weight.absmax"] = fmt.Sprintf("U8 [%d]", nb)
			want["m.weight.nested_absmax"] = fmt.Sprintf("F32 [%d]", len(c.NestedAbsmax))
			want["m.weight.nested_quant_map"] = "F32 [256]"
		}
		got := map[string]string{}
		for _, s := range Tensors("m", q, c.DType) {
			got[s.Name] = fmt.Sprintf("%s %v", s.DType, s.Shape)
			if strings.HasSuffix(s.Name, "bitsandbytes__nf4") {
				data, _ := s.Data()
				if string(data) != c.QuantState {
					t.Errorf("%s: quant_state\n got %s\nwant %s", c.Name, data, c.QuantState)
				}
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: tensors %v, want %v", c.Name, got, want)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// transformersTensors builds, from golden data only, the tensors that
// transformers saves for a bitsandbytes 4-bit Linear.
func transformersTensors(module string, c goldenCase, tables goldenTables) []safetensors.Source {
	p := module
	n := len(c.Input)
	out := []safetensors.Source{
		safetensors.Bytes(p+".weight", safetensors.U8, []int{(n + 1) / 2, 1}, c.Packed),
		safetensors.Bytes(p+".weight.quant_map", safetensors.F32, []int{16}, safetensors.EncodeFloat32s(tables.NF4Code)),
		safetensors.Bytes(p+".weight.quant_state.bitsandbytes__nf4", safetensors.U8, []int{len(c.QuantState)}, []byte(c.QuantState)),
		safetensors.Bytes(p+".bias", safetensors.BF16, []int{c.Shape[0]}, make([]byte, 2*c.Shape[0])),
	}
	if !c.Double {
		return append(out, safetensors.Bytes(p+".weight.absmax", safetensors.F32, []int{len(c.Absmax)}, safetensors.EncodeFloat32s(c.Absmax)))
	}
	return append(out,
		safetensors.Bytes(p+".weight.absmax", safetensors.U8, []int{len(c.Codes)}, c.Codes),
		safetensors.Bytes(p+".weight.nested_absmax", safetensors.F32, []int{len(c.NestedAbsmax)}, safetensors.EncodeFloat32s(c.NestedAbsmax)),
		safetensors.Bytes(p+".weight.nested_quant_map", safetensors.F32, []int{256}, safetensors.EncodeFloat32s(tables.DynamicMap)),
	)
}

// TestRead_TransformersFile ensures a file laid out as transformers saves a
// 4-bit model, built from golden data alone, loads and dequantizes to the
// reference's values.
func TestRead_TransformersFile(t *testing.T) {
	var tables goldenTables
	loadGolden(t, "tables.json", &tables)
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := writeAndOpen(t, transformersTensors(testModule, c, tables))
			q, dtype, err := Read(f, testModule)
			if err != nil {
				t.Fatal(err)
			}
			if dtype != c.DType {
				t.Errorf("dtype %q, want %q", dtype, c.DType)
			}
			got := make([]float32, len(c.Input))
			q.Dequantize(got)
			sameBits(t, "dequantized", got, c.Dequant)
		})
	}
}

// TestRead_KeepsStoredNestedMap ensures a nested_quant_map that differs from
// ours in last bits (torch on another platform) is accepted and used.
func TestRead_KeepsStoredNestedMap(t *testing.T) {
	var tables goldenTables
	loadGolden(t, "tables.json", &tables)
	c := findCase(t, "double_bs64")
	tables.DynamicMap = slices.Clone(tables.DynamicMap)
	for i := 0; i < 256; i += 3 {
		tables.DynamicMap[i] = math.Nextafter32(tables.DynamicMap[i], 0)
	}
	q, _, err := Read(writeAndOpen(t, transformersTensors(testModule, c, tables)), testModule)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "map", q.Double.Map[:], tables.DynamicMap)
	b := 5
	want := float32(tables.DynamicMap[c.Codes[b]]*c.NestedAbsmax[0]) + c.Offset[0]
	if got := q.BlockAbsmax()[b]; got != want {
		t.Errorf("block %d absmax %v, want %v from the stored map", b, got, want)
	}
}

func findCase(t *testing.T, name string) goldenCase {
	for _, c := range loadCases(t) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no golden case %q", name)
	return goldenCase{}
}

// TestRead_Malformed ensures every kind of damage is an ErrLayout error
// naming the tensor at fault.
func TestRead_Malformed(t *testing.T) {
	var tables goldenTables
	loadGolden(t, "tables.json", &tables)
	c := findCase(t, "double_bs64")
	p := testModule
	state := func(s string) safetensors.Source {
		return safetensors.Bytes(p+".weight.quant_state.bitsandbytes__nf4", safetensors.U8, []int{len(s)}, []byte(s))
	}
	edit := func(js string, from, to string) safetensors.Source { return state(strings.Replace(js, from, to, 1)) }
	floats := func(name string, v []float32) safetensors.Source {
		return safetensors.Bytes(name, safetensors.F32, []int{len(v)}, safetensors.EncodeFloat32s(v))
	}
	badMap := slices.Clone(tables.NF4Code)
	badMap[3] = 0.5
	cases := []struct {
		name, tensor string
		change       func(map[string]safetensors.Source)
	}{
		{"missing absmax", ".weight.absmax", func(m map[string]safetensors.Source) { delete(m, p+".weight.absmax") }},
		{"missing weight", ".weight", func(m map[string]safetensors.Source) { delete(m, p+".weight") }},
		{"missing nested map", ".weight.nested_quant_map", func(m map[string]safetensors.Source) { delete(m, p+".weight.nested_quant_map") }},
		{"missing quant state", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			delete(m, p+".weight.quant_state.bitsandbytes__nf4")
		}},
		{"absmax as F32", ".weight.absmax", func(m map[string]safetensors.Source) {
			m[p+".weight.absmax"] = floats(p+".weight.absmax", c.Absmax)
		}},
		{"weight as F16", ".weight", func(m map[string]safetensors.Source) {
			m[p+".weight"] = safetensors.Bytes(p+".weight", safetensors.F16, []int{len(c.Packed) / 2, 1}, c.Packed[:len(c.Packed)/2*2])
		}},
		{"weight too short", ".weight", func(m map[string]safetensors.Source) {
			m[p+".weight"] = safetensors.Bytes(p+".weight", safetensors.U8, []int{len(c.Packed) - 1, 1}, c.Packed[1:])
		}},
		{"nested absmax wrong length", ".weight.nested_absmax", func(m map[string]safetensors.Source) {
			m[p+".weight.nested_absmax"] = floats(p+".weight.nested_absmax", c.NestedAbsmax[:1])
		}},
		{"NaN nested scale", ".weight.nested_absmax", func(m map[string]safetensors.Source) {
			m[p+".weight.nested_absmax"] = floats(p+".weight.nested_absmax", []float32{c.NestedAbsmax[0], float32(math.NaN())})
		}},
		{"negative nested scale", ".weight.nested_absmax", func(m map[string]safetensors.Source) {
			m[p+".weight.nested_absmax"] = floats(p+".weight.nested_absmax", []float32{-1, c.NestedAbsmax[1]})
		}},
		{"quant map not NF4", ".weight.quant_map", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_map"] = floats(p+".weight.quant_map", badMap)
		}},
		{"nested map not dynamic", ".weight.nested_quant_map", func(m map[string]safetensors.Source) {
			m[p+".weight.nested_quant_map"] = floats(p+".weight.nested_quant_map", slices.Repeat(tables.NF4Code, 16))
		}},
		{"bad JSON", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = state(c.QuantState[:20])
		}},
		{"fp4 in JSON", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `"nf4"`, `"fp4"`)
		}},
		{"bad blocksize", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `"blocksize": 64`, `"blocksize": 48`)
		}},
		{"bad nested blocksize", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `"nested_blocksize": 256`, `"nested_blocksize": 128`)
		}},
		{"half the nested keys", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `"nested_dtype"`, `"nested_type"`)
		}},
		{"unknown dtype", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `"bfloat16"`, `"int8"`)
		}},
		{"shape disagrees with weight", ".weight", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `[130, 130]`, `[130, 131]`)
		}},
		{"huge shape", ".weight.quant_state.bitsandbytes__nf4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__nf4"] = edit(c.QuantState, `[130, 130]`, `[9223372036854775807, 4]`)
		}},
		{"fp4 weight", ".weight.quant_state.bitsandbytes__fp4", func(m map[string]safetensors.Source) {
			m[p+".weight.quant_state.bitsandbytes__fp4"] = safetensors.Bytes(p+".weight.quant_state.bitsandbytes__fp4", safetensors.U8, []int{2}, []byte("{}"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]safetensors.Source{}
			for _, s := range transformersTensors(p, c, tables) {
				m[s.Name] = s
			}
			tc.change(m)
			var list []safetensors.Source
			for _, s := range m {
				list = append(list, s)
			}
			_, _, err := Read(writeAndOpen(t, list), p)
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("err = %v, want ErrLayout", err)
			}
			if !strings.Contains(err.Error(), `"`+p+tc.tensor+`"`) {
				t.Errorf("error %q does not name tensor %s", err, p+tc.tensor)
			}
		})
	}
}

// TestQuantizationConfig_JSON ensures the config.json block has exactly the
// keys, order and values transformers writes, and decodes back.
func TestQuantizationConfig_JSON(t *testing.T) {
	want := `{"_load_in_4bit":true,"_load_in_8bit":false,"bnb_4bit_compute_dtype":"bfloat16",` +
		`"bnb_4bit_quant_storage":"uint8","bnb_4bit_quant_type":"nf4","bnb_4bit_use_double_quant":true,` +
		`"llm_int8_enable_fp32_cpu_offload":false,"llm_int8_has_fp16_weight":false,"llm_int8_skip_modules":null,` +
		`"llm_int8_threshold":6.0,"load_in_4bit":true,"load_in_8bit":false,"quant_method":"bitsandbytes"}`
	cfg := NewQuantizationConfig("bfloat16", true)
	got, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("config\n got %s\nwant %s", got, want)
	}
	var back QuantizationConfig
	if err := json.Unmarshal([]byte(want), &back); err != nil {
		t.Fatal(err)
	}
	if jsonText(back) != want {
		t.Errorf("decoded config re-encodes as %s", jsonText(back))
	}
}
