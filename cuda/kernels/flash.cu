// Causal attention with grouped-query heads, segment ids and a sliding window on the bf16 tensor
// cores (mma.cuh), FlashAttention-2 style, forward and backward side by side: the training path for
// bf16 tensors with HD ≤ 128 (attention.cu stays the fp32 reference and the generation path).
//
// Tiling. A block is 4 warps; scores are never stored beyond one tile.
//   - flash_forward: grid (ceil(T/64), NH, B). The block owns 64 query rows, each warp 16, whose
//     q fragments stay in registers. It walks the 64-key tiles the rows can see, K ([key][d]) and
//     V (transposed, [d][key]) staged in shared memory: S = Q·Kᵀ, an online softmax in fp32 (base 2),
//     P rounded to bf16 and fed from S's registers straight into O += P·V, fp32 accumulators.
//   - flash_backward_delta: delta_i = dout_i·out_i in fp32 per (row, head), one warp each.
//   - flash_backward_dkdv: grid (ceil(T/64), NKV, B). The block owns 64 keys of kv head g, K and V
//     in shared memory, each warp 16 keys; it walks the query heads of g in order and, for each, the
//     16-row query steps that can see the keys, recomputing Pᵀ = exp(K·Qᵀ·scale − lse) and
//     dSᵀ = Pᵀ∘(V·doutᵀ − delta)·scale, and accumulates dV += Pᵀ·dout, dK += dSᵀ·Q in registers.
//   - flash_backward_dq: grid (ceil(T/64), NH, B). The block owns 64 query rows (q and dout
//     fragments in registers) and walks the key tiles they see, 32 keys at a time in registers:
//     dQ += dS·K.
// Each gradient element is summed by one thread in a fixed order and added to the buffer once, so
// there are no atomics and results do not depend on scheduling.
//
// Shared tiles hold bf16 pairs as 32-bit words. HD is padded with zeros to a multiple of 16 (the
// mma's k), rows past the sequence's end are zeros, and each row is padded by 8 bf16 so that the
// 8 rows a fragment load touches fall in different banks. Fragments are read with 32-bit loads
// where the tile's inner dimension is the product's k, and as two bf16 halves where it is not.
//
// q, out, dout (N, NH·HD); k, v (N, NKV·HD), head h reading kv head h/(NH/NKV); lse, delta (B,NH,T);
// segments (N) or null. Token j is visible to token i of the same sequence when j ≤ i, their
// segments agree, and, when window > 0, i − j < window.
#include "mma.cuh"

#define BQ 64               // query rows per block, 16 per warp
#define BK 64               // keys per tile
#define QSTEP 16            // query rows per step of flash_backward_dkdv
#define MAX_HD 128          // kernels.go maxFlashHeadDim
#define KW (MAX_HD / 2 + 4) // words per row of a [row][d] tile
#define VW (BK / 2 + 4)     // words per row of the forward's [d][key] tile
#define HD_STEPS (MAX_HD / 16)
#define HD_TILES (MAX_HD / 8)
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// visible says whether query i sees key j (both positions in the sequence).
__device__ __forceinline__ bool visible(int i, int j, int segI, int segJ, int t, int window) {
    return j <= i && i < t && segI == segJ && (window <= 0 || i - j < window);
}

__device__ __forceinline__ int segmentOf(const int* segments, i64 base, i64 i, i64 t) {
    return segments && i < t ? segments[base + i] : 0;
}

// loadRows fills rows [0, n) of a [row][d] tile with rows row0.. of head h of a (N, heads·hd)
// tensor, zeros past hd (up to hd rounded to 16) and past the sequence's end. Heads of bf16 in
// whole 16-byte pieces are read a piece at a time: the tile's words are their pairs as they are.
__device__ void loadRows(u32* s, const void* p, i64 dt, i64 base, i64 row0, int n, i64 t, i64 heads, i64 h, int hd) {
    int pairs = (hd + 15) / 16 * 8;
    if (dt == BF16 && hd % 8 == 0 && aligned16(p)) {
        int pieces = pairs / 4;
        for (int e = threadIdx.x; e < n * pieces; e += blockDim.x) {
            int r = e / pieces, d = 8 * (e % pieces);
            i64 i = row0 + r, off = ((base + i) * heads + h) * hd + d;
            u32x4 w = {0, 0, 0, 0};
            if (i < t && d < hd) {
                CHECK_ACCESS(p, off / 8, 16);
                w = ((const u32x4*)p)[off / 8];
            }
            u32* dst = s + r * KW + d / 2;
            dst[0] = w.x;
            dst[1] = w.y;
            dst[2] = w.z;
            dst[3] = w.w;
        }
        return;
    }
    for (int e = threadIdx.x; e < n * pairs; e += blockDim.x) {
        int r = e / pairs, d = 2 * (e % pairs);
        i64 i = row0 + r, off = ((base + i) * heads + h) * hd + d;
        float lo = i < t && d < hd ? ld(p, dt, off) : 0.0f;
        float hi = i < t && d + 1 < hd ? ld(p, dt, off + 1) : 0.0f;
        s[r * KW + d / 2] = pack2(lo, hi);
    }
}

// loadColumns fills the forward's [d][key] tile with keys row0..row0+BK−1 of head h of v; as
// loadRows, bf16 heads in whole 16-byte pieces are read a piece at a time.
__device__ void loadColumns(u32* s, const void* p, i64 dt, i64 base, i64 row0, i64 t, i64 heads, i64 h, int hd) {
    int dims = (hd + 15) / 16 * 16;
    if (dt == BF16 && hd % 8 == 0 && aligned16(p)) {
        for (int e = threadIdx.x; e < dims / 8 * (BK / 2); e += blockDim.x) {
            int d = 8 * (e % (dims / 8)), r = 2 * (e / (dims / 8));
            u32 lo[4] = {}, hi[4] = {}; // keys r and r+1, dims d..d+7
            for (int k = 0; k < 2; k++) {
                i64 i = row0 + r + k;
                if (i < t && d < hd) {
                    i64 off = ((base + i) * heads + h) * hd + d;
                    CHECK_ACCESS(p, off / 8, 16);
                    u32x4 w = ((const u32x4*)p)[off / 8];
                    u32* dst = k == 0 ? lo : hi;
                    dst[0] = w.x;
                    dst[1] = w.y;
                    dst[2] = w.z;
                    dst[3] = w.w;
                }
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int sh = 16 * (j % 2);
                s[(d + j) * VW + r / 2] = ((lo[j / 2] >> sh) & 0xffffu) | ((hi[j / 2] >> sh) & 0xffffu) << 16;
            }
        }
        return;
    }
    for (int e = threadIdx.x; e < dims * (BK / 2); e += blockDim.x) {
        int d = e % dims, r = 2 * (e / dims);
        i64 i = row0 + r, off = ((base + i) * heads + h) * hd + d;
        float lo = i < t && d < hd ? ld(p, dt, off) : 0.0f;
        float hi = i + 1 < t && d < hd ? ld(p, dt, off + heads * hd) : 0.0f;
        s[d * VW + r / 2] = pack2(lo, hi);
    }
}

__device__ void loadSegments(int* s, const int* segments, i64 base, i64 row0, int n, i64 t) {
    for (int e = threadIdx.x; e < n; e += blockDim.x) s[e] = segmentOf(segments, base, row0 + e, t);
}

// fragA is the A fragment of rows row0..row0+15, k-step ks, of a [row][k] tile (stride words).
__device__ __forceinline__ void fragA(u32 a[4], const u32* s, int stride, int row0, int ks, int lane) {
    const u32* p = s + (row0 + lane / 4) * stride + ks * 8 + lane % 4;
    a[0] = p[0];
    a[1] = p[8 * stride];
    a[2] = p[4];
    a[3] = p[8 * stride + 4];
}

// fragB is the B fragment of columns n0..n0+7, k-step ks, of a tile stored [n][k].
__device__ __forceinline__ void fragB(u32 b[2], const u32* s, int stride, int n0, int ks, int lane) {
    const u32* p = s + (n0 + lane / 4) * stride + ks * 8 + lane % 4;
    b[0] = p[0];
    b[1] = p[4];
}

// half16 is element (r, c) of a tile of bf16 pairs, as the low 16 bits.
__device__ __forceinline__ u32 half16(const u32* s, int stride, int r, int c) {
    return (s[r * stride + c / 2] >> (16 * (c % 2))) & 0xffffu;
}

// fragBT is the B fragment of columns n0..n0+7, rows k0..k0+15, of a tile stored [k][n].
__device__ __forceinline__ void fragBT(u32 b[2], const u32* s, int stride, int k0, int n0, int lane) {
    int k = k0 + 2 * (lane % 4), n = n0 + lane / 4;
    b[0] = half16(s, stride, k, n) | half16(s, stride, k + 1, n) << 16;
    b[1] = half16(s, stride, k + 8, n) | half16(s, stride, k + 9, n) << 16;
}

// toA turns the C fragments of two neighbouring 16×8 products into the A fragment of a 16×16 one.
__device__ __forceinline__ void toA(u32 a[4], const float c0[4], const float c1[4]) {
    a[0] = pack2(c0[0], c0[1]);
    a[1] = pack2(c0[2], c0[3]);
    a[2] = pack2(c1[0], c1[1]);
    a[3] = pack2(c1[2], c1[3]);
}

// quadMax and quadSum reduce over the 4 lanes that share a fragment row.
__device__ __forceinline__ float quadMax(float x) {
    x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, 1));
    return fmaxf(x, __shfl_xor_sync(FULL_MASK, x, 2));
}

__device__ __forceinline__ float quadSum(float x) {
    x += __shfl_xor_sync(FULL_MASK, x, 1);
    return x + __shfl_xor_sync(FULL_MASK, x, 2);
}

// softmaxTile turns one row half (r: fragment row g or g+8) of the warp's scores s into
// probabilities against the running maximum m (base-2 units) and sum l, rescaling o. Masked scores
// are −inf; a row that has seen nothing keeps m = −inf and contributes zeros, not NaN.
__device__ __forceinline__ void softmaxTile(float s[BK / 8][4], float o[HD_TILES][4], float& m, float& l, int r) {
    float mx = m;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
    mx = quadMax(mx);
    float ref = mx == -INFINITY ? 0.0f : mx;
    float corr = exp2f(m - ref);
    m = mx;
    l *= corr;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; e++) {
            s[nt][e] = exp2f(s[nt][e] - ref);
            l += s[nt][e];
        }
    }
#pragma unroll
    for (int nt = 0; nt < HD_TILES; nt++) {
        o[nt][2 * r] *= corr;
        o[nt][2 * r + 1] *= corr;
    }
}

// flash_forward: out and lse (base e) of each query row; grid (ceil(T/BQ), NH, B), 4 warps.
extern "C" __global__ void flash_forward(void* out, i64 odt, void* lse, i64 ldt, const void* q, i64 qdt, const void* k,
                                         i64 kdt, const void* v, i64 vdt, const int* segments, i64 t, i64 heads,
                                         i64 kvHeads, i64 hd, i64 window, double scale) {
    __shared__ u32 sK[BK * KW];
    __shared__ u32 sVt[MAX_HD * VW];
    __shared__ int sSeg[BK];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, hdSteps = (hd + 15) / 16, hdTiles = (hd + 7) / 8;
    i64 h = blockIdx.y, b = blockIdx.z, g = h / (heads / kvHeads), base = b * t;
    int q0 = blockIdx.x * BQ, tt = (int)t, win = (int)window; // positions in the sequence fit an int
    float sl2 = (float)scale * LOG2E;

    loadRows(sK, q, qdt, base, q0, BQ, t, heads, h, hd); // the queries pass through sK
    __syncthreads();
    u32 qf[HD_STEPS][4];
#pragma unroll
    for (int ks = 0; ks < HD_STEPS; ks++)
        if (ks < hdSteps) fragA(qf[ks], sK, KW, warp * 16, ks, lane);
    int rows[2] = {q0 + warp * 16 + lane / 4, q0 + warp * 16 + lane / 4 + 8};
    int segI[2] = {segmentOf(segments, base, rows[0], t), segmentOf(segments, base, rows[1], t)};
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[HD_TILES][4] = {};

    int first = win > 0 ? max(0, q0 - win + 1) : 0, last = min(tt, q0 + BQ) - 1;
    for (int k0 = first / BK * BK; k0 <= last; k0 += BK) {
        __syncthreads(); // every warp is done with the previous tile (or the queries)
        loadRows(sK, k, kdt, base, k0, BK, t, kvHeads, g, hd);
        loadColumns(sVt, v, vdt, base, k0, t, kvHeads, g, hd);
        loadSegments(sSeg, segments, base, k0, BK, t);
        __syncthreads();
        float s[BK / 8][4] = {};
#pragma unroll
        for (int ks = 0; ks < HD_STEPS; ks++) {
            if (ks >= hdSteps) break;
#pragma unroll
            for (int nt = 0; nt < BK / 8; nt++) {
                u32 bf[2];
                fragB(bf, sK, KW, nt * 8, ks, lane);
                mma16816(s[nt], qf[ks], bf);
            }
        }
#pragma unroll
        for (int nt = 0; nt < BK / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int jl = nt * 8 + 2 * (lane % 4) + e % 2;
                bool vis = visible(rows[e / 2], k0 + jl, segI[e / 2], sSeg[jl], tt, win);
                s[nt][e] = vis ? s[nt][e] * sl2 : -INFINITY;
            }
        softmaxTile(s, o, m[0], l[0], 0);
        softmaxTile(s, o, m[1], l[1], 1);
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            u32 a[4];
            toA(a, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int nt = 0; nt < HD_TILES; nt++) {
                if (nt >= hdTiles) break;
                u32 bf[2];
                fragB(bf, sVt, VW, nt * 8, kk, lane);
                mma16816(o[nt], a, bf);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = quadSum(l[r]);
        i64 i = rows[r];
        if (i >= t) continue;
#pragma unroll
        for (int nt = 0; nt < HD_TILES; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int d = nt * 8 + 2 * (lane % 4) + e;
                if (d < hd) st(out, odt, ((base + i) * heads + h) * hd + d, o[nt][2 * r + e] / sum);
            }
        if (lane % 4 == 0) st(lse, ldt, (b * heads + h) * t + i, m[r] * LN2 + logf(sum));
    }
}

// flash_backward_delta: delta (B,NH,T) float32 = dout_i·out_i for each row and head; one warp
// each, 8 warps per block, grid ceil(N·NH/8).
extern "C" __global__ void flash_backward_delta(void* delta, const void* dout, i64 ddt, const void* out, i64 odt,
                                                i64 n, i64 t, i64 heads, i64 hd) {
    int lane = threadIdx.x % WARP;
    i64 w = (i64)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (w >= n * heads) return; // the whole warp leaves together
    i64 row = w / heads, h = w % heads, off = w * hd;
    float s = 0.0f;
    for (i64 d = lane; d < hd; d += WARP) s += ld(dout, ddt, off + d) * ld(out, odt, off + d);
    s = warpSum(s);
    if (lane == 0) st(delta, F32, (row / t * heads + h) * t + row % t, s);
}

// flash_backward_dkdv adds to dk and dv the gradients of the block's 64 keys of kv head g:
//
//	dv_j += Σ_i p_ij·dout_i,  dk_j += Σ_i ds_ij·q_i·scale,  ds_ij = p_ij·(dout_i·v_j − delta_i)
//
// over the query heads of g in order, then the query rows in order. Grid (ceil(T/BK), NKV, B).
extern "C" __global__ void flash_backward_dkdv(void* dk, i64 dkdt, void* dv, i64 dvdt, const void* dout, i64 ddt,
                                               const void* lse, i64 ldt, const void* delta, const void* q, i64 qdt,
                                               const void* k, i64 kdt, const void* v, i64 vdt, const int* segments,
                                               i64 t, i64 heads, i64 kvHeads, i64 hd, i64 window, double scale) {
    __shared__ u32 sK[BK * KW], sV[BK * KW], sQ[QSTEP * KW], sdO[QSTEP * KW];
    __shared__ float sLse[QSTEP], sDelta[QSTEP];
    __shared__ int sSegQ[QSTEP];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, hdSteps = (hd + 15) / 16, hdTiles = (hd + 7) / 8;
    i64 g = blockIdx.y, b = blockIdx.z, group = heads / kvHeads, base = b * t;
    int k0 = blockIdx.x * BK, tt = (int)t, win = (int)window; // positions in the sequence fit an int
    float sc = (float)scale, sl2 = sc * LOG2E;

    loadRows(sK, k, kdt, base, k0, BK, t, kvHeads, g, hd);
    loadRows(sV, v, vdt, base, k0, BK, t, kvHeads, g, hd);
    int keys[2] = {k0 + warp * 16 + lane / 4, k0 + warp * 16 + lane / 4 + 8};
    int segJ[2] = {segmentOf(segments, base, keys[0], t), segmentOf(segments, base, keys[1], t)};
    float dK[HD_TILES][4] = {}, dV[HD_TILES][4] = {};

    int last = win > 0 ? min(tt - 1, k0 + BK - 1 + win - 1) : tt - 1;
    for (i64 h = g * group; h < (g + 1) * group; h++) {
        for (int q0 = k0; q0 <= last; q0 += QSTEP) {
            __syncthreads(); // every warp is done with the previous step
            loadRows(sQ, q, qdt, base, q0, QSTEP, t, heads, h, hd);
            loadRows(sdO, dout, ddt, base, q0, QSTEP, t, heads, h, hd);
            for (int e = threadIdx.x; e < QSTEP; e += blockDim.x) {
                int i = q0 + e;
                i64 at = (b * heads + h) * t + i;
                sLse[e] = i < t ? ld(lse, ldt, at) * LOG2E : 0.0f;
                sDelta[e] = i < t ? ld(delta, F32, at) : 0.0f;
                sSegQ[e] = segmentOf(segments, base, i, t);
            }
            __syncthreads();
            // Sᵀ = K·Qᵀ and dPᵀ = V·doutᵀ for the warp's 16 keys and the step's 16 queries.
            float s[2][4] = {}, dp[2][4] = {};
#pragma unroll
            for (int ks = 0; ks < HD_STEPS; ks++) {
                if (ks >= hdSteps) break;
                u32 ak[4], av[4];
                fragA(ak, sK, KW, warp * 16, ks, lane);
                fragA(av, sV, KW, warp * 16, ks, lane);
#pragma unroll
                for (int nt = 0; nt < 2; nt++) {
                    u32 bf[2];
                    fragB(bf, sQ, KW, nt * 8, ks, lane);
                    mma16816(s[nt], ak, bf);
                    fragB(bf, sdO, KW, nt * 8, ks, lane);
                    mma16816(dp[nt], av, bf);
                }
            }
#pragma unroll
            for (int nt = 0; nt < 2; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int il = nt * 8 + 2 * (lane % 4) + e % 2;
                    bool vis = visible(q0 + il, keys[e / 2], sSegQ[il], segJ[e / 2], tt, win);
                    float p = vis ? exp2f(s[nt][e] * sl2 - sLse[il]) : 0.0f;
                    s[nt][e] = p;
                    dp[nt][e] = p * (dp[nt][e] - sDelta[il]) * sc;
                }
            u32 ap[4], ads[4];
            toA(ap, s[0], s[1]);
            toA(ads, dp[0], dp[1]);
#pragma unroll
            for (int nt = 0; nt < HD_TILES; nt++) {
                if (nt >= hdTiles) break;
                u32 bf[2];
                fragBT(bf, sdO, KW, 0, nt * 8, lane);
                mma16816(dV[nt], ap, bf);
                fragBT(bf, sQ, KW, 0, nt * 8, lane);
                mma16816(dK[nt], ads, bf);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (keys[r] >= t) continue;
#pragma unroll
        for (int nt = 0; nt < HD_TILES; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int d = nt * 8 + 2 * (lane % 4) + e;
                if (d >= hd) continue;
                i64 at = ((base + keys[r]) * kvHeads + g) * hd + d;
                st(dk, dkdt, at, ld(dk, dkdt, at) + dK[nt][2 * r + e]);
                st(dv, dvdt, at, ld(dv, dvdt, at) + dV[nt][2 * r + e]);
            }
    }
}

// flash_backward_dq adds to dq the gradient of the block's 64 query rows of head h,
//
//	dq_i += Σ_j ds_ij·k_j·scale
//
// over the keys in order. Grid (ceil(T/BQ), NH, B).
extern "C" __global__ void flash_backward_dq(void* dq, i64 dqdt, const void* dout, i64 ddt, const void* lse, i64 ldt,
                                             const void* delta, const void* q, i64 qdt, const void* k, i64 kdt,
                                             const void* v, i64 vdt, const int* segments, i64 t, i64 heads,
                                             i64 kvHeads, i64 hd, i64 window, double scale) {
    __shared__ u32 sK[BK * KW], sV[BK * KW];
    __shared__ int sSeg[BK];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, hdSteps = (hd + 15) / 16, hdTiles = (hd + 7) / 8;
    i64 h = blockIdx.y, b = blockIdx.z, g = h / (heads / kvHeads), base = b * t;
    int q0 = blockIdx.x * BQ, tt = (int)t, win = (int)window; // positions in the sequence fit an int
    float sc = (float)scale, sl2 = sc * LOG2E;

    loadRows(sK, q, qdt, base, q0, BQ, t, heads, h, hd); // q and dout pass through sK and sV
    loadRows(sV, dout, ddt, base, q0, BQ, t, heads, h, hd);
    __syncthreads();
    u32 qf[HD_STEPS][4], df[HD_STEPS][4];
#pragma unroll
    for (int ks = 0; ks < HD_STEPS; ks++) {
        if (ks >= hdSteps) break;
        fragA(qf[ks], sK, KW, warp * 16, ks, lane);
        fragA(df[ks], sV, KW, warp * 16, ks, lane);
    }
    int rows[2] = {q0 + warp * 16 + lane / 4, q0 + warp * 16 + lane / 4 + 8};
    int segI[2];
    float rowLse[2], rowDelta[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        i64 at = (b * heads + h) * t + rows[r];
        segI[r] = segmentOf(segments, base, rows[r], t);
        rowLse[r] = rows[r] < t ? ld(lse, ldt, at) * LOG2E : 0.0f;
        rowDelta[r] = rows[r] < t ? ld(delta, F32, at) : 0.0f;
    }
    float dQ[HD_TILES][4] = {};

    int first = win > 0 ? max(0, q0 - win + 1) : 0, last = min(tt, q0 + BQ) - 1;
    for (int k0 = first / BK * BK; k0 <= last; k0 += BK) {
        __syncthreads(); // every warp is done with the previous tile (or q and dout)
        loadRows(sK, k, kdt, base, k0, BK, t, kvHeads, g, hd);
        loadRows(sV, v, vdt, base, k0, BK, t, kvHeads, g, hd);
        loadSegments(sSeg, segments, base, k0, BK, t);
        __syncthreads();
        // Two halves of 32 keys: S = Q·Kᵀ, dP = dout·Vᵀ, dS, then dQ += dS·K.
        for (int kh = 0; kh < BK && k0 + kh <= last; kh += BK / 2) {
            float s[4][4] = {}, dp[4][4] = {};
#pragma unroll
            for (int ks = 0; ks < HD_STEPS; ks++) {
                if (ks >= hdSteps) break;
#pragma unroll
                for (int nt = 0; nt < 4; nt++) {
                    u32 bf[2];
                    fragB(bf, sK, KW, kh + nt * 8, ks, lane);
                    mma16816(s[nt], qf[ks], bf);
                    fragB(bf, sV, KW, kh + nt * 8, ks, lane);
                    mma16816(dp[nt], df[ks], bf);
                }
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int jl = kh + nt * 8 + 2 * (lane % 4) + e % 2, r = e / 2;
                    bool vis = visible(rows[r], k0 + jl, segI[r], sSeg[jl], tt, win);
                    float p = vis ? exp2f(s[nt][e] * sl2 - rowLse[r]) : 0.0f;
                    dp[nt][e] = p * (dp[nt][e] - rowDelta[r]) * sc;
                }
#pragma unroll
            for (int kk = 0; kk < 2; kk++) {
                u32 a[4];
                toA(a, dp[2 * kk], dp[2 * kk + 1]);
#pragma unroll
                for (int nt = 0; nt < HD_TILES; nt++) {
                    if (nt >= hdTiles) break;
                    u32 bf[2];
                    fragBT(bf, sK, KW, kh + kk * 16, nt * 8, lane);
                    mma16816(dQ[nt], a, bf);
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (rows[r] >= t) continue;
#pragma unroll
        for (int nt = 0; nt < HD_TILES; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int d = nt * 8 + 2 * (lane % 4) + e;
                if (d >= hd) continue;
                i64 at = ((base + rows[r]) * heads + h) * hd + d;
                st(dq, dqdt, at, ld(dq, dqdt, at) + dQ[nt][2 * r + e]);
            }
    }
}
