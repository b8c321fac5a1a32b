package gguf

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// everyValue is metadata of every scalar type and every array element type.
func everyValue() []KV {
	return []KV{
		{"general.architecture", String("llama")},
		{"t.u8", Uint8(200)}, {"t.i8", Int8(-100)}, {"t.u16", Uint16(60000)}, {"t.i16", Int16(-30000)},
		{"t.u32", Uint32(4e9)}, {"t.i32", Int32(-2e9)}, {"t.f32", Float32(-1.5e-7)}, {"t.bool", Bool(true)},
		{"t.string", String("ünïcödé ▁ and\x00nul")}, {"t.u64", Uint64(math.MaxUint64)}, {"t.i64", Int64(math.MinInt64)},
		{"t.f64", Float64(math.Pi)},
		{"a.u8", Array([]uint8{1, 2, 3})}, {"a.i8", Array([]int8{-1, 2})}, {"a.u16", Array([]uint16{65535})},
		{"a.i16", Array([]int16{-2, 3})}, {"a.u32", Array([]uint32{7, 8})}, {"a.i32", Int32s([]int32{-7, 8})},
		{"a.f32", Float32s([]float32{0.25, float32(math.Inf(-1))})}, {"a.bool", Array([]bool{true, false, true})},
		{"a.string", Strings([]string{"", "a b", "▁x"})}, {"a.u64", Array([]uint64{1 << 40})},
		{"a.i64", Array([]int64{-1 << 40})}, {"a.f64", Array([]float64{1e300})}, {"a.empty", Strings([]string{})},
		{"general.alignment", Uint32(64)},
	}
}

// rawTensor is a TensorSource of fixed bytes.
func rawTensor(name string, t GGMLType, dims []int, data []byte) TensorSource {
	return TensorSource{Name: name, Dims: dims, Type: t, Data: func() ([]byte, error) { return data, nil }}
}

func floatTensor(name string, t GGMLType, dims ...int) (TensorSource, []float32) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)*0.7)) * 3
	}
	return Floats(name, t, dims, func() ([]float32, error) { return v, nil }), v
}

// TestWrite_Open_RoundTrip ensures every value type and tensor type reads back as written, in order,
// with the data section and every tensor aligned to general.alignment and zero padding between.
func TestWrite_Open_RoundTrip(t *testing.T) {
	kvs := everyValue()
	a, av := floatTensor("a.f32", F32, 5, 3)
	b, bv := floatTensor("b.f16", F16, 7)
	c, cv := floatTensor("c.bf16", BF16, 3, 2, 2)
	d, dv := floatTensor("d.q8_0", Q8_0, 64, 2)
	q4k := make([]byte, 144)
	for i := range q4k {
		q4k[i] = byte(i)
	}
	tensors := []TensorSource{a, b, c, d, rawTensor("e.q4_k", Q4_K, []int{256}, q4k)}
	path := filepath.Join(t.TempDir(), "x.gguf")
	must(t, Write(path, kvs, tensors, nil))

	f, err := Open(path)
	must(t, err)
	defer f.Close()
	if f.Version != 3 || f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Fatalf("version %d, alignment %d, data at %d", f.Version, f.Alignment, f.DataOffset)
	}
	if len(f.KV) != len(kvs) {
		t.Fatalf("%d keys, want %d", len(f.KV), len(kvs))
	}
	for i, kv := range kvs {
		got := f.KV[i]
		if got.Key != kv.Key || !reflect.DeepEqual(got.Value.Data(), kv.Value.Data()) {
			t.Errorf("key %d: %s = %v (%s), want %s = %v (%s)", i, got.Key, got.Value, got.Value.TypeName(),
				kv.Key, kv.Value, kv.Value.TypeName())
		}
	}
	for i, want := range [][]float32{av, bv, cv, dv} {
		got, err := f.Float32s(tensors[i].Name)
		must(t, err)
		compareValues(t, tensors[i].Name, tensors[i].Type, got, want)
	}
	raw, err := f.Data("e.q4_k")
	must(t, err)
	if string(raw) != string(q4k) {
		t.Error("Q4_K bytes changed")
	}
	if _, err := f.Float32s("e.q4_k"); err == nil || !strings.Contains(err.Error(), "cannot decode Q4_K") {
		t.Errorf("decoding Q4_K: %v", err)
	}
	checkLayout(t, path, f, tensors)
}

// checkLayout checks offsets, padding and the file's size.
func checkLayout(t *testing.T, path string, f *File, tensors []TensorSource) {
	t.Helper()
	file, err := os.ReadFile(path)
	must(t, err)
	size, err := FileSize(f.KV, tensors)
	must(t, err)
	if int64(len(file)) != size {
		t.Errorf("file of %d bytes, FileSize %d", len(file), size)
	}
	var at int64
	for i, ti := range f.Tensors {
		if ti.Name != tensors[i].Name || !reflect.DeepEqual(ti.Dims, tensors[i].Dims) || ti.Type != tensors[i].Type {
			t.Errorf("tensor %d: %+v, want %s %v %s", i, ti, tensors[i].Name, tensors[i].Dims, tensors[i].Type)
		}
		if ti.Offset != at || ti.Offset%f.Alignment != 0 {
			t.Errorf("%s at %d, want %d", ti.Name, ti.Offset, at)
		}
		end := f.DataOffset + ti.Offset + ti.Size()
		at += pad(ti.Size(), f.Alignment)
		for _, x := range file[end : f.DataOffset+at] {
			if x != 0 {
				t.Fatalf("%s: padding is not zero", ti.Name)
			}
		}
	}
	if f.DataOffset+at != int64(len(file)) {
		t.Errorf("data ends at %d, the file at %d", f.DataOffset+at, len(file))
	}
}

// TestWrite_Refuses ensures bad metadata or tensors are refused before anything is written, with
// the path and the key or tensor named, and a failing tensor leaves no file behind.
func TestWrite_Refuses(t *testing.T) {
	good, _ := floatTensor("good", F32, 4)
	long := strings.Repeat("x", 64)
	for _, c := range []struct {
		name    string
		kvs     []KV
		tensors []TensorSource
		want    string
	}{
		{"duplicate key", []KV{{"a", Uint8(1)}, {"a", Uint8(2)}}, nil, `metadata key "a": written twice`},
		{"invalid value", []KV{{"a", Value{}}}, nil, `metadata key "a": <nil> is not a GGUF value`},
		{"alignment type", []KV{{"general.alignment", Uint64(32)}}, nil, "must be a uint32 power of two"},
		{"alignment value", []KV{{"general.alignment", Uint32(48)}}, nil, "must be a uint32 power of two"},
		{"duplicate tensor", nil, []TensorSource{good, good}, `tensor "good": written twice`},
		{"long name", nil, []TensorSource{rawTensor(long, F32, []int{1}, make([]byte, 4))}, "name must be 1 to 63 bytes"},
		{"five dims", nil, []TensorSource{rawTensor("t", F32, []int{1, 1, 1, 1, 1}, make([]byte, 4))}, "5 dimensions"},
		{"zero dim", nil, []TensorSource{rawTensor("t", F32, []int{0}, nil)}, "dimensions [0]"},
		{"partial block", nil, []TensorSource{rawTensor("t", Q8_0, []int{48}, make([]byte, 51))}, "not whole Q8_0 blocks"},
		{"wrong size", nil, []TensorSource{rawTensor("t", F16, []int{3}, make([]byte, 4))}, "4 bytes of data, but F16 [3] needs 6"},
		{"failing data", nil, []TensorSource{good, {Name: "bad", Dims: []int{1}, Type: F32,
			Data: func() ([]byte, error) { return nil, errors.New("disk on fire") }}}, `tensor "bad": disk on fire`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.gguf")
			err := Write(path, c.kvs, c.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and %q", err, path, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("left %d files behind", len(entries))
			}
		})
	}
}

// TestParseType ensures the --dtype names parse in any case and others are refused.
func TestParseType(t *testing.T) {
	for s, want := range map[string]GGMLType{"f16": F16, "BF16": BF16, "q8_0": Q8_0, "F32": F32} {
		if got, err := ParseType(s); err != nil || got != want {
			t.Errorf("ParseType(%q) = %s, %v", s, got, err)
		}
	}
	if _, err := ParseType("q4_k"); err == nil {
		t.Error("q4_k parsed")
	}
}
