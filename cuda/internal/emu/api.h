//go:build cudaemu

// The emulator's C interface, for cgo (emu.go).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

const char* emu_kernels_sha(void);
int emu_kernel_params(const char* name);
int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned smem, const uint64_t* args, int nargs, char* err, int errlen);
uintptr_t emu_malloc(size_t n);
void emu_free(uintptr_t p);
void emu_copy_in(uintptr_t dst, const void* src, size_t n);
void emu_copy_out(void* dst, uintptr_t src, size_t n);
void emu_copy(uintptr_t dst, uintptr_t src, size_t n);
void emu_zero(uintptr_t dst, size_t n);
void emu_track(uintptr_t p, size_t bytes);
void emu_untrack(uintptr_t p);
int emu_gemm_ex(int transa, int transb, int m, int n, int k, float alpha, uintptr_t A, int atype, int lda,
                uintptr_t B, int btype, int ldb, float beta, uintptr_t C, int ctype, int ldc);

#ifdef __cplusplus
}
#endif
