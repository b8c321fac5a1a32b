//go:build cuda && !cudaemu

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

static CUresult qlora_host_alloc(void **p, size_t bytes) { return cuMemHostAlloc(p, bytes, 0); }
static CUresult qlora_max_dynamic_shared(void *fn, int bytes) {
	return cuFuncSetAttribute((CUfunction)fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// What gorgonia.org/cu lacks, bound here: page-locked host memory (cuMemHostAlloc), through which
// copies run at full speed and asynchronously, and cuFuncSetAttribute, which a kernel needs before
// it may use more than 48 KiB of dynamic shared memory.

// pinned is page-locked host memory, for the current context's lifetime.
type pinned struct {
	ptr   unsafe.Pointer
	bytes []byte // the same memory
}

func allocPinned(n int) (pinned, error) {
	var p unsafe.Pointer
	if rc := C.qlora_host_alloc(&p, C.size_t(n)); rc != C.CUDA_SUCCESS {
		return pinned{}, fmt.Errorf("cuMemHostAlloc(%d): CUDA error %d", n, int(rc))
	}
	return pinned{ptr: p, bytes: unsafe.Slice((*byte)(p), n)}, nil
}

// setMaxDynamicShared lets fn use up to bytes of dynamic shared memory (above the default 48 KiB).
// None of this kernels need it; the tiled kernels to come do.
func setMaxDynamicShared(fn cu.Function, bytes int) error {
	raw := *(*unsafe.Pointer)(unsafe.Pointer(&fn)) // cu.Function holds only its CUfunction
	if rc := C.qlora_max_dynamic_shared(raw, C.int(bytes)); rc != C.CUDA_SUCCESS {
		return fmt.Errorf("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, %d): CUDA error %d", bytes, int(rc))
	}
	return nil
}
