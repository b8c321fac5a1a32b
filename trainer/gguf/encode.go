package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// qk8 is the number of elements in one Q8_0 block; a block is a float16 scale and qk8 int8s.
const qk8 = 32

// Encode rounds values to type t (F32, F16, BF16 or Q8_0) and returns their bytes. For Q8_0,
// len(v) must be a multiple of 32.
func Encode(t GGMLType, v []float32) ([]byte, error) {
	switch t {
	case F32:
		return safetensors.EncodeFloat32s(v), nil
	case F16:
		return safetensors.EncodeF16s(v), nil
	case BF16:
		return safetensors.EncodeBF16s(v), nil
	case Q8_0:
		if len(v)%qk8 != 0 {
			return nil, fmt.Errorf("Q8_0 needs a multiple of %d values, got %d", qk8, len(v))
		}
		out := make([]byte, len(v)/qk8*34)
		QuantizeQ8_0(out, v)
		return out, nil
	}
	return nil, fmt.Errorf("cannot encode %s tensors", t)
}

// Decode widens the bytes of n elements of type t (F32, F16, BF16 or Q8_0) to float32.
func Decode(t GGMLType, b []byte, n int) ([]float32, error) {
	if !t.Known() || n%t.BlockSize() != 0 {
		return nil, fmt.Errorf("%d elements do not fill whole %s blocks", n, t)
	}
	if want := t.RowBytes(int64(n)); int64(len(b)) != want {
		return nil, fmt.Errorf("%d bytes for %d %s elements, want %d", len(b), n, t, want)
	}
	out := make([]float32, n)
	switch t {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = safetensors.BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case Q8_0:
		DequantizeQ8_0(out, b)
	default:
		return nil, fmt.Errorf("cannot decode %s tensors", t)
	}
	return out, nil
}

// QuantizeQ8_0 writes the Q8_0 blocks of x into dst (34 bytes per 32 values) exactly as ggml's
// quantize_row_q8_0_ref does: per block d = amax/127 in float32, the values multiplied by 1/d (0 for
// an all-zero block) and rounded half away from zero, d stored as float16 (nearest, ties to even).
// len(x) must be a multiple of 32 and dst must hold every block.
func QuantizeQ8_0(dst []byte, x []float32) {
	if len(x)%qk8 != 0 || len(dst) < len(x)/qk8*34 {
		panic(fmt.Sprintf("gguf: QuantizeQ8_0 of %d values into %d bytes", len(x), len(dst)))
	}
	for b := 0; b < len(x)/qk8; b++ {
		block, out := x[b*qk8:(b+1)*qk8], dst[b*34:(b+1)*34]
		var amax float32
		for _, v := range block {
			a := float32(math.Abs(float64(v)))
			if !(amax > a) { // C's MAX(amax, a), NaN included
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(out, safetensors.Float32ToF16(d))
		for j, v := range block {
			out[2+j] = byte(int8(math.Round(float64(v * id)))) // C's roundf: half away from zero
		}
	}
}

// DequantizeQ8_0 widens the Q8_0 blocks in src into dst: each value is its int8 times its block's
// scale, as ggml's dequantize_row_q8_0 does.
func DequantizeQ8_0(dst []float32, src []byte) {
	if len(dst)%qk8 != 0 || len(src) < len(dst)/qk8*34 {
		panic(fmt.Sprintf("gguf: DequantizeQ8_0 of %d bytes into %d values", len(src), len(dst)))
	}
	for b := 0; b < len(dst)/qk8; b++ {
		in := src[b*34 : (b+1)*34]
		d := safetensors.F16ToFloat32(binary.LittleEndian.Uint16(in))
		for j := range qk8 {
			dst[b*qk8+j] = float32(int8(in[2+j])) * d
		}
	}
}
