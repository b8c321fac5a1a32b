// Causal scaled dot-product attention with grouped-query heads, segment ids and a sliding window,
// forward and backward side by side (trainer/backend/cpu/attention.go), and the cached attention of
// generation.
//
// The fp32 reference path and generation's: bf16 tensors with heads of at most 128 train through
// flash.cu's tensor-core kernels instead (cuda/layers.go picks). attention_cached always runs here.
//
// The plain version: one warp per query row (forward, dq) or key row (dk, dv), the head dimension
// split over the lanes (HD ≤ 32·MAX_PER_LANE), keys and values read through the caches, an online
// softmax in the forward pass. The T×T scores are never stored; the backward pass recomputes the
// probabilities from lse. Every sum runs in a fixed order, so results do not depend on scheduling.
//
// q, out (N, NH·HD); k, v (N, NKV·HD), head h reading kv head h/(NH/NKV); lse (B,NH,T);
// segments (N) or null. Token j is visible to token i of the same sequence when j ≤ i, their
// segments agree, and, when window > 0, i − j < window. ROWS warps per block.
#include "common.cuh"

#define MAX_PER_LANE 8
#define ROWS 8

// loadHead reads the lane's share of one head (HD values at off) into r.
__device__ __forceinline__ void loadHead(float* r, const void* p, i64 dt, i64 off, i64 hd, int lane) {
#pragma unroll
    for (int k = 0; k < MAX_PER_LANE; k++) {
        i64 d = lane + WARP * k;
        r[k] = d < hd ? ld(p, dt, off + d) : 0.0f;
    }
}

// dotHead is the warp's dot product of a lane-split head r with the head at off.
__device__ __forceinline__ float dotHead(const float* r, const void* p, i64 dt, i64 off, i64 hd, int lane) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < MAX_PER_LANE; k++) {
        i64 d = lane + WARP * k;
        if (d < hd) s = __fadd_rn(s, __fmul_rn(r[k], ld(p, dt, off + d)));
    }
    return warpSum(s);
}

// attendRow computes one query row against keys first..last (kv rows at kvBase + j), skipping
// the ones hidden by segments, with an online softmax; it writes the row's output and returns its
// log-sum-exp. qv is the lane's share of the query.
__device__ float attendRow(void* out, i64 odt, i64 outOff, const float* qv, const void* k, i64 kdt, const void* v,
                           i64 vdt, i64 kvBase, i64 kvHeads, i64 g, i64 hd, i64 first, i64 last, const int* segments,
                           i64 segBase, i64 i, float scale, int lane) {
    float acc[MAX_PER_LANE];
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) acc[r] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    int segI = segments ? segments[segBase + i] : 0;
    for (i64 j = first; j <= last; j++) {
        if (segments && segments[segBase + j] != segI) continue;
        i64 kvOff = ((kvBase + j) * kvHeads + g) * hd;
        float s = __fmul_rn(dotHead(qv, k, kdt, kvOff, hd, lane), scale);
        float mNew = fmaxf(m, s);
        float corr = expf(m - mNew), p = expf(s - mNew);
        l = __fadd_rn(__fmul_rn(l, corr), p);
#pragma unroll
        for (int r = 0; r < MAX_PER_LANE; r++) {
            i64 d = lane + WARP * r;
            if (d < hd) acc[r] = __fadd_rn(__fmul_rn(acc[r], corr), __fmul_rn(p, ld(v, vdt, kvOff + d)));
        }
        m = mNew;
    }
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) {
        i64 d = lane + WARP * r;
        if (d < hd) st(out, odt, outOff + d, acc[r] / l);
    }
    return m + logf(l);
}

// attention_forward: grid (ceil(T/ROWS), NH, B); warp w of block x computes query row x·ROWS+w.
extern "C" __global__ void attention_forward(void* out, i64 odt, void* lse, i64 ldt, const void* q, i64 qdt,
                                             const void* k, i64 kdt, const void* v, i64 vdt, const int* segments,
                                             i64 t, i64 heads, i64 kvHeads, i64 hd, i64 window, double scale) {
    int lane = threadIdx.x % WARP;
    i64 i = (i64)blockIdx.x * ROWS + threadIdx.x / WARP;
    if (i >= t) return; // the whole warp leaves together
    i64 h = blockIdx.y, b = blockIdx.z, g = h / (heads / kvHeads), base = b * t;
    float qv[MAX_PER_LANE];
    i64 qOff = ((base + i) * heads + h) * hd;
    loadHead(qv, q, qdt, qOff, hd, lane);
    i64 first = window > 0 ? max((i64)0, i - window + 1) : 0;
    float rowLSE = attendRow(out, odt, qOff, qv, k, kdt, v, vdt, base, kvHeads, g, hd, first, i, segments, base, i,
                             (float)scale, lane);
    if (lane == 0) st(lse, ldt, (b * heads + h) * t + i, rowLSE);
}

// attention_cached: generation's m new rows (positions past..past+m−1) of one sequence over the
// caches (past+m, NKV·HD); causal and windowed, no segments, no lse. Grid (ceil(m/ROWS), NH).
extern "C" __global__ void attention_cached(void* out, i64 odt, const void* q, i64 qdt, const void* kCache, i64 kdt,
                                            const void* vCache, i64 vdt, i64 past, i64 m, i64 heads, i64 kvHeads,
                                            i64 hd, i64 window, double scale) {
    int lane = threadIdx.x % WARP;
    i64 i = (i64)blockIdx.x * ROWS + threadIdx.x / WARP;
    if (i >= m) return;
    i64 h = blockIdx.y, g = h / (heads / kvHeads), pos = past + i;
    float qv[MAX_PER_LANE];
    i64 qOff = (i * heads + h) * hd;
    loadHead(qv, q, qdt, qOff, hd, lane);
    i64 first = window > 0 ? max((i64)0, pos - window + 1) : 0;
    attendRow(out, odt, qOff, qv, kCache, kdt, vCache, vdt, 0, kvHeads, g, hd, first, pos, (const int*)0, 0, pos,
              (float)scale, lane);
}

// attention_backward_dq adds to dq the gradient of each query row, recomputing p_ij = exp(s_ij − lse_i):
//
//	ds_ij = p_ij·(dout_i·v_j − dout_i·out_i),  dq_i += Σ_j ds_ij·k_j / sqrt(HD)
//
// Grid (ceil(T/ROWS), NH, B), one warp per query row.
extern "C" __global__ void attention_backward_dq(void* dq, i64 dqdt, const void* dout, i64 ddt, const void* out, i64 odt,
                                                 const void* lse, i64 ldt, const void* q, i64 qdt, const void* k, i64 kdt,
                                                 const void* v, i64 vdt, const int* segments, i64 t, i64 heads,
                                                 i64 kvHeads, i64 hd, i64 window, double scale) {
    int lane = threadIdx.x % WARP;
    i64 i = (i64)blockIdx.x * ROWS + threadIdx.x / WARP;
    if (i >= t) return;
    i64 h = blockIdx.y, b = blockIdx.z, g = h / (heads / kvHeads), base = b * t;
    float sc = (float)scale;
    i64 qOff = ((base + i) * heads + h) * hd;
    float qv[MAX_PER_LANE], dov[MAX_PER_LANE], acc[MAX_PER_LANE];
    loadHead(qv, q, qdt, qOff, hd, lane);
    loadHead(dov, dout, ddt, qOff, hd, lane);
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) acc[r] = 0.0f;
    float rowDot = dotHead(dov, out, odt, qOff, hd, lane);
    float rowLSE = ld(lse, ldt, (b * heads + h) * t + i);
    int segI = segments ? segments[base + i] : 0;
    i64 first = window > 0 ? max((i64)0, i - window + 1) : 0;
    for (i64 j = first; j <= i; j++) {
        if (segments && segments[base + j] != segI) continue;
        i64 kvOff = ((base + j) * kvHeads + g) * hd;
        float p = expf(__fmul_rn(dotHead(qv, k, kdt, kvOff, hd, lane), sc) - rowLSE);
        float ds = __fmul_rn(__fmul_rn(p, dotHead(dov, v, vdt, kvOff, hd, lane) - rowDot), sc);
#pragma unroll
        for (int r = 0; r < MAX_PER_LANE; r++) {
            i64 d = lane + WARP * r;
            if (d < hd) acc[r] = __fadd_rn(acc[r], __fmul_rn(ds, ld(k, kdt, kvOff + d)));
        }
    }
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) {
        i64 d = lane + WARP * r;
        if (d < hd) st(dq, dqdt, qOff + d, __fadd_rn(ld(dq, dqdt, qOff + d), acc[r]));
    }
}

// attention_backward_dkdv adds to dk and dv the gradients of each key row j of kv head g, over the
// query heads that share it (in order) and the query rows that see it:
//
//	dv_j += Σ_i p_ij·dout_i,  dk_j += Σ_i ds_ij·q_i / sqrt(HD)
//
// Grid (ceil(T/ROWS), NKV, B), one warp per key row; dout_i·out_i is recomputed for each pair
// rather than kept, so the backward pass needs no memory the planner does not count.
extern "C" __global__ void attention_backward_dkdv(void* dk, i64 dkdt, void* dv, i64 dvdt, const void* dout, i64 ddt,
                                                   const void* out, i64 odt, const void* lse, i64 ldt, const void* q,
                                                   i64 qdt, const void* k, i64 kdt, const void* v, i64 vdt,
                                                   const int* segments, i64 t, i64 heads, i64 kvHeads, i64 hd,
                                                   i64 window, double scale) {
    int lane = threadIdx.x % WARP;
    i64 j = (i64)blockIdx.x * ROWS + threadIdx.x / WARP;
    if (j >= t) return;
    i64 g = blockIdx.y, b = blockIdx.z, group = heads / kvHeads, base = b * t;
    float sc = (float)scale;
    i64 kvOff = ((base + j) * kvHeads + g) * hd;
    float kv[MAX_PER_LANE], vv[MAX_PER_LANE], dkAcc[MAX_PER_LANE], dvAcc[MAX_PER_LANE];
    loadHead(kv, k, kdt, kvOff, hd, lane);
    loadHead(vv, v, vdt, kvOff, hd, lane);
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) dkAcc[r] = dvAcc[r] = 0.0f;
    int segJ = segments ? segments[base + j] : 0;
    i64 last = window > 0 ? min(t - 1, j + window - 1) : t - 1;
    for (i64 h = g * group; h < (g + 1) * group; h++) {
        for (i64 i = j; i <= last; i++) {
            if (segments && segments[base + i] != segJ) continue;
            i64 qOff = ((base + i) * heads + h) * hd;
            float p = expf(__fmul_rn(dotHead(kv, q, qdt, qOff, hd, lane), sc) - ld(lse, ldt, (b * heads + h) * t + i));
            float rowDot = 0.0f, dp = 0.0f;
#pragma unroll
            for (int r = 0; r < MAX_PER_LANE; r++) {
                i64 d = lane + WARP * r;
                if (d < hd) {
                    float dO = ld(dout, ddt, qOff + d);
                    rowDot = __fadd_rn(rowDot, __fmul_rn(dO, ld(out, odt, qOff + d)));
                    dp = __fadd_rn(dp, __fmul_rn(dO, vv[r]));
                }
            }
            rowDot = warpSum(rowDot);
            dp = warpSum(dp);
            float ds = __fmul_rn(__fmul_rn(p, dp - rowDot), sc);
#pragma unroll
            for (int r = 0; r < MAX_PER_LANE; r++) {
                i64 d = lane + WARP * r;
                if (d < hd) {
                    dkAcc[r] = __fadd_rn(dkAcc[r], __fmul_rn(ds, ld(q, qdt, qOff + d)));
                    dvAcc[r] = __fadd_rn(dvAcc[r], __fmul_rn(p, ld(dout, ddt, qOff + d)));
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < MAX_PER_LANE; r++) {
        i64 d = lane + WARP * r;
        if (d < hd) {
            st(dk, dkdt, kvOff + d, __fadd_rn(ld(dk, dkdt, kvOff + d), dkAcc[r]));
            st(dv, dvdt, kvOff + d, __fadd_rn(ld(dv, dvdt, kvOff + d), dvAcc[r]));
        }
    }
}
