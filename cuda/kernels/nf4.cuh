// NF4 decoding shared by the dequantization kernel (nf4.cu) and the fused GEMM (nf4_gemm.cu).
#pragma once
#include "common.cuh"
#include "mma.cuh"

// The NF4 code values, index = 4-bit code (bitsandbytes' get_4bit_type("nf4")).
__constant__ float nf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

// blockScale is the scale of block b: absmax[b], or its double-quantized decoding.
__device__ __forceinline__ float blockScale(const float* absmax, const unsigned char* codes, const float* nested,
                                            const float* mapOffset, i64 b) {
    if (absmax) return absmax[b];
    return __fadd_rn(__fmul_rn(mapOffset[codes[b]], nested[b / 256]), mapOffset[256]);
}

// nf4Value is element i of the weight, one at a time: the odd tails.
__device__ __forceinline__ float nf4Value(const unsigned char* packed, i64 i, float scale) {
    unsigned char byte = packed[i / 2];
    int code = (i % 2 == 0) ? (byte >> 4) : (byte & 15);
    return __fmul_rn(nf4Code[code], scale);
}

