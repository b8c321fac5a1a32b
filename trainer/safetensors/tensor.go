package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Tensor is one tensor's description and its raw little-endian bytes. Data read from a File is a
// read-only view into the file's mapping.
type Tensor struct {
	Info
	File string // the file it came from, for error messages
	Data []byte
}

func (t Tensor) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: tensor %q: %s", t.File, t.Name, fmt.Sprintf(format, args...))
}

func (t Tensor) want(dtypes ...DType) error {
	for _, d := range dtypes {
		if t.DType == d {
			return nil
		}
	}
	return t.errorf("dtype %s, want %v", t.DType, dtypes)
}

// view reinterprets the bytes as a slice of E without copying when they are aligned for E, and
// copies them into a fresh slice when they are not (an odd-length U8 tensor earlier in a file shifts
// everything after it).
func view[E any](b []byte) []E {
	var zero E
	size := int(unsafe.Sizeof(zero))
	n := len(b) / size
	if n == 0 {
		return []E{}
	}
	if uintptr(unsafe.Pointer(&b[0]))%unsafe.Alignof(zero) == 0 {
		return unsafe.Slice((*E)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]E, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), len(b)), b)
	return out
}

// Uint8s returns the bytes of a U8 (or BOOL, I8) tensor.
func (t Tensor) Uint8s() ([]byte, error) {
	if err := t.want(U8, I8, BOOL); err != nil {
		return nil, err
	}
	return t.Data, nil
}

// Float32View returns an F32 tensor as []float32, without copying where the data is aligned.
func (t Tensor) Float32View() ([]float32, error) {
	if err := t.want(F32); err != nil {
		return nil, err
	}
	return view[float32](t.Data), nil
}

// Uint16View returns the raw bit patterns of an F16 or BF16 tensor.
func (t Tensor) Uint16View() ([]uint16, error) {
	if err := t.want(F16, BF16); err != nil {
		return nil, err
	}
	return view[uint16](t.Data), nil
}

// Int32View returns an I32 tensor as []int32.
func (t Tensor) Int32View() ([]int32, error) {
	if err := t.want(I32); err != nil {
		return nil, err
	}
	return view[int32](t.Data), nil
}

// Int64View returns an I64 tensor as []int64.
func (t Tensor) Int64View() ([]int64, error) {
	if err := t.want(I64); err != nil {
		return nil, err
	}
	return view[int64](t.Data), nil
}

// Float32s decodes an F32, F16 or BF16 tensor into a new []float32 that the caller owns.
func (t Tensor) Float32s() ([]float32, error) {
	out := make([]float32, t.NumElements())
	return out, t.DecodeFloat32s(out)
}

// DecodeFloat32s decodes an F32, F16 or BF16 tensor into dst, which must hold every element.
func (t Tensor) DecodeFloat32s(dst []float32) error {
	if err := t.want(F32, F16, BF16); err != nil {
		return err
	}
	if n := t.NumElements(); len(dst) != n {
		return t.errorf("destination holds %d elements, tensor has %d", len(dst), n)
	}
	b := t.Data
	switch t.DType {
	case F32:
		copy(dst, view[float32](b))
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return nil
}

// EncodeFloat32s returns the little-endian bytes of an F32 tensor.
func EncodeFloat32s(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// EncodeBF16s rounds each value to bfloat16 (nearest, ties to even) and returns the bytes.
func EncodeBF16s(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(x))
	}
	return b
}

// EncodeF16s rounds each value to IEEE half (nearest, ties to even) and returns the bytes.
func EncodeF16s(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(x))
	}
	return b
}

// Encode rounds values to dtype (F32, F16 or BF16) and returns the bytes.
func Encode(dtype DType, v []float32) ([]byte, error) {
	switch dtype {
	case F32:
		return EncodeFloat32s(v), nil
	case BF16:
		return EncodeBF16s(v), nil
	case F16:
		return EncodeF16s(v), nil
	}
	return nil, fmt.Errorf("cannot encode floats as %s", dtype)
}
