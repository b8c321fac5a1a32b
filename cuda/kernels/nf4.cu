// NF4 dequantization with the double-quantized block scales decoded on the fly
// (trainer/nf4/dequantize.go): element i of the flattened (out, in) weight is
//
//	NF4[code i] · absmax[i / blocksize]
//
// where absmax is stored as float, or, double-quantized, decoded as
// map[codes[b]] · nested[b / 256] + offset with two roundings, as bitsandbytes does.
//
// The kernel is a memory copy that widens 4 bits to 16: each thread decodes a group of 8 weights
// from one 32-bit word of codes with one block scale (blocks are multiples of 8 long) and writes
// them with one 16-byte store, so the frozen base costs its bytes in bandwidth and nothing more.
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

struct __align__(16) u32x4 {
    u32 x, y, z, w;
};

// nf4_dequantize writes the weight into out (n). packed holds two codes a byte, the first in the
// high nibble. Either absmax (one float a block) is set, or codes (one byte a block), nested (one
// float per 256 blocks) and mapOffset (the 256-entry map, then the offset) are. Groups of 8 take
// the fast path when blocksize is a multiple of 8 and a bf16 out is 16-byte aligned; the rest, and
// everything otherwise, goes one element at a time. Launch over n/8 threads.
extern "C" __global__ void nf4_dequantize(void* out, i64 odt, const unsigned char* packed, const float* absmax,
                                          const unsigned char* codes, const float* nested, const float* mapOffset,
                                          i64 n, i64 blocksize) {
    bool vector = blocksize % 8 == 0 && odt == BF16 && (unsigned long long)out % 16 == 0;
    i64 groups = vector ? n / 8 : 0;
    FOR_EACH(g, groups) {
        u32 word = ((const u32*)packed)[g];
        float s = blockScale(absmax, codes, nested, mapOffset, g * 8 / blocksize);
        u32 v[4];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            u32 byte = (word >> (8 * k)) & 0xff;
            v[k] = pack2(__fmul_rn(nf4Code[byte >> 4], s), __fmul_rn(nf4Code[byte & 15], s));
        }
        CHECK_ACCESS(out, g, 16);
        ((u32x4*)out)[g] = u32x4{v[0], v[1], v[2], v[3]};
    }
    FOR_EACH(t, n - groups * 8) {
        i64 i = groups * 8 + t;
        st(out, odt, i, nf4Value(packed, i, blockScale(absmax, codes, nested, mapOffset, i / blocksize)));
    }
}
