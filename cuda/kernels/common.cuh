// Shared by every kernel file: storage types, loads and stores that convert, and deterministic
// reductions.
//
// Conventions (the Go side, cuda/launch.go, relies on them):
//   - Every kernel parameter is 8 bytes: a pointer, an i64 or a double. gorgonia.org/cu copies
//     each parameter as 8 bytes, so a 4-byte parameter would pick up garbage.
//   - A tensor travels as a pointer and its storage type (an i64: F32 or BF16). Kernels load into
//     float, compute in float (double where the CPU reference does), and round once on store.
//   - Backward kernels ADD into gradients (read, add, store), as backend.Backend's contract says.
//   - No float atomics and no reduction whose order depends on scheduling: the same inputs give the
//     same bits on every run.
//   - Products that feed a sum where the CPU reference rounds them separately use __fmul_rn and
//     __fadd_rn, which the compiler never contracts into a fused multiply-add.
#pragma once

#ifndef QLORA_EMU
#include <cuda_bf16.h>
#define CHECK_ACCESS(p, i, size)
#else
// The emulator (cuda/internal/emu) checks every load and store against the live allocations.
void emu_check_access(const void* p, long long i, size_t size);
#define CHECK_ACCESS(p, i, size) emu_check_access(p, i, size)
#endif

typedef long long i64;
typedef __nv_bfloat16 bf16;

// Storage types of a tensor (cuda/dtype.go).
#define F32 0
#define BF16 1

#define FULL_MASK 0xffffffffu
#define WARP 32
#define MAX_FLOAT 3.40282346638528859811704183484516925440e+38f

__device__ __forceinline__ float ld(const void* p, i64 dt, i64 i) {
    CHECK_ACCESS(p, i, dt == BF16 ? 2 : 4);
    if (dt == BF16) return __bfloat162float(((const bf16*)p)[i]);
    return ((const float*)p)[i];
}

__device__ __forceinline__ void st(void* p, i64 dt, i64 i, float v) {
    CHECK_ACCESS(p, i, dt == BF16 ? 2 : 4);
    if (dt == BF16) {
        ((bf16*)p)[i] = __float2bfloat16_rn(v);
    } else {
        ((float*)p)[i] = v;
    }
}

// Grid-stride loop over [0, n).
#define FOR_EACH(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// maxNaN is max that propagates NaN, as Go's max does (fmaxf drops NaN).
__device__ __forceinline__ float maxNaN(float a, float b) {
    if (a != a || b != b) return a + b;
    return a > b ? a : b;
}

// Butterfly reductions: every lane ends with the same value, summed in the same order.
__device__ __forceinline__ float warpSum(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warpSumDouble(double v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warpMaxNaN(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v = maxNaN(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ float warpMax(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Block reductions for blocks of whole warps (blockDim.x a multiple of 32, at most 1024); every
// thread must call them, and every thread gets the result. scratch holds 32 values.
__device__ __forceinline__ float blockSum(float v, float* scratch) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    v = warpSum(v);
    __syncthreads(); // scratch may still be read by a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return warpSum(v);
}

__device__ __forceinline__ double blockSumDouble(double v, double* scratch) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    v = warpSumDouble(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0;
    return warpSumDouble(v);
}

__device__ __forceinline__ float blockMaxNaN(float v, float* scratch) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    v = warpMaxNaN(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INFINITY;
    return warpMaxNaN(v);
}

// blockMax drops NaN, as fmaxf does.
__device__ __forceinline__ float blockMax(float v, float* scratch) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    v = warpMax(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INFINITY;
    return warpMax(v);
}
