//go:build cuda && !cudaemu

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#define CUBLASAPI
#include <cublas_api.h>

// The cuBLAS functions we call, typed from the header without referring to them, so that nothing
// links libcublas: qlora_cublas_open fills them from dlsym.
static struct {
	void *lib;
	cublasHandle_t handle;
	__typeof__(&cublasCreate_v2) create;
	__typeof__(&cublasSetStream_v2) setStream;
	__typeof__(&cublasSetWorkspace_v2) setWorkspace;
	__typeof__(&cublasGetVersion_v2) getVersion;
	__typeof__(&cublasGemmEx) gemmEx;
} qlora_cublas;

// qlora_preload makes a library's symbols available to the ones opened after it (cuBLAS's own
// libcublasLt, beside it in a wheel whose folder is not on the loader's path).
static void qlora_preload(const char *path) { dlopen(path, RTLD_NOW | RTLD_GLOBAL); }

// qlora_cublas_open loads path and its symbols, creates a handle on the current context and sets
// its stream; it returns NULL, or what failed (a static string, or dlerror's).
static const char *qlora_cublas_open(const char *path, void *stream, int *version) {
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) return dlerror();
#define SYM(field, name) if (!(qlora_cublas.field = (__typeof__(qlora_cublas.field))dlsym(lib, name))) { dlclose(lib); return "missing " name; }
	SYM(create, "cublasCreate_v2")
	SYM(setStream, "cublasSetStream_v2")
	SYM(setWorkspace, "cublasSetWorkspace_v2")
	SYM(getVersion, "cublasGetVersion_v2")
	SYM(gemmEx, "cublasGemmEx")
#undef SYM
	if (qlora_cublas.create(&qlora_cublas.handle) != CUBLAS_STATUS_SUCCESS) { dlclose(lib); return "cublasCreate failed"; }
	if (qlora_cublas.setStream(qlora_cublas.handle, (cudaStream_t)stream) != CUBLAS_STATUS_SUCCESS) return "cublasSetStream failed";
	qlora_cublas.getVersion(qlora_cublas.handle, version);
	qlora_cublas.lib = lib;
	return NULL;
}

static int qlora_cublas_workspace(uintptr_t p, size_t bytes) {
	return qlora_cublas.setWorkspace(qlora_cublas.handle, (void *)p, bytes);
}

// qlora_cublas_gemm is cublasGemmEx with fp32 accumulation and the default algorithm; alpha and
// beta are host floats, read before it returns.
static int qlora_cublas_gemm(int ta, int tb, int m, int n, int k, float alpha, uintptr_t a, int at, int lda,
                             uintptr_t b, int bt, int ldb, float beta, uintptr_t c, int ct, int ldc) {
	return qlora_cublas.gemmEx(qlora_cublas.handle, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
		m, n, k, &alpha, (const void *)a, (cudaDataType)at, lda, (const void *)b, (cudaDataType)bt, ldb, &beta,
		(void *)c, (cudaDataType)ct, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// cublas is the process's cuBLAS handle, bound to the device's stream.
type cublas struct {
	desc string // which library loaded, and its version
}

// openCublas loads the first cuBLAS of cublasCandidates that works, on the current context.
func openCublas(stream unsafe.Pointer) (*cublas, error) {
	var tried []string
	for _, path := range cublasCandidates(os.Getenv, filepath.Glob) {
		if strings.Contains(path, "/") { // its libcublasLt first, from the same folder
			lt := filepath.Join(filepath.Dir(path), strings.Replace(filepath.Base(path), "libcublas.", "libcublasLt.", 1))
			if _, err := os.Stat(lt); err == nil {
				clt := C.CString(lt)
				C.qlora_preload(clt)
				C.free(unsafe.Pointer(clt))
			}
		}
		cpath := C.CString(path)
		var version C.int
		msg := C.qlora_cublas_open(cpath, stream, &version)
		C.free(unsafe.Pointer(cpath))
		if msg == nil {
			v := int(version)
			return &cublas{desc: fmt.Sprintf("cuBLAS %d.%d.%d (%s)", v/10000, v/100%100, v%100, path)}, nil
		}
		tried = append(tried, path+": "+C.GoString(msg))
	}
	return nil, fmt.Errorf("cuda: no cuBLAS loads: %s\n  tried:\n  %s", cublasHelp, strings.Join(tried, "\n  "))
}

func (b *cublas) setWorkspace(p devicePtr, bytes int64) int {
	return int(C.qlora_cublas_workspace(C.uintptr_t(p), C.size_t(bytes)))
}

func (b *cublas) gemmEx(g *gemmCall) int {
	return int(C.qlora_cublas_gemm(cbool(g.transA), cbool(g.transB), C.int(g.m), C.int(g.n), C.int(g.k), C.float(g.alpha),
		C.uintptr_t(g.a), C.int(g.aType), C.int(g.lda), C.uintptr_t(g.b), C.int(g.bType), C.int(g.ldb), C.float(g.beta),
		C.uintptr_t(g.c), C.int(g.cType), C.int(g.ldc)))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
