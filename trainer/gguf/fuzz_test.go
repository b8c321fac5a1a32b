package gguf

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse ensures no input makes the reader panic or allocate what the file cannot hold; that
// every error is a FormatError inside the file; that every tensor it accepts reads in full (and
// decodes, for the types it decodes); and that accepted metadata written again reads back equal.
// The seed corpus is in testdata/fuzz/FuzzParse; these add a few more.
func FuzzParse(f *testing.F) {
	f.Add(smallFile(f))
	f.Add(start(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(64).Bytes())
	f.Add(start(1, 0).tensorInfo("q", Q8_0, 0, 32).pad(64).Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parseBytes(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("error %v is not a FormatError inside the file", err)
			}
			return
		}
		for _, ti := range file.Tensors {
			raw, err := file.Data(ti.Name)
			if err != nil || int64(len(raw)) != ti.Size() {
				t.Fatalf("%s: %d bytes, %v", ti.Name, len(raw), err)
			}
			switch ti.Type {
			case F32, F16, BF16, Q8_0:
				if _, err := file.Float32s(ti.Name); err != nil {
					t.Fatalf("%s: %v", ti.Name, err)
				}
			}
		}
		h, err := encodeHeader(file.KV, nil)
		if err != nil {
			t.Fatalf("accepted metadata does not write: %v", err)
		}
		again, err := parseBytes(h.bytes)
		if err != nil {
			t.Fatalf("written metadata does not read: %v", err)
		}
		for i, kv := range file.KV {
			if again.KV[i].Key != kv.Key || !equalData(again.KV[i].Value.Data(), kv.Value.Data()) {
				t.Fatalf("key %q: %v read back as %v", kv.Key, kv.Value, again.KV[i].Value)
			}
		}
	})
}

// equalData compares values bit for bit (NaN equals itself).
func equalData(a, b any) bool {
	return reflect.DeepEqual(a, b) || bytes.Equal(appendData(nil, a), appendData(nil, b))
}
