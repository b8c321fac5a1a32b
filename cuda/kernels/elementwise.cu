// Elementwise and row-copy kernels: casts, Add, AddBias, Scale, Embedding, SwiGLU and dropout,
// forward and backward side by side. Shapes as in trainer/backend: N rows, C channels, V
// vocabulary. Each mirrors the CPU backend's file of the same op (trainer/backend/cpu).
#include "common.cuh"
#include "philox.cuh"

// cast: out (n) = in (n), converted between storage types (Copy across types, and the bf16 copies
// of fp32 operands that cuBLAS needs).
extern "C" __global__ void cast(void* out, i64 odt, const void* in, i64 idt, i64 n) {
    FOR_EACH(i, n) st(out, odt, i, ld(in, idt, i));
}

// add: out (n) = a (n) + b (n); out may be a or b.
extern "C" __global__ void add(void* out, i64 odt, const void* a, i64 adt, const void* b, i64 bdt, i64 n) {
    FOR_EACH(i, n) st(out, odt, i, ld(a, adt, i) + ld(b, bdt, i));
}

// add_bias: out (N,C) += bias (C) on every row.
extern "C" __global__ void add_bias(void* out, i64 odt, const void* bias, i64 bdt, i64 n, i64 c) {
    FOR_EACH(i, n * c) st(out, odt, i, ld(out, odt, i) + ld(bias, bdt, i % c));
}

// scale_inplace: x (n) *= alpha, alpha rounded to float as the CPU rounds it to T.
extern "C" __global__ void scale_inplace(void* x, i64 dt, double alpha, i64 n) {
    float a = (float)alpha;
    FOR_EACH(i, n) st(x, dt, i, ld(x, dt, i) * a);
}

// embedding_forward: row i of out (N,C) = row ids[i] of table (V,C). The ids were checked on the
// host.
extern "C" __global__ void embedding_forward(void* out, i64 odt, const void* table, i64 tdt, const int* ids, i64 n, i64 c) {
    FOR_EACH(i, n * c) {
        i64 row = i / c, col = i % c;
        st(out, odt, i, ld(table, tdt, (i64)ids[row] * c + col));
    }
}

// sigmoid is 1/(1+exp(-x)); the CPU takes the exponential in float64.
__device__ __forceinline__ float sigmoid(float x) {
    return (float)(1.0 / (1.0 + exp(-(double)x)));
}

// swiglu_forward: out (n) = silu(gate)·up = gate·sigmoid(gate)·up, multiplied in that order.
extern "C" __global__ void swiglu_forward(void* out, i64 odt, const void* gate, i64 gdt, const void* up, i64 udt, i64 n) {
    FOR_EACH(i, n) {
        float g = ld(gate, gdt, i);
        st(out, odt, i, __fmul_rn(__fmul_rn(g, sigmoid(g)), ld(up, udt, i)));
    }
}

// swiglu_backward adds to dgate and dup (n), with s = sigmoid(gate):
//
//	dgate += dout·up·(s + g·s·(1−s)),  dup += dout·g·s
extern "C" __global__ void swiglu_backward(void* dgate, i64 dgdt, void* dup, i64 dudt, const void* dout, i64 ddt,
                                           const void* gate, i64 gdt, const void* up, i64 udt, i64 n) {
    FOR_EACH(i, n) {
        float g = ld(gate, gdt, i), u = ld(up, udt, i), d = ld(dout, ddt, i);
        float s = sigmoid(g);
        float ds = __fadd_rn(s, __fmul_rn(__fmul_rn(g, s), 1.0f - s));
        st(dgate, dgdt, i, __fadd_rn(ld(dgate, dgdt, i), __fmul_rn(__fmul_rn(d, u), ds)));
        st(dup, dudt, i, __fadd_rn(ld(dup, dudt, i), __fmul_rn(__fmul_rn(d, g), s)));
    }
}

// dropout: out (n) = x·scale where the uniform draw for (seed, stream, i) is ≥ p, else 0; with
// accumulate, out += that instead (DropoutBackward: out is dx, x is dout). scale is 1/(1−p) rounded
// to float, exactly 1 when p == 0, so p == 0 copies x.
extern "C" __global__ void dropout(void* out, i64 odt, const void* x, i64 xdt, double p, double scale,
                                   i64 seed, i64 stream, i64 n, i64 accumulate) {
    float sc = (float)scale;
    FOR_EACH(i, n) {
        float y = 0.0f;
        if (p == 0.0 || philoxUniform((unsigned long long)seed, (unsigned long long)stream, (unsigned long long)i) >= p) {
            y = __fmul_rn(ld(x, xdt, i), sc);
        }
        if (accumulate) y = __fadd_rn(ld(out, odt, i), y);
        st(out, odt, i, y);
    }
}
