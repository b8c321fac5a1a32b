//go:build cudaemu

// Package emu runs the CUDA backend's kernels (cuda/kernels/*.cu) on the CPU, compiled as C++, with
// a column-major cublasGemmEx beside them: the GPU-less stand-in behind `go test -tags cudaemu
// ./cuda`, so that the kernels and the Go code around them meet the conformance suite on a machine
// without a GPU.
//
// Each block's threads run one at a time as fibers switched at __syncthreads and at the warp
// shuffles, which therefore keep CUDA's rule that every thread reaches them (a violation is an
// error, not a hang). Loads and stores through the kernels' ld/st are checked against the live
// allocations. Each warp runs its whole interval between two __syncthreads before the next warp
// starts (its lanes in step from shuffle to shuffle), warps and lanes first to last, or last to
// first with QLORA_EMU_SCHEDULE=reverse: a missing barrier (a thread reading what another writes,
// or two writing, in one interval) that can change a result changes it in one of the two orders,
// so the tests run both. What it cannot show: races that no such order exposes, the GPU's own
// rounding of expf and friends, launch limits beyond the ones checked here, and speed.
//
// Device memory is host memory: a device pointer is the address of a C allocation.
package emu

/*
#cgo CXXFLAGS: -std=c++17 -O2 -Wno-unused-function
#include <stdlib.h>
#include "api.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// KernelsSHA is the hash of cuda/kernels' sources this build was told it compiled
// (scripts/cuda-emu-test.sh passes it), or "" when it was not told.
func KernelsSHA() string { return C.GoString(C.emu_kernels_sha()) }

// Params returns the number of parameters of a kernel, and whether it exists.
func Params(name string) (int, bool) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	n := int(C.emu_kernel_params(cname))
	return n, n >= 0
}

// Launch runs a kernel over the grid, each parameter given as its 8 bytes.
func Launch(name string, grid, block [3]uint32, sharedBytes uint32, args []uint64) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errBuf [512]C.char
	var argp *C.uint64_t
	if len(args) > 0 {
		argp = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	rc := C.emu_launch(cname, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]), C.uint(block[0]), C.uint(block[1]),
		C.uint(block[2]), C.uint(sharedBytes), argp, C.int(len(args)), &errBuf[0], C.int(len(errBuf)))
	if rc != 0 {
		return fmt.Errorf("emulator: %s", C.GoString(&errBuf[0]))
	}
	return nil
}

// Malloc returns n bytes of zeroed host memory standing in for device memory, or 0.
func Malloc(n int64) uintptr { return uintptr(C.emu_malloc(C.size_t(n))) }

// Free releases memory from Malloc.
func Free(p uintptr) { C.emu_free(C.uintptr_t(p)) }

// Track records [p, p+n) as one allocation the kernels may read and write.
func Track(p uintptr, n int64) { C.emu_track(C.uintptr_t(p), C.size_t(n)) }

// Untrack forgets the allocation starting at p.
func Untrack(p uintptr) { C.emu_untrack(C.uintptr_t(p)) }

// CopyIn copies src to device address dst.
func CopyIn(dst uintptr, src []byte) {
	if len(src) > 0 {
		C.emu_copy_in(C.uintptr_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src)))
	}
}

// CopyOut copies len(dst) bytes from device address src.
func CopyOut(dst []byte, src uintptr) {
	if len(dst) > 0 {
		C.emu_copy_out(unsafe.Pointer(&dst[0]), C.uintptr_t(src), C.size_t(len(dst)))
	}
}

// Copy copies n bytes between device addresses.
func Copy(dst, src uintptr, n int64) { C.emu_copy(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(n)) }

// Zero clears n bytes at dst.
func Zero(dst uintptr, n int64) { C.emu_zero(C.uintptr_t(dst), C.size_t(n)) }

// GemmEx is cublasGemmEx with CUBLAS_COMPUTE_32F (column-major; types 0 float, 14 bf16); it
// returns cuBLAS's status code.
func GemmEx(transA, transB, m, n, k int, alpha float32, a uintptr, aType, lda int, b uintptr, bType, ldb int,
	beta float32, c uintptr, cType, ldc int) int {
	return int(C.emu_gemm_ex(C.int(transA), C.int(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.uintptr_t(a), C.int(aType), C.int(lda), C.uintptr_t(b), C.int(bType), C.int(ldb), C.float(beta),
		C.uintptr_t(c), C.int(cType), C.int(ldc)))
}
