package cuda

import (
	"encoding/binary"
	"math"
)

// dtype is the storage type of a CUDA tensor, passed to every kernel beside the tensor's pointer
// (kernels/common.cuh: F32 0, BF16 1). New makes bf16 tensors (activations), NewFP32 float32 ones
// (parameters, gradients, optimizer states, statistics), Load bf16 ones (frozen weights).
type dtype int64

const (
	dtF32  dtype = 0
	dtBF16 dtype = 1
)

// size is the bytes of one element.
func (d dtype) size() int64 {
	if d == dtBF16 {
		return 2
	}
	return 4
}

func (d dtype) String() string {
	if d == dtBF16 {
		return "bf16"
	}
	return "f32"
}

// cudaType is cuBLAS's cudaDataType for d: CUDA_R_32F or CUDA_R_16BF.
func (d dtype) cudaType() int {
	if d == dtBF16 {
		return cudaR16BF
	}
	return cudaR32F
}

// cudaDataType values (library_types.h).
const (
	cudaR32F  = 0
	cudaR16BF = 14
)

// encodeFloats writes src as d, little-endian, into dst (len(src)·size bytes), rounding to nearest
// even.
func encodeFloats(dst []byte, src []float64, d dtype) {
	if d == dtBF16 {
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], bf16FromFloat64(x))
		}
		return
	}
	for i, x := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(float32(x)))
	}
}

// decodeFloats reads len(dst) elements of d from src.
func decodeFloats(dst []float64, src []byte, d dtype) {
	if d == dtBF16 {
		for i := range dst {
			dst[i] = float64(bf16ToFloat32(binary.LittleEndian.Uint16(src[2*i:])))
		}
		return
	}
	for i := range dst {
		dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
	}
}

// bf16ToFloat32 widens a bfloat16, exactly.
func bf16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// float32ToBF16 rounds to nearest even, as __float2bfloat16_rn does; NaN stays NaN.
func float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// bf16FromFloat64 rounds x to the nearest bfloat16 (ties to even) in one rounding: x goes to
// float32 rounded to odd (truncated, with the last bit set when inexact), which keeps enough
// information for the second rounding to be the correct one.
func bf16FromFloat64(x float64) uint16 {
	f := float32(x)
	if math.IsNaN(x) || math.IsInf(float64(f), 0) || float64(f) == x {
		return float32ToBF16(f)
	}
	if math.Abs(float64(f)) > math.Abs(x) { // rounded away from zero: step back towards it
		f = math.Float32frombits(math.Float32bits(f) - 1)
	}
	return float32ToBF16(math.Float32frombits(math.Float32bits(f) | 1))
}
