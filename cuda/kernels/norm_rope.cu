// RMSNorm and RoPE, forward and backward side by side (trainer/backend/cpu/rmsnorm.go, rope.go).
// N rows of C channels; RoPE rows hold heads·HD.
#include "common.cuh"

// rmsnorm_forward: one block per row. out (N,C) = x·rstd·weight (C), rstd (N) = 1/sqrt(mean(x²)+eps).
extern "C" __global__ void rmsnorm_forward(void* out, i64 odt, void* rstd, i64 rdt, const void* x, i64 xdt,
                                           const void* weight, i64 wdt, i64 n, i64 c, double eps) {
    __shared__ float scratch[32];
    i64 row = blockIdx.x;
    if (row >= n) return; // the grid is exactly n blocks; kept for safety, uniform per block
    i64 base = row * c;
    float ss = 0.0f;
    for (i64 j = threadIdx.x; j < c; j += blockDim.x) {
        float v = ld(x, xdt, base + j);
        ss = __fadd_rn(ss, __fmul_rn(v, v));
    }
    ss = blockSum(ss, scratch);
    float r = (float)(1.0 / sqrt((double)(ss / (float)c + (float)eps)));
    if (threadIdx.x == 0) st(rstd, rdt, row, r);
    for (i64 j = threadIdx.x; j < c; j += blockDim.x) {
        st(out, odt, base + j, __fmul_rn(__fmul_rn(ld(x, xdt, base + j), r), ld(weight, wdt, j)));
    }
}

// rmsnorm_backward adds to dx (N,C), one block per row, with g = dout∘weight:
//
//	dx += rstd·g − x·rstd³·mean(g∘x)
extern "C" __global__ void rmsnorm_backward(void* dx, i64 dxdt, const void* dout, i64 ddt, const void* x, i64 xdt,
                                            const void* weight, i64 wdt, const void* rstd, i64 rdt, i64 n, i64 c) {
    __shared__ float scratch[32];
    i64 row = blockIdx.x;
    if (row >= n) return;
    i64 base = row * c;
    float dot = 0.0f;
    for (i64 j = threadIdx.x; j < c; j += blockDim.x) {
        float g = __fmul_rn(ld(dout, ddt, base + j), ld(weight, wdt, j));
        dot = __fadd_rn(dot, __fmul_rn(g, ld(x, xdt, base + j)));
    }
    dot = blockSum(dot, scratch);
    float r = ld(rstd, rdt, row);
    float coef = __fmul_rn(__fmul_rn(__fmul_rn(r, r), r), dot / (float)c);
    for (i64 j = threadIdx.x; j < c; j += blockDim.x) {
        float g = __fmul_rn(ld(dout, ddt, base + j), ld(weight, wdt, j));
        float d = __fadd_rn(__fmul_rn(r, g), -__fmul_rn(ld(x, xdt, base + j), coef));
        st(dx, dxdt, base + j, __fadd_rn(ld(dx, dxdt, base + j), d));
    }
}

// rope: rotates, in place, every head of x (N, heads·HD) by its row's position, half-split as Llama
// does; one thread per (row, frequency i < HD/2), the angle positions[row]·invFreq[i] in double:
//
//	x'[i] = x[i]·cos − x[i+HD/2]·sin,  x'[i+HD/2] = x[i+HD/2]·cos + x[i]·sin
//
// inverse (RoPEBackward) turns by −angle: the transposed rotation, for a gradient.
extern "C" __global__ void rope(void* x, i64 dt, const int* positions, const double* invFreq, i64 n, i64 heads,
                                i64 headDim, i64 inverse) {
    i64 half = headDim / 2, width = heads * headDim;
    FOR_EACH(k, n * half) {
        i64 row = k / half, i = k % half;
        double s64, c64;
        sincos((double)positions[row] * invFreq[i], &s64, &c64);
        float cs = (float)c64, sn = (float)s64;
        if (inverse) sn = -sn;
        for (i64 h = 0; h < width; h += headDim) {
            i64 a = row * width + h + i, b = a + half;
            float x0 = ld(x, dt, a), x1 = ld(x, dt, b);
            st(x, dt, a, __fadd_rn(__fmul_rn(x0, cs), -__fmul_rn(x1, sn)));
            st(x, dt, b, __fadd_rn(__fmul_rn(x1, cs), __fmul_rn(x0, sn)));
        }
    }
}
