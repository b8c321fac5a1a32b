// Cross-entropy over the vocabulary, forward and backward side by side
// (trainer/backend/cpu/crossentropy.go). One block per row of logits (N,V): the row is read in
// chunks of blockDim.x and reduced in float, so no float32 copy of the logits is ever made.
#include "common.cuh"

// rowStats returns the row's maximum (NaN when any logit is NaN) and Σ exp(x − max).
__device__ __forceinline__ void rowStats(const void* logits, i64 dt, i64 base, i64 v, float* scratch, float* mx, float* sum) {
    float m = -INFINITY;
    for (i64 j = threadIdx.x; j < v; j += blockDim.x) m = maxNaN(m, ld(logits, dt, base + j));
    m = blockMaxNaN(m, scratch);
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < v; j += blockDim.x) s = __fadd_rn(s, expf(ld(logits, dt, base + j) - m));
    *mx = m;
    *sum = blockSum(s, scratch);
}

// cross_entropy_forward: losses (N) = max + log Σ exp(x − max) − x[target], 0 for rows whose target
// is negative. NaN or infinite logits give NaN.
extern "C" __global__ void cross_entropy_forward(void* losses, i64 ldt, const void* logits, i64 dt, const int* targets,
                                                 i64 n, i64 v) {
    __shared__ float scratch[32];
    i64 row = blockIdx.x;
    if (row >= n) return;
    int t = targets[row];
    if (t < 0) {
        if (threadIdx.x == 0) st(losses, ldt, row, 0.0f);
        return;
    }
    float mx, sum;
    rowStats(logits, dt, row * v, v, scratch, &mx, &sum);
    if (threadIdx.x == 0) st(losses, ldt, row, mx + logf(sum) - ld(logits, dt, row * v + t));
}

// cross_entropy_backward adds scale·(softmax(x) − onehot(target)) to the rows of dlogits (N,V)
// whose target is not negative.
extern "C" __global__ void cross_entropy_backward(void* dlogits, i64 ddt, const void* logits, i64 dt,
                                                  const int* targets, double scale, i64 n, i64 v) {
    __shared__ float scratch[32];
    i64 row = blockIdx.x;
    if (row >= n) return;
    int t = targets[row];
    if (t < 0) return;
    float mx, sum, sc = (float)scale;
    rowStats(logits, dt, row * v, v, scratch, &mx, &sum);
    for (i64 j = threadIdx.x; j < v; j += blockDim.x) {
        float g = expf(ld(logits, dt, row * v + j) - mx) / sum;
        if (j == t) g -= 1.0f;
        st(dlogits, ddt, row * v + j, __fadd_rn(ld(dlogits, ddt, row * v + j), __fmul_rn(sc, g)));
    }
}
