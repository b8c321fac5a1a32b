// NF4 dequantization with the double-quantized block scales decoded on the fly
// (trainer/nf4/dequantize.go): element i of the flattened (out, in) weight is
//
//	NF4[code i] · absmax[i / blocksize]
//
// where absmax is stored as float, or, double-quantized, decoded as
// map[codes[b]] · nested[b / 256] + offset with two roundings, as bitsandbytes does.
#include "common.cuh"

// The NF4 code values, index = 4-bit code (bitsandbytes' get_4bit_type("nf4")).
__constant__ float nf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

// nf4_dequantize writes the weight into out (n). packed holds two codes a byte, the first in the
// high nibble. Either absmax (one float a block) is set, or codes (one byte a block), nested (one
// float per 256 blocks) and mapOffset (the 256-entry map, then the offset) are.
extern "C" __global__ void nf4_dequantize(void* out, i64 odt, const unsigned char* packed, const float* absmax,
                                          const unsigned char* codes, const float* nested, const float* mapOffset,
                                          i64 n, i64 blocksize) {
    FOR_EACH(i, n) {
        unsigned char byte = packed[i / 2];
        int code = (i % 2 == 0) ? (byte >> 4) : (byte & 15);
        i64 b = i / blocksize;
        float scale;
        if (absmax) {
            scale = absmax[b];
        } else {
            scale = __fadd_rn(__fmul_rn(mapOffset[codes[b]], nested[b / 256]), mapOffset[256]);
        }
        st(out, odt, i, __fmul_rn(nf4Code[code], scale));
    }
}
