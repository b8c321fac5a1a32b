// Optimizer kernels over the flat parameter and gradient arenas (trainer/backend/cpu/optim.go): the
// squared norm in fixed chunks, AdamW with torch's roundings, and bitsandbytes' blockwise 8-bit
// AdamW. Scalars arrive as doubles holding the float values the host computed as the CPU does,
// and every product and sum is rounded separately (__fmul_rn, __fadd_rn, ...), as torch's and
// bitsandbytes' kernels round them.
#include "common.cuh"

// SUM_CHUNK matches the CPU's chunkElems: the partial sums are over the same chunks.
#define SUM_CHUNK 16384

// sum_squares: block c writes Σ x² over chunk c (elements c·SUM_CHUNK ...), in double, into
// partials[c]; the host adds the partials in order.
extern "C" __global__ void sum_squares(double* partials, const void* x, i64 dt, i64 n) {
    __shared__ double scratch[32];
    i64 lo = (i64)blockIdx.x * SUM_CHUNK, hi = min(n, lo + SUM_CHUNK);
    double s = 0.0;
    for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        double a = ld(x, dt, i);
        s = __dadd_rn(s, __dmul_rn(a, a));
    }
    s = blockSumDouble(s, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// adamw: torch.optim.AdamW's single-tensor update, elementwise:
//
//	p = p·decay (when decays);  m = m·β1 + (1−β1)·g;  v = v·β2 + ((1−β2)·g)·g
//	p = p + (negStep·m) / (sqrt(v)/bc2Sqrt + eps)
extern "C" __global__ void adamw(void* p, i64 pdt, const void* g, i64 gdt, void* m, i64 mdt, void* v, i64 vdt,
                                 double decay, i64 decays, double b1, double omb1, double b2, double omb2,
                                 double negStep, double bc2Sqrt, double eps, i64 n) {
    float fDecay = (float)decay, fB1 = (float)b1, fOmb1 = (float)omb1, fB2 = (float)b2, fOmb2 = (float)omb2;
    float fNegStep = (float)negStep, fBc2Sqrt = (float)bc2Sqrt, fEps = (float)eps;
    FOR_EACH(i, n) {
        float gi = ld(g, gdt, i), pi = ld(p, pdt, i);
        if (decays) pi = __fmul_rn(pi, fDecay);
        float mi = __fadd_rn(__fmul_rn(ld(m, mdt, i), fB1), __fmul_rn(fOmb1, gi));
        float vi = __fadd_rn(__fmul_rn(ld(v, vdt, i), fB2), __fmul_rn(__fmul_rn(fOmb2, gi), gi));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), fBc2Sqrt), fEps);
        st(p, pdt, i, __fadd_rn(pi, __fdiv_rn(__fmul_rn(fNegStep, mi), denom)));
        st(m, mdt, i, mi);
        st(v, vdt, i, vi);
    }
}

// quantize2D is bitsandbytes' quantize_2D: a binary search over the sorted 256-entry code from
// entry 127, then rounding to a neighbour at the midpoint. NaN ends at code 0.
__device__ __forceinline__ int quantize2D(const float* code, float x) {
    int p = 127;
    for (int i = 64; i > 0; i >>= 1) p += (x > code[p & 255] ? 1 : -1) * i;
    p &= 255;
    float val = code[p];
    if (x > val) return p + (x > __fmul_rn(__fadd_rn(code[(p + 1) & 255], val), 0.5f) ? 1 : 0);
    if (p == 0) return 0;
    return p - (x < __fmul_rn(__fadd_rn(code[(p - 1) & 255], val), 0.5f) ? 1 : 0);
}

// adamw_8bit: bitsandbytes' kOptimizerStatic8bit2StateBlockwise for Adam; one block of 256 threads
// per block of 256 elements, thread j on element j. maps holds the signed dynamic map (first
// moment), then the unsigned one (second moment). A partial last block's missing elements act as
// bitsandbytes' padding: gradient 0, codes 128 and 0, counted in absmax and never written.
extern "C" __global__ void adamw_8bit(void* p, i64 pdt, const void* g, i64 gdt, unsigned char* c1, unsigned char* c2,
                                      void* absmax1, i64 a1dt, void* absmax2, i64 a2dt, const float* maps,
                                      double b1, double omb1, double b2, double omb2, double stepSize, double corr2Eps,
                                      double decay, i64 decays, i64 n) {
    __shared__ float scratch[32];
    const float *q1 = maps, *q2 = maps + 256;
    float fB1 = (float)b1, fOmb1 = (float)omb1, fB2 = (float)b2, fOmb2 = (float)omb2;
    i64 blk = blockIdx.x, i = blk * 256 + threadIdx.x;
    bool valid = i < n;
    float gi = valid ? ld(g, gdt, i) : 0.0f;
    int code1 = valid ? c1[i] : 128, code2 = valid ? c2[i] : 0;
    float a1 = ld(absmax1, a1dt, blk), a2 = ld(absmax2, a2dt, blk);
    bool finite = gi - gi == 0.0f;
    float s1 = 0.0f, s2 = 0.0f;
    if (finite) {
        s2 = __fmul_rn(q2[code2], a2);
        s2 = __fadd_rn(__fmul_rn(s2, fB2), __fmul_rn(__fmul_rn(fOmb2, gi), gi));
        s1 = __fmul_rn(q1[code1], a1);
        s1 = __fadd_rn(__fmul_rn(s1, fB1), __fmul_rn(fOmb1, gi));
    }
    // fmaxf over fabsf from −FLT_MAX: NaN states are passed over.
    float max1 = blockMax(s1 != s1 ? -MAX_FLOAT : fabsf(s1), scratch);
    float max2 = blockMax(s2 != s2 ? -MAX_FLOAT : fabsf(s2), scratch);
    if (threadIdx.x == 0) {
        st(absmax1, a1dt, blk, max1);
        st(absmax2, a2dt, blk, max2);
    }
    if (!valid) return;
    if (finite) {
        float pj = __fadd_rn(ld(p, pdt, i),
                             __fmul_rn((float)stepSize, __fdiv_rn(s1, __fadd_rn(__fsqrt_rn(s2), (float)corr2Eps))));
        if (decays) pj = __fmul_rn(pj, (float)decay);
        st(p, pdt, i, pj);
    }
    int q = quantize2D(q1, __fdiv_rn(s1, max1));
    if ((q < 127) != (bool)signbit(s1)) q += s1 > 0.0f ? 1 : -1; // codes below 127 are the negative ones
    c1[i] = (unsigned char)q;
    c2[i] = (unsigned char)quantize2D(q2, __fdiv_rn(s2, max2));
}
