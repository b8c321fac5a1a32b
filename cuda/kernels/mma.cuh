// bf16 tensor-core products for sm_80 and up (A6000, 6000 Ada, H100): the warp-wide
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, D (16×8, f32) += A (16×16) · B (16×8).
//
// Each lane holds its part of the operands as the PTX ISA lays them out; with g = lane/4 and
// c = 2·(lane%4):
//   a[0] = A[g][c..c+1]     a[1] = A[g+8][c..c+1]   a[2] = A[g][c+8..c+9]   a[3] = A[g+8][c+8..c+9]
//   b[0] = B[c..c+1][g]     b[1] = B[c+8..c+9][g]
//   d[0..1] = D[g][c..c+1]  d[2..3] = D[g+8][c..c+1]
// where "x..x+1" is two bf16 in one 32-bit register, the lower index in the low half. So the C
// fragment of two neighbouring 16×8 products is the A fragment of a 16×16 one (flash attention
// feeds P to P·V that way), and a row-major tile in shared memory yields A's registers, a tile
// stored with K innermost yields B's, as plain 32-bit loads.
//
// Under the emulator (QLORA_EMU) the product is computed from the warp's registers gathered
// through its exchange slots, in float, k in order.
#pragma once
#include "common.cuh"

typedef unsigned int u32;

// u32x4 is 16 bytes, 8 bf16 as 4 pairs: one vector load or store.
struct __align__(16) u32x4 {
    u32 x, y, z, w;
};

// aligned16 reports whether p may be read or written 16 bytes at a time.
__device__ __forceinline__ bool aligned16(const void* p) { return (unsigned long long)p % 16 == 0; }

// pack2 rounds lo and hi to bf16 and packs them as one register, lo in the low half.
__device__ __forceinline__ u32 pack2(float lo, float hi) {
    bf16 l = __float2bfloat16_rn(lo), h = __float2bfloat16_rn(hi);
    return (u32)__bfloat16_as_ushort(l) | ((u32)__bfloat16_as_ushort(h) << 16);
}

// unpackLo and unpackHi are the two bf16 of a register as floats.
__device__ __forceinline__ float unpackLo(u32 r) { return __uint_as_float(r << 16); }
__device__ __forceinline__ float unpackHi(u32 r) { return __uint_as_float(r & 0xffff0000u); }

#ifndef QLORA_EMU
__device__ __forceinline__ void mma16816(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#else
// mmaElement is A(row, k) or B(k, col) read from the gathered registers.
inline float emuA(const uint64_t* a01, const uint64_t* a23, int row, int k) {
    int lane = (row % 8) * 4 + (k % 8) / 2;
    uint64_t pair = (k < 8) ? a01[lane] : a23[lane];
    u32 r = (u32)(row < 8 ? pair : pair >> 32);
    return k % 2 == 0 ? unpackLo(r) : unpackHi(r);
}

inline float emuB(const uint64_t* b, int k, int col) {
    int lane = col * 4 + (k % 8) / 2;
    u32 r = (u32)(k < 8 ? b[lane] : b[lane] >> 32);
    return k % 2 == 0 ? unpackLo(r) : unpackHi(r);
}

inline void mma16816(float d[4], const u32 a[4], const u32 b[2]) {
    uint64_t a01[32], a23[32], bs[32];
    emu_warp_gather((uint64_t)a[0] | (uint64_t)a[1] << 32, a01); // rows g and g+8, k < 8
    emu_warp_gather((uint64_t)a[2] | (uint64_t)a[3] << 32, a23); // k ≥ 8
    emu_warp_gather((uint64_t)b[0] | (uint64_t)b[1] << 32, bs);
    int lane = emu_lane(), g = lane / 4, c = 2 * (lane % 4);
    for (int i = 0; i < 4; i++) {
        int row = g + (i / 2) * 8, col = c + i % 2;
        float s = 0.0f;
        for (int k = 0; k < 16; k++) s += emuA(a01, a23, row, k) * emuB(bs, k, col);
        d[i] += s;
    }
}
#endif
