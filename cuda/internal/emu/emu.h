//go:build cudaemu

// The CUDA dialect our kernels use, for compiling them as C++ on a machine without a GPU. Each
// GPU thread runs as a fiber of one OS thread; __syncthreads and the warp shuffles are barriers
// among fibers, so kernels run with CUDA's semantics (barriers and shuffles must be reached by
// every thread) but none of its parallelism. Shared memory is a function-local static: blocks run
// one after another. See runtime.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#define QLORA_EMU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __constant__ static
#define __shared__ static
#define __restrict__
#define __align__(n) alignas(n)
#define __launch_bounds__(...)

struct emu_dim3 {
    unsigned x, y, z;
};

// The current fiber's thread index, and the launch's block and grid.
const emu_dim3& emu_thread_idx();
extern emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;
#define threadIdx (emu_thread_idx())
#define blockIdx (emu_block_idx)
#define blockDim (emu_block_dim)
#define gridDim (emu_grid_dim)

void emu_syncthreads();
#define __syncthreads() emu_syncthreads()

// Warp exchange: every lane of the warp writes its value, waits for all, and reads its partner's;
// the slots alternate between two buffers (runtime.cpp), so one barrier is enough.
void emu_warp_barrier();
uint64_t* emu_warp_slots(); // the current warp's 32 slots for this shuffle
int emu_lane();

template <class T>
inline T emu_exchange(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    uint64_t* slots = emu_warp_slots();
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    slots[emu_lane()] = bits;
    emu_warp_barrier();
    T r;
    uint64_t got = slots[src & 31];
    memcpy(&r, &got, sizeof(T));
    return r;
}

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int laneMask) {
    return emu_exchange(v, emu_lane() ^ laneMask);
}

template <class T>
inline T __shfl_sync(unsigned, T v, int src) {
    return emu_exchange(v, src);
}

inline void __syncwarp(unsigned = 0xffffffffu) { emu_warp_barrier(); }

// emu_warp_gather gives every lane all 32 lanes' values of v (for the tensor-core products of
// kernels/mma.cuh).
inline void emu_warp_gather(uint64_t v, uint64_t all[32]) {
    uint64_t* slots = emu_warp_slots();
    slots[emu_lane()] = v;
    emu_warp_barrier();
    memcpy(all, slots, 32 * sizeof(uint64_t));
}

// bfloat16 with round-to-nearest-even conversions, as cuda_bf16.h defines them.
struct __nv_bfloat16 {
    uint16_t x;
};

inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t bits = (uint32_t)h.x << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    __nv_bfloat16 h;
    if ((bits & 0x7fffffffu) > 0x7f800000u) { // NaN: keep it quiet
        h.x = (uint16_t)((bits >> 16) | 0x40);
        return h;
    }
    bits += 0x7fffu + ((bits >> 16) & 1);
    h.x = (uint16_t)(bits >> 16);
    return h;
}

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }

inline float __uint_as_float(unsigned int u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Intrinsics that round each operation separately. Plain operators do: -std=c++17 (not gnu++17)
// turns contraction off in GCC, and cgo builds for baseline x86-64, which has no FMA.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }

using std::signbit;
inline void sincos(double x, double* s, double* c) {
    *s = std::sin(x);
    *c = std::cos(x);
}
template <class T>
inline T min(T a, T b) { return a < b ? a : b; }
template <class T>
inline T max(T a, T b) { return a > b ? a : b; }

// Registration: a static emu_kernel per kernel lets the runtime launch it by name with the 8-byte
// parameters the Go side passes.
struct emu_kernel_info {
    int params;
    std::function<void(const uint64_t*)> call;
};
void emu_register(const char* name, emu_kernel_info info);

template <class T>
inline T emu_param(uint64_t v) {
    T r;
    memcpy(&r, &v, sizeof(T));
    return r;
}

template <class... A, size_t... I>
inline void emu_invoke(void (*f)(A...), const uint64_t* a, std::index_sequence<I...>) {
    f(emu_param<A>(a[I])...);
}

struct emu_kernel {
    template <class... A>
    emu_kernel(const char* name, void (*f)(A...)) {
        static_assert(((sizeof(A) == 8) && ...), "every kernel parameter must be 8 bytes (see common.cuh)");
        emu_register(name, {(int)sizeof...(A), [f](const uint64_t* a) { emu_invoke(f, a, std::index_sequence_for<A...>{}); }});
    }
};

#define EMU_KERNEL(name) static emu_kernel emu_kernel_##name(#name, &name)
