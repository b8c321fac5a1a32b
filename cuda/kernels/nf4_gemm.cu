// NF4 dequantization fused into the GEMM: c (M,N) = alpha·a·op(W) + beta·c, with a bf16 row-major
// (M,K), W the NF4 weight (out,in) of nf4.cu, op(W) = Wᵀ when transB (K = in, N = out) and W
// otherwise (K = out, N = in), c bf16 or fp32, fp32 accumulation on the tensor cores (mma16816).
// The bf16 weight never exists in global memory: each tile of it is decoded into shared memory
// right before its products, so the weight costs its 4-bit codes in bandwidth.
//
// Tiling. A block of 8 warps computes a 128×128 tile of c, walking K 64 at a time: all its threads
// copy a (128×64) and decode op(W) (64×128) into shared memory, wait, then each warp multiplies
// its 64×32 part, 4×4 products of 16×8 over four steps of 16 (64 fp32 accumulators a thread).
// 128×128 rather than 64×64 because each decoded weight and each a element then feeds twice as
// many products, and 2 blocks of 256 threads still fit an SM (at most 128 registers a thread:
// __launch_bounds__). K 64 at a time because a row of W then contributes 32 bytes of codes, one
// whole memory sector. Sizes are 32-bit inside; flat indices 64-bit.
//
// Shared memory holds both tiles with K innermost, as bf16 pairs (u32), so that every fragment of
// mma16816 is one plain 32-bit load (no ldmatrix or cp.async, which the emulator lacks). Rows are
// 36 words long: 16-byte aligned for the vector stores, and the 8 rows × 4 pairs that a fragment
// load touches fall in 32 distinct banks. 2 × 128 × 36 × 4 = 36 KiB, static.
//
// Bounds: anything outside (M, N, K) reads as zero, so any shape works; whole groups of 8 take the
// fast path (one 16-byte load of a, one 32-bit word of codes with one block scale), the edges go
// one element at a time. With beta 0, c is not read. No atomics: every c element is summed by
// one thread in a fixed order.
#include "nf4.cuh"

#define BM 128       // rows of c per block
#define BN 128       // columns of c per block
#define BK 64        // K per step
#define LDW (BK / 2 + 4) // shared row stride in bf16 pairs
#define THREADS 256
#define WARP_M 64 // each warp's part: 64 rows × 32 columns
#define WARP_N 32

// NF4 is a weight in global memory, as nf4_dequantize takes it.
struct NF4 {
    const unsigned char* packed;
    const float* absmax;
    const unsigned char* codes;
    const float* nested;
    const float* mapOffset;
    i64 blocksize;
};

// group8 decodes count (0 to 8) consecutive weights from flat index i into v, zero past count:
// one word of codes and one scale when the group is whole and aligned, else one by one.
__device__ __forceinline__ void group8(const NF4& w, i64 i, int count, float v[8]) {
    if (count == 8 && i % 8 == 0 && w.blocksize % 8 == 0) {
        CHECK_ACCESS(w.packed, i / 8, 4);
        u32 word = ((const u32*)w.packed)[i / 8];
        float s = blockScale(w.absmax, w.codes, w.nested, w.mapOffset, i / w.blocksize);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            u32 byte = (word >> (8 * j)) & 0xff;
            v[2 * j] = __fmul_rn(nf4Code[byte >> 4], s);
            v[2 * j + 1] = __fmul_rn(nf4Code[byte & 15], s);
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < 8; j++) {
        v[j] = j < count ? nf4Value(w.packed, i + j, blockScale(w.absmax, w.codes, w.nested, w.mapOffset, (i + j) / w.blocksize)) : 0.0f;
    }
}

// span is how many of the 8 elements from index at lie before end (0 to 8).
__device__ __forceinline__ int span(int at, int end) { return min(max(end - at, 0), 8); }

// loadA copies a[m0:m0+BM, k0:k0+BK] into as, 8 elements a thread at a time.
__device__ __forceinline__ void loadA(u32 (*as)[LDW], const bf16* a, int m, int k, int m0, int k0) {
    bool vector = k % 8 == 0 && (unsigned long long)a % 16 == 0;
    for (int q = threadIdx.x; q < BM * BK / 8; q += THREADS) {
        int r = q / (BK / 8), kc = q % (BK / 8) * 8;
        int row = m0 + r, col = k0 + kc, count = row < m ? span(col, k) : 0;
        i64 i = (i64)row * k + col;
        u32x4 v;
        if (vector && count == 8) {
            CHECK_ACCESS(a, i / 8, 16);
            v = ((const u32x4*)a)[i / 8];
        } else {
            float x[8];
#pragma unroll
            for (int j = 0; j < 8; j++) x[j] = j < count ? ld(a, BF16, i + j) : 0.0f;
            v = u32x4{pack2(x[0], x[1]), pack2(x[2], x[3]), pack2(x[4], x[5]), pack2(x[6], x[7])};
        }
        *(u32x4*)&as[r][kc / 2] = v;
    }
}

// loadWt decodes Wᵀ[k0:k0+BK, n0:n0+BN] into bs (column n, then k): row n of W holds the K
// elements of column n of Wᵀ, so each thread decodes 8 consecutive k of one n and stores them
// with one 16-byte store.
__device__ __forceinline__ void loadWt(u32 (*bs)[LDW], const NF4& w, int n, int k, int n0, int k0) {
    for (int q = threadIdx.x; q < BN * BK / 8; q += THREADS) {
        int r = q / (BK / 8), kc = q % (BK / 8) * 8;
        int col = n0 + r, at = k0 + kc;
        float v[8];
        group8(w, (i64)col * k + at, col < n ? span(at, k) : 0, v);
        *(u32x4*)&bs[r][kc / 2] = u32x4{pack2(v[0], v[1]), pack2(v[2], v[3]), pack2(v[4], v[5]), pack2(v[6], v[7])};
    }
}

// loadW decodes W[k0:k0+BK, n0:n0+BN] into bs (column n, then k): row k of W holds consecutive
// n, so each thread decodes 8 n from each of two neighbouring rows k and k+1 and stores the 8
// pairs, transposing. A warp takes the 32 row pairs of 8 columns: its stores then fall in 32
// distinct banks, and the warps beside it read the rest of the same 32-byte sectors.
__device__ __forceinline__ void loadW(u32 (*bs)[LDW], const NF4& w, int n, int k, int n0, int k0) {
    for (int q = threadIdx.x; q < BN * BK / 16; q += THREADS) {
        int kp = q % (BK / 2), nc = q / (BK / 2) * 8;
        int at = n0 + nc;
        u32 pairs[8] = {};
#pragma unroll 1
        for (int h = 0; h < 2; h++) { // row k, then k+1 in the high halves
            int row = k0 + 2 * kp + h;
            float v[8];
            group8(w, (i64)row * n + at, row < k ? span(at, n) : 0, v);
#pragma unroll
            for (int j = 0; j < 8; j++) pairs[j] |= (u32)__bfloat16_as_ushort(__float2bfloat16_rn(v[j])) << (16 * h);
        }
#pragma unroll
        for (int j = 0; j < 8; j++) bs[nc + j][kp] = pairs[j];
    }
}

// multiply adds this warp's products of one BK step: rows wm.. of as times columns wn.. of bs.
__device__ __forceinline__ void multiply(float acc[4][4][4], const u32 (*as)[LDW], const u32 (*bs)[LDW], int wm, int wn) {
    int lane = threadIdx.x % WARP, g = lane / 4, c = lane % 4;
    // Not unrolled: unrolled, ptxas loads the next step's fragments early and spills at the 128
    // registers that 2 blocks an SM allow; the other warps hide the shared-memory latency.
#pragma unroll 1
    for (int kk = 0; kk < BK / 2; kk += 8) { // 16 k = 8 pairs
        u32 af[4][4], bf[4][2];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int r = wm + 16 * i + g;
            af[i][0] = as[r][kk + c];
            af[i][1] = as[r + 8][kk + c];
            af[i][2] = as[r][kk + c + 4];
            af[i][3] = as[r + 8][kk + c + 4];
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int col = wn + 8 * j + g;
            bf[j][0] = bs[col][kk + c];
            bf[j][1] = bs[col][kk + c + 4];
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
#pragma unroll
            for (int j = 0; j < 4; j++) mma16816(acc[i][j], af[i], bf[j]);
        }
    }
}

// store writes this warp's part of c = alpha·acc + beta·c, skipping what lies outside (M, N).
__device__ __forceinline__ void store(void* c, i64 cdt, const float acc[4][4][4], int m, int n, int m0, int n0, float alpha,
                                      float beta) {
    int lane = threadIdx.x % WARP, g = lane / 4, c2 = 2 * (lane % 4);
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int row = m0 + 16 * i + g + 8 * (e / 2), col = n0 + 8 * j + c2 + e % 2;
                if (row >= m || col >= n) continue;
                i64 at = (i64)row * n + col;
                float v = alpha * acc[i][j][e];
                if (beta != 0.0f) v += beta * ld(c, cdt, at);
                st(c, cdt, at, v);
            }
        }
    }
}

// nf4_gemm: c (m,n) = alpha·a·op(W) + beta·c, W NF4 as nf4_dequantize takes it (packed and either
// absmax, or codes, nested and mapOffset); m, n and k below 2³¹. Launch with (ceil(n/BN),
// ceil(m/BM)) blocks of THREADS.
extern "C" __global__ void __launch_bounds__(THREADS, 2) nf4_gemm(void* c, i64 cdt, const bf16* a, const unsigned char* packed,
                                                                const float* absmax, const unsigned char* codes,
                                                                const float* nested, const float* mapOffset, i64 blocksize,
                                                                i64 m, i64 n, i64 k, i64 transB, double alpha, double beta) {
    __align__(16) __shared__ u32 as[BM][LDW];
    __align__(16) __shared__ u32 bs[BN][LDW];
    NF4 w = {packed, absmax, codes, nested, mapOffset, blocksize};
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int warp = threadIdx.x / WARP, wm = warp / (BN / WARP_N) * WARP_M, wn = warp % (BN / WARP_N) * WARP_N;
    float acc[4][4][4] = {};
    for (int k0 = 0; k0 < k; k0 += BK) {
        loadA(as, a, m, k, m0, k0);
        if (transB) {
            loadWt(bs, w, n, k, n0, k0);
        } else {
            loadW(bs, w, n, k, n0, k0);
        }
        __syncthreads();
        multiply(acc, as, bs, wm, wn);
        __syncthreads(); // the next step overwrites the tiles
    }
    store(c, cdt, acc, m, n, m0 + wm, n0 + wn, (float)alpha, (float)beta);
}
