package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The little-endian encoding of metadata values, both ways.

// appendString appends a GGUF string: a uint64 length, then the bytes, no NUL.
func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue appends a value's type and the value; an array's element type and count come first.
func appendValue(b []byte, v Value) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(v.Type()))
	if v.Type() == TypeArray {
		b = binary.LittleEndian.AppendUint32(b, uint32(v.Elem()))
		b = binary.LittleEndian.AppendUint64(b, uint64(v.Len()))
	}
	return appendData(b, v.data)
}

// appendData appends a scalar or the elements of a slice, without a type.
func appendData(b []byte, d any) []byte {
	le := binary.LittleEndian
	switch d := d.(type) {
	case uint8:
		return append(b, d)
	case int8:
		return append(b, byte(d))
	case uint16:
		return le.AppendUint16(b, d)
	case int16:
		return le.AppendUint16(b, uint16(d))
	case uint32:
		return le.AppendUint32(b, d)
	case int32:
		return le.AppendUint32(b, uint32(d))
	case float32:
		return le.AppendUint32(b, math.Float32bits(d))
	case bool:
		if d {
			return append(b, 1)
		}
		return append(b, 0)
	case string:
		return appendString(b, d)
	case uint64:
		return le.AppendUint64(b, d)
	case int64:
		return le.AppendUint64(b, uint64(d))
	case float64:
		return le.AppendUint64(b, math.Float64bits(d))
	case []string:
		for _, s := range d {
			b = appendString(b, s)
		}
		return b
	case []uint8:
		return append(b, d...)
	}
	return appendSlice(b, d)
}

// appendSlice appends the elements of a numeric or bool slice.
func appendSlice(b []byte, d any) []byte {
	switch d := d.(type) {
	case []int8:
		return appendEach(b, d)
	case []uint16:
		return appendEach(b, d)
	case []int16:
		return appendEach(b, d)
	case []uint32:
		return appendEach(b, d)
	case []int32:
		return appendEach(b, d)
	case []float32:
		return appendEach(b, d)
	case []bool:
		return appendEach(b, d)
	case []uint64:
		return appendEach(b, d)
	case []int64:
		return appendEach(b, d)
	case []float64:
		return appendEach(b, d)
	}
	panic(fmt.Sprintf("gguf: %T is not a GGUF value", d))
}

func appendEach[E any](b []byte, v []E) []byte {
	for _, x := range v {
		b = appendData(b, x)
	}
	return b
}

// scalar decodes one little-endian scalar of type t.
func scalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeBool:
		return b[0] != 0
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: scalar of type " + t.String())
}

// scalars decodes n little-endian scalars of type t into a typed slice.
func scalars(t ValueType, b []byte, n int) any {
	size := valueSizes[t]
	switch t {
	case TypeUint8:
		return append([]uint8(nil), b...)
	case TypeInt8:
		return decodeEach[int8](t, b, n, size)
	case TypeUint16:
		return decodeEach[uint16](t, b, n, size)
	case TypeInt16:
		return decodeEach[int16](t, b, n, size)
	case TypeUint32:
		return decodeEach[uint32](t, b, n, size)
	case TypeInt32:
		return decodeEach[int32](t, b, n, size)
	case TypeFloat32:
		return decodeEach[float32](t, b, n, size)
	case TypeBool:
		return decodeEach[bool](t, b, n, size)
	case TypeUint64:
		return decodeEach[uint64](t, b, n, size)
	case TypeInt64:
		return decodeEach[int64](t, b, n, size)
	}
	return decodeEach[float64](t, b, n, size)
}

func decodeEach[E any](t ValueType, b []byte, n, size int) []E {
	out := make([]E, n)
	for i := range out {
		out[i] = scalar(t, b[i*size:]).(E)
	}
	return out
}
