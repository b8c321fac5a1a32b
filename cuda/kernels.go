package cuda

import (
	"embed"
	"fmt"
	"slices"
)

// The kernels, compiled to PTX for compute_80 by `go generate ./cuda` (nvcc from CUDA 11.8) and
// committed, so that no build needs nvcc. The driver compiles PTX for the GPU at hand when a
// module loads: sm_80 and up (A100, RTX A6000, RTX 6000 Ada, H100).
//
//go:generate sh kernels/generate.sh
//go:embed kernels/*.ptx
var ptxFiles embed.FS

// kernel is one __global__ function: its module (kernels/<module>.cu), its name, and its number
// of parameters, every one 8 bytes (kernels/common.cuh). A tensor is two parameters: its pointer
// and its dtype.
type kernel struct {
	module, name string
	params       int
}

func (k *kernel) String() string { return k.module + "." + k.name }

// modulePTX returns a module's PTX text.
func modulePTX(module string) string {
	b, err := ptxFiles.ReadFile("kernels/" + module + ".ptx")
	if err != nil {
		panic(fmt.Sprintf("cuda: no PTX for module %s: %v", module, err))
	}
	return string(b)
}

// modules lists the modules of allKernels, each once, in order.
func modules() []string {
	var out []string
	for _, k := range allKernels {
		if !slices.Contains(out, k.module) {
			out = append(out, k.module)
		}
	}
	return out
}

// Every kernel the backend launches.
var (
	kCast             = &kernel{"elementwise", "cast", 5}
	kAdd              = &kernel{"elementwise", "add", 7}
	kAddBias          = &kernel{"elementwise", "add_bias", 6}
	kScale            = &kernel{"elementwise", "scale_inplace", 4}
	kEmbedding        = &kernel{"elementwise", "embedding_forward", 7}
	kSwiGLU           = &kernel{"elementwise", "swiglu_forward", 7}
	kSwiGLUBackward   = &kernel{"elementwise", "swiglu_backward", 11}
	kDropout          = &kernel{"elementwise", "dropout", 10}
	kRMSNorm          = &kernel{"norm_rope", "rmsnorm_forward", 11}
	kRMSNormBackward  = &kernel{"norm_rope", "rmsnorm_backward", 12}
	kRoPE             = &kernel{"norm_rope", "rope", 8}
	kAttention        = &kernel{"attention", "attention_forward", 17}
	kAttentionCached  = &kernel{"attention", "attention_cached", 15}
	kAttentionDQ      = &kernel{"attention", "attention_backward_dq", 21}
	kAttentionDKDV    = &kernel{"attention", "attention_backward_dkdv", 23}
	kFlash            = &kernel{"flash", "flash_forward", 17}
	kFlashDelta       = &kernel{"flash", "flash_backward_delta", 9}
	kFlashDKDV        = &kernel{"flash", "flash_backward_dkdv", 22}
	kFlashDQ          = &kernel{"flash", "flash_backward_dq", 20}
	kCrossEntropy     = &kernel{"loss", "cross_entropy_forward", 7}
	kCrossEntropyBack = &kernel{"loss", "cross_entropy_backward", 8}
	kDequantizeNF4    = &kernel{"nf4", "nf4_dequantize", 9}
	kNF4Gemm          = &kernel{"nf4_gemm", "nf4_gemm", 15}
	kSumSquares       = &kernel{"optim", "sum_squares", 4}
	kAdamW            = &kernel{"optim", "adamw", 18}
	kAdamW8bit        = &kernel{"optim", "adamw_8bit", 20}
)

// allKernels lists them for the checks against the PTX and the emulator.
var allKernels = []*kernel{
	kCast, kAdd, kAddBias, kScale, kEmbedding, kSwiGLU, kSwiGLUBackward, kDropout,
	kRMSNorm, kRMSNormBackward, kRoPE,
	kAttention, kAttentionCached, kAttentionDQ, kAttentionDKDV,
	kFlash, kFlashDelta, kFlashDKDV, kFlashDQ,
	kCrossEntropy, kCrossEntropyBack, kDequantizeNF4, kNF4Gemm,
	kSumSquares, kAdamW, kAdamW8bit,
}

// Launch shapes shared with the kernels.
const (
	threadsPerBlock = 256 // elementwise, row and optimizer kernels
	attentionRows   = 8   // kernels/attention.cu ROWS: query (or key) rows per block, one warp each
	maxHeadDim      = 256 // kernels/attention.cu: 32 lanes × MAX_PER_LANE
	flashRows       = 64  // kernels/flash.cu BQ and BK: query rows and keys per block
	flashThreads    = 128 // kernels/flash.cu: 4 warps, 16 query rows (or keys) each
	maxFlashHeadDim = 128 // kernels/flash.cu MAX_HD
	sumChunk        = 16384
	block8bit       = 256
)
