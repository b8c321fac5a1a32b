package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smallFile is a valid file of a few keys and two tensors, as bytes.
func smallFile(t testing.TB) []byte {
	t.Helper()
	a, _ := floatTensor("a", F16, 3, 2)
	q, _ := floatTensor("q", Q8_0, 32)
	path := filepath.Join(t.TempDir(), "small.gguf")
	kvs := []KV{{"general.architecture", String("llama")}, {"llama.block_count", Uint32(2)},
		{"tokenizer.ggml.tokens", Strings([]string{"a", "b"})}}
	if err := Write(path, kvs, []TensorSource{a, q}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseBytes(b []byte) (*File, error) { return Parse(bytes.NewReader(b), int64(len(b)), "bad.gguf") }

// TestParse_Truncated ensures every truncation of a file that cuts into its header or tensor data
// is a FormatError naming the file and saying it ends, and that only the final padding may go.
func TestParse_Truncated(t *testing.T) {
	full := smallFile(t)
	f, err := parseBytes(full)
	must(t, err)
	last := f.Tensors[len(f.Tensors)-1]
	complete := f.DataOffset + last.Offset + last.Size()
	for n := range len(full) {
		_, err := parseBytes(full[:n])
		if int64(n) >= complete {
			if err != nil {
				t.Errorf("truncated to %d bytes, inside the final padding: %v", n, err)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Path != "bad.gguf" || fe.Offset > int64(n) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
		if !strings.Contains(err.Error(), "ends") && !strings.Contains(err.Error(), "past the end") &&
			!strings.Contains(err.Error(), "remain") {
			t.Fatalf("truncated to %d bytes: %v does not say the file ends", n, err)
		}
	}
}

// builder writes headers field by field for malformed files.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder { binary.Write(b, binary.LittleEndian, v); return b }
func (b *builder) u64(v uint64) *builder { binary.Write(b, binary.LittleEndian, v); return b }
func (b *builder) str(s string) *builder { b.u64(uint64(len(s))); b.WriteString(s); return b }
func (b *builder) at() int64             { return int64(b.Len()) }

// pad appends n zero bytes, so that counts are checked against a file that could hold them.
func (b *builder) pad(n int) *builder { b.Write(make([]byte, n)); return b }

func start(tensors, kvs uint64) *builder {
	b := &builder{}
	b.WriteString("GGUF")
	return b.u32(3).u64(tensors).u64(kvs)
}

// tensorInfo appends a tensor description.
func (b *builder) tensorInfo(name string, typ GGMLType, offset uint64, dims ...uint64) *builder {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(offset)
}

// TestParse_Malformed ensures each kind of malformed file is refused with the offset of the field
// at fault and a message saying what is wrong; none allocates what a count claims.
func TestParse_Malformed(t *testing.T) {
	type malformed struct {
		name string
		file []byte
		at   int64
		want string
	}
	var cases []malformed
	add := func(name string, b *builder, at int64, want string) {
		cases = append(cases, malformed{name, b.Bytes(), at, want})
	}
	add("bad magic", &builder{Buffer: *bytes.NewBufferString("GGML\x03\x00\x00\x00")}, 0, `not a GGUF file: magic "GGML"`)
	b := &builder{}
	b.WriteString("GGUF")
	add("big endian", b.u32(0x03000000).u64(0).u64(0), 4, "big-endian")
	b = &builder{}
	b.WriteString("GGUF")
	add("version 1", b.u32(1).u64(0).u64(0), 4, "GGUF version 1")
	add("huge tensor count", start(1<<62, 0), 8, "tensor count is 4611686018427387904, but only 8 bytes remain")
	add("huge key count", start(0, 1<<40), 16, "metadata count is 1099511627776")
	add("huge key length", start(0, 1).u64(1<<60).pad(16), 24, "metadata key 0 length is 1152921504606846976")
	b = start(0, 1).str("k")
	at := b.at()
	add("unknown value type", b.u32(13), at, `metadata key "k": unknown value type 13`)
	b = start(0, 1).str("k").u32(uint32(TypeArray))
	at = b.at()
	add("nested array", b.u32(uint32(TypeArray)).u64(0), at, "arrays of array are not allowed")
	b = start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32))
	at = b.at()
	add("huge array", b.u64(1<<50), at, `the length of "k" is 1125899906842624, but only 0 bytes remain`)
	b = start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString))
	at = b.at()
	add("huge string array", b.u64(1<<50).pad(64), at, `the length of "k" is 1125899906842624, but only 64 bytes remain`)
	b = start(0, 2).str("k").u32(uint32(TypeUint8))
	b.WriteByte(1)
	at = b.at()
	add("duplicate key", b.str("k").u32(uint32(TypeUint8)).pad(1), at, `metadata key "k" appears twice`)
	b = start(0, 1).str("general.alignment").u32(uint32(TypeUint32))
	at = b.at()
	add("alignment", b.u32(24), at, "general.alignment is uint32 24, must be a uint32 power of two")
	add("long name", start(1, 0).tensorInfo(strings.Repeat("n", 64), F32, 0, 1), 24, "name of 64 bytes, the most ggml allows is 63")
	b = start(1, 0).str("t")
	at = b.at()
	add("five dims", b.u32(5).pad(64), at, `tensor "t": 5 dimensions, the most ggml allows is 4`)
	b = start(1, 0).str("t").u32(2).u64(1 << 40)
	at = b.at()
	add("overflowing dims", b.u64(1<<40).pad(64), at, "element count overflows")
	b = start(1, 0).str("t").u32(1).u64(32)
	at = b.at()
	add("unknown type", b.u32(99).u64(0), at, `tensor "t": unknown ggml type 99`)
	b = start(1, 0).str("t").u32(1).u64(31)
	at = b.at()
	add("partial block", b.u32(uint32(Q8_0)).u64(0), at, "rows of 31 elements are not whole Q8_0 blocks of 32")
	b = start(2, 0).tensorInfo("a", F32, 0, 1)
	at = b.at()
	add("duplicate tensor", b.tensorInfo("a", F32, 32, 1), at, `tensor "a" appears twice`)
	// one tensor's info: the name at 24, the dimension count at 33, the type at 45, the offset at 49
	b = start(1, 0).tensorInfo("t", F32, 32, 4)
	add("offset", pad32(b), 49, `tensor "t": data at offset 32 of the data section, want 0`)
	b = start(1, 0).tensorInfo("t", F32, 0, 1024)
	add("past the end", pad32(b), 49, `tensor "t": 4096 bytes of F32 data from offset 64 run past the end of the file (64 bytes)`)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseBytes(c.file)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a FormatError", err)
			}
			if fe.Offset != c.at || !strings.Contains(fe.Reason, c.want) || !strings.HasPrefix(err.Error(), "bad.gguf: offset ") {
				t.Fatalf("error %q at %d, want %q at %d", err, fe.Offset, c.want, c.at)
			}
		})
	}
}

// pad32 pads the builder's bytes to the default alignment, where the data section starts.
func pad32(b *builder) *builder {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	return b
}

// TestOpen_NamesFile ensures Open's errors name the file on disk.
func TestOpen_NamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.gguf")
	must(t, os.WriteFile(path, []byte("GGUF"), 0o644))
	_, err := Open(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": offset 4: ") {
		t.Fatalf("error %v, want one starting with the path and offset", err)
	}
}
