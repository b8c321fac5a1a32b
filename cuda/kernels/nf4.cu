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
#include "nf4.cuh"

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
