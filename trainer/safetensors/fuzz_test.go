package safetensors

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParse ensures no input makes the reader panic or hand out a view outside the file, and that
// every tensor it accepts has exactly the bytes its dtype and shape need.
func FuzzParse(f *testing.F) {
	for _, h := range []string{
		`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
		`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[1,5]}}`,
		`{"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`,
		`{}`,
	} {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, uint64(len(h)))
		b.WriteString(h)
		b.Write(make([]byte, 8))
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := newFile("fuzz.safetensors", data)
		if err != nil {
			return
		}
		for _, name := range sf.Names() {
			tt, err := sf.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(tt.Data)) != int64(tt.NumElements())*int64(tt.DType.Size()) {
				t.Fatalf("%s: %d bytes for %s %v", name, len(tt.Data), tt.DType, tt.Shape)
			}
			if tt.DType == F32 || tt.DType == F16 || tt.DType == BF16 {
				if _, err := tt.Float32s(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
