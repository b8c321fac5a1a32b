package gguf

import (
	"fmt"
	"reflect"
)

// ValueType is the type of a metadata value, numbered as GGUF numbers it (enum gguf_type).
type ValueType uint32

// The metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
	"string", "array", "uint64", "int64", "float64"}

// valueSizes is the encoded size of each scalar type; 0 for string and array, whose size varies.
var valueSizes = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

func (t ValueType) valid() bool { return int(t) < len(valueTypeNames) }

func (t ValueType) String() string {
	if t.valid() {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// Value is a metadata value: a scalar or an array of scalars. It holds one of uint8, int8, uint16,
// int16, uint32, int32, float32, bool, string, uint64, int64, float64, or a slice of one of them.
// Make one with the constructors below; the zero Value is invalid and refused by Write.
type Value struct{ data any }

// Constructors of scalar values.
func Uint8(v uint8) Value     { return Value{v} }
func Int8(v int8) Value       { return Value{v} }
func Uint16(v uint16) Value   { return Value{v} }
func Int16(v int16) Value     { return Value{v} }
func Uint32(v uint32) Value   { return Value{v} }
func Int32(v int32) Value     { return Value{v} }
func Float32(v float32) Value { return Value{v} }
func Bool(v bool) Value       { return Value{v} }
func String(v string) Value   { return Value{v} }
func Uint64(v uint64) Value   { return Value{v} }
func Int64(v int64) Value     { return Value{v} }
func Float64(v float64) Value { return Value{v} }

// Scalar is the Go types of GGUF's scalar values.
type Scalar interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | float32 | bool | string | uint64 | int64 | float64
}

// Array is an array value of any scalar element type. Strings, Float32s and Int32s are its common
// cases.
func Array[E Scalar](v []E) Value { return Value{v} }

// Strings is an array of strings.
func Strings(v []string) Value { return Value{v} }

// Float32s is an array of float32.
func Float32s(v []float32) Value { return Value{v} }

// Int32s is an array of int32.
func Int32s(v []int32) Value { return Value{v} }

// Type is the value's GGUF type: a scalar type, or TypeArray.
func (v Value) Type() ValueType { t, _ := typesOf(v.data); return t }

// Elem is the element type of an array value, and the value's own type for a scalar.
func (v Value) Elem() ValueType {
	t, e := typesOf(v.data)
	if t == TypeArray {
		return e
	}
	return t
}

// Data is the value as a Go value: a scalar or a slice.
func (v Value) Data() any { return v.data }

// Len is the number of elements of an array value, 1 for a scalar.
func (v Value) Len() int {
	if v.Type() == TypeArray {
		return reflect.ValueOf(v.data).Len()
	}
	return 1
}

// typesOf returns the GGUF type of a Go value and, for a slice, its element type; a Go value no
// GGUF type fits gives an invalid type.
func typesOf(d any) (t, elem ValueType) {
	const invalid = ValueType(1 << 31)
	switch d.(type) {
	case uint8:
		return TypeUint8, 0
	case int8:
		return TypeInt8, 0
	case uint16:
		return TypeUint16, 0
	case int16:
		return TypeInt16, 0
	case uint32:
		return TypeUint32, 0
	case int32:
		return TypeInt32, 0
	case float32:
		return TypeFloat32, 0
	case bool:
		return TypeBool, 0
	case string:
		return TypeString, 0
	case uint64:
		return TypeUint64, 0
	case int64:
		return TypeInt64, 0
	case float64:
		return TypeFloat64, 0
	case []uint8:
		return TypeArray, TypeUint8
	case []int8:
		return TypeArray, TypeInt8
	case []uint16:
		return TypeArray, TypeUint16
	case []int16:
		return TypeArray, TypeInt16
	case []uint32:
		return TypeArray, TypeUint32
	case []int32:
		return TypeArray, TypeInt32
	case []float32:
		return TypeArray, TypeFloat32
	case []bool:
		return TypeArray, TypeBool
	case []string:
		return TypeArray, TypeString
	case []uint64:
		return TypeArray, TypeUint64
	case []int64:
		return TypeArray, TypeInt64
	case []float64:
		return TypeArray, TypeFloat64
	}
	return invalid, invalid
}

// TypeName describes the type for messages: "uint32", "array of string".
func (v Value) TypeName() string {
	if t := v.Type(); t == TypeArray {
		return "array of " + v.Elem().String()
	}
	return v.Type().String()
}

// String shows the value for messages and dumps; long arrays and strings are shortened.
func (v Value) String() string {
	if v.Type() == TypeArray {
		n := v.Len()
		rv := reflect.ValueOf(v.data)
		s := fmt.Sprint(rv.Slice(0, min(n, 8)).Interface())
		if n > 8 {
			s = s[:len(s)-1] + " ...]"
		}
		return fmt.Sprintf("%d × %s %s", n, v.Elem(), s)
	}
	if s, ok := v.data.(string); ok {
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.data)
}

// Typed accessors: each reports false when the value is of another type.

func (v Value) AsUint32() (uint32, bool)      { x, ok := v.data.(uint32); return x, ok }
func (v Value) AsInt32() (int32, bool)        { x, ok := v.data.(int32); return x, ok }
func (v Value) AsUint64() (uint64, bool)      { x, ok := v.data.(uint64); return x, ok }
func (v Value) AsFloat32() (float32, bool)    { x, ok := v.data.(float32); return x, ok }
func (v Value) AsBool() (bool, bool)          { x, ok := v.data.(bool); return x, ok }
func (v Value) AsString() (string, bool)      { x, ok := v.data.(string); return x, ok }
func (v Value) AsStrings() ([]string, bool)   { x, ok := v.data.([]string); return x, ok }
func (v Value) AsFloat32s() ([]float32, bool) { x, ok := v.data.([]float32); return x, ok }
func (v Value) AsInt32s() ([]int32, bool)     { x, ok := v.data.([]int32); return x, ok }
func (v Value) AsUint32s() ([]uint32, bool)   { x, ok := v.data.([]uint32); return x, ok }
