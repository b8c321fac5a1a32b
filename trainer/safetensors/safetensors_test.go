package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sample returns tensors of every dtype the engine reads, including an odd-length U8 and a scalar.
func sample() map[string]Source {
	f32 := []float32{1.5, -2.25, 3e-8, float32(math.Inf(1)), 0, 7}
	i32 := []int32{-1, 2, math.MaxInt32}
	i64 := []int64{-5, math.MaxInt64}
	ib := make([]byte, 12)
	for i, v := range i32 {
		binary.LittleEndian.PutUint32(ib[4*i:], uint32(v))
	}
	lb := make([]byte, 16)
	for i, v := range i64 {
		binary.LittleEndian.PutUint64(lb[8*i:], uint64(v))
	}
	return map[string]Source{
		"w.f32":   Bytes("w.f32", F32, []int{2, 3}, EncodeFloat32s(f32)),
		"w.bf16":  Bytes("w.bf16", BF16, []int{3, 2}, EncodeBF16s(f32)),
		"w.f16":   Bytes("w.f16", F16, []int{6}, EncodeF16s(f32)),
		"odd.u8":  Bytes("odd.u8", U8, []int{3, 1}, []byte{1, 2, 3}),
		"ids.i32": Bytes("ids.i32", I32, []int{3}, ib),
		"ids.i64": Bytes("ids.i64", I64, []int{2}, lb),
		"scalar":  Bytes("scalar", F32, []int{}, EncodeFloat32s([]float32{42})),
		"empty":   Bytes("empty", BF16, []int{0, 4}, nil),
	}
}

func sources(m map[string]Source) []Source {
	var out []Source
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// writeRaw writes a file from a literal header and buffer, for malformed cases the writer refuses.
func writeRaw(t *testing.T, header string, buffer []byte) string {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(buffer)
	path := filepath.Join(t.TempDir(), "raw.safetensors")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWriteFile_RoundTrip ensures every tensor, dtype, shape and the metadata read back byte for byte.
func TestWriteFile_RoundTrip(t *testing.T) {
	want := sample()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	meta := map[string]string{"format": "pt"}
	if err := WriteFile(path, meta, sources(want)); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Names()) != len(want) {
		t.Fatalf("names %v", f.Names())
	}
	for name, s := range want {
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := s.Data()
		if got.DType != s.DType || !reflect.DeepEqual(got.Shape, s.Shape) || !bytes.Equal(got.Data, data) {
			t.Errorf("%s: got %s %v %x, want %s %v %x", name, got.DType, got.Shape, got.Data, s.DType, s.Shape, data)
		}
	}
	st, _ := os.Stat(path)
	n := binary.LittleEndian.Uint64(f.mapping)
	if (8+n)%8 != 0 || st.Size() != int64(len(f.mapping)) {
		t.Errorf("header length %d does not pad the data start to 8 bytes", n)
	}
}

// TestTensor_TypedViews ensures each typed view decodes the values that were written.
func TestTensor_TypedViews(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, nil, sources(sample())); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor := func(name string) Tensor {
		tt, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	wantF := []float32{1.5, -2.25, 3e-8, float32(math.Inf(1)), 0, 7}
	if got, _ := tensor("w.f32").Float32View(); !reflect.DeepEqual(got, wantF) {
		t.Errorf("F32 view %v", got)
	}
	if got, _ := tensor("w.bf16").Float32s(); got[0] != 1.5 || got[1] != -2.25 || got[5] != 7 || math.Abs(float64(got[2]-3e-8)) > 3e-10 {
		t.Errorf("BF16 decode %v", got)
	}
	if got, _ := tensor("w.f16").Float32s(); got[0] != 1.5 || got[2] != F16ToFloat32(Float32ToF16(3e-8)) {
		t.Errorf("F16 decode %v", got)
	}
	if got, _ := tensor("ids.i32").Int32View(); !reflect.DeepEqual(got, []int32{-1, 2, math.MaxInt32}) {
		t.Errorf("I32 view %v", got)
	}
	if got, _ := tensor("ids.i64").Int64View(); !reflect.DeepEqual(got, []int64{-5, math.MaxInt64}) {
		t.Errorf("I64 view %v", got)
	}
	if got, _ := tensor("odd.u8").Uint8s(); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("U8 %v", got)
	}
	if got, _ := tensor("scalar").Float32s(); !reflect.DeepEqual(got, []float32{42}) {
		t.Errorf("scalar %v", got)
	}
	if _, err := tensor("w.bf16").Float32View(); err == nil || !strings.Contains(err.Error(), `"w.bf16"`) {
		t.Errorf("F32 view of a BF16 tensor: %v", err)
	}
}

// TestTensor_Misaligned ensures a tensor that an odd-length U8 tensor pushed off its alignment is
// copied into aligned memory, not read through a misaligned pointer.
func TestTensor_Misaligned(t *testing.T) {
	header := `{"odd":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	buf := append([]byte{9}, EncodeFloat32s([]float32{3.5, -1})...)
	f, err := Open(writeRaw(t, header, buf))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt, _ := f.Tensor("f")
	got, err := tt.Float32View()
	if err != nil || !reflect.DeepEqual(got, []float32{3.5, -1}) {
		t.Fatalf("misaligned F32: %v %v", got, err)
	}
}

// TestOpen_Malformed ensures each structural fault is refused with the file and, where one is to
// blame, the tensor named.
func TestOpen_Malformed(t *testing.T) {
	f32 := EncodeFloat32s([]float32{1, 2})
	cases := []struct {
		name, header string
		buffer       []byte
		want         string
	}{
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32, `"b": data_offsets [4, 8] overlap`},
		{"out of range", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32, `"a": data_offsets [0, 16] run past`},
		{"hole", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32, `"a": data_offsets [4, 8] leave a hole`},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32, `"a": data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12`},
		{"duplicate", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32, `"a": duplicate key`},
		{"unknown dtype", `{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, f32, `"a": unknown dtype "Q4"`},
		{"not an object", `["a"]`, nil, "not a JSON object"},
		{"bad json", `{"a":{"dtype":"F32",`, nil, "header"},
		{"negative shape", `{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32, `"a": shape [-2]`},
		{"trailing buffer", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32, "cover 4 bytes but the data buffer has 8"},
		{"bad metadata", `{"__metadata__":{"a":1}}`, nil, "__metadata__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeRaw(t, c.header, c.buffer)
			_, err := Open(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %s and %q", err, path, c.want)
			}
		})
	}
}

// TestOpen_Truncated ensures a file cut short anywhere is refused, never read past its end.
func TestOpen_Truncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, nil, sources(sample())); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(path)
	for _, n := range []int{0, 5, 8, 20, len(whole) / 2, len(whole) - 1} {
		cut := filepath.Join(t.TempDir(), "cut.safetensors")
		os.WriteFile(cut, whole[:n], 0o644)
		if _, err := Open(cut); err == nil || !strings.Contains(err.Error(), cut) {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
}

// TestOpen_HeaderTooLarge ensures a header length over 100 MB is refused before anything is read.
func TestOpen_HeaderTooLarge(t *testing.T) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], MaxHeaderSize+1)
	path := filepath.Join(t.TempDir(), "big.safetensors")
	os.WriteFile(path, b[:], 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("got %v", err)
	}
}

// TestOpen_ReferenceLayout ensures a file laid out byte for byte as the reference writer does it
// (metadata first, unpadded JSON, space padding) reads.
func TestOpen_ReferenceLayout(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},"lm_head.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	f, err := Open(writeRaw(t, header, EncodeBF16s([]float32{1, 2, 3, 4})))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt, _ := f.Tensor("lm_head.weight")
	if got, _ := tt.Float32s(); !reflect.DeepEqual(got, []float32{1, 2, 3, 4}) || f.Metadata["format"] != "pt" {
		t.Errorf("got %v %v", got, f.Metadata)
	}
}

// TestWriteFile_FailureKeepsOld ensures a write that fails midway leaves the previous file intact
// and no temporary file behind.
func TestWriteFile_FailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(path, nil, sources(sample())); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := Source{Name: "x", DType: F32, Shape: []int{2}, Data: func() ([]byte, error) { return []byte{1}, nil }}
	err := WriteFile(path, nil, []Source{bad})
	if err == nil || !strings.Contains(err.Error(), `"x": 1 bytes of data`) {
		t.Fatalf("got %v", err)
	}
	after, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(dir)
	if !bytes.Equal(before, after) || len(entries) != 1 {
		t.Errorf("old file changed or temporary left: %d entries", len(entries))
	}
}

// TestWriteShards_OpenDir ensures a sharded checkpoint and its index read back as one set.
func TestWriteShards_OpenDir(t *testing.T) {
	dir := t.TempDir()
	want := sample()
	names, err := WriteShards(dir, "model", 20, map[string]string{"format": "pt"}, sources(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 || names[len(names)-1] != IndexName {
		t.Fatalf("files %v", names)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Names()) != len(want) {
		t.Fatalf("names %v", d.Names())
	}
	for name, s := range want {
		got, err := d.Tensor(name)
		data, _ := s.Data()
		if err != nil || !bytes.Equal(got.Data, data) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestWriteShards_Single ensures a checkpoint that fits one shard is one model.safetensors, no index.
func TestWriteShards_Single(t *testing.T) {
	dir := t.TempDir()
	names, err := WriteShards(dir, "model", 1<<30, nil, sources(sample()))
	if err != nil || !reflect.DeepEqual(names, []string{"model.safetensors"}) {
		t.Fatalf("%v %v", names, err)
	}
	d, err := OpenDir(dir)
	if err != nil || len(d.Names()) != len(sample()) {
		t.Fatalf("%v", err)
	}
	d.Close()
}

// TestOpenDir_IndexNamesMissingTensor ensures an index that points at a shard without the tensor
// is refused, naming the tensor.
func TestOpenDir_IndexNamesMissingTensor(t *testing.T) {
	dir := t.TempDir()
	names, err := WriteShards(dir, "model", 20, nil, sources(sample()))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, IndexName))
	js = bytes.Replace(js, []byte(`"weight_map": {`), []byte(`"weight_map": {"ghost": "`+names[0]+`", `), 1)
	os.WriteFile(filepath.Join(dir, IndexName), js, 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("got %v", err)
	}
}

// TestOpenDir_Duplicate ensures a tensor stored in two files of a folder is refused.
func TestOpenDir_Duplicate(t *testing.T) {
	dir := t.TempDir()
	s := []Source{Bytes("a", U8, []int{1}, []byte{1})}
	WriteFile(filepath.Join(dir, "one.safetensors"), nil, s)
	WriteFile(filepath.Join(dir, "two.safetensors"), nil, s)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), `"a" is stored in both`) {
		t.Errorf("got %v", err)
	}
}

// TestHalf_RoundTrip ensures every finite bfloat16 and half bit pattern survives widening and
// narrowing unchanged.
func TestHalf_RoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		if f := BF16ToFloat32(h); f == f && Float32ToBF16(f) != h {
			t.Fatalf("bf16 %#04x -> %g -> %#04x", h, f, Float32ToBF16(f))
		}
		if f := F16ToFloat32(h); f == f && Float32ToF16(f) != h {
			t.Fatalf("f16 %#04x -> %g -> %#04x", h, f, Float32ToF16(f))
		}
	}
}

// TestHalf_Rounding ensures narrowing rounds to nearest with ties to even, and overflows to inf.
func TestHalf_Rounding(t *testing.T) {
	bf := []struct {
		in   uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even below
		{0x3f818000, 0x3f82}, // tie, odd below: up
		{0x3f808001, 0x3f81}, // above the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to inf
	}
	for _, c := range bf {
		if got := Float32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("bf16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	f16 := []struct {
		in   float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},     // tie between 1 and the next half: even (1)
		{1 + 3.0/2048, 0x3c02},     // tie, odd below: up
		{65520, 0x7c00},            // rounds past max half: inf
		{5.960464477539063e-8, 1},  // smallest subnormal
		{2.9802322387695312e-8, 0}, // half of it: tie to even zero
		{float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, c := range f16 {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("f16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

// TestOpenDir_PrefersModelFile ensures other safetensors files beside model.safetensors are not
// taken for part of the checkpoint.
func TestOpenDir_PrefersModelFile(t *testing.T) {
	dir := t.TempDir()
	WriteFile(filepath.Join(dir, SingleName), nil, []Source{Bytes("a", U8, []int{1}, []byte{1})})
	WriteFile(filepath.Join(dir, "consolidated.safetensors"), nil, []Source{Bytes("a", U8, []int{1}, []byte{2})})
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Files) != 1 || filepath.Base(d.Files[0].Path) != SingleName {
		t.Errorf("opened %d files", len(d.Files))
	}
}
