//go:build cuda || cudaemu

package cuda_test

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/backendtest"
)

// TestConformance_BF16 runs the conformance suite on the backend as the engine uses it: New makes
// bf16 tensors. The tolerance is bf16's: one rounding of a stored value is up to 2⁻⁹ relative.
func TestConformance_BF16(t *testing.T) { backendtest.Run(t, cuda.New, 2e-2) }

// TestConformance_BF16FusedNF4 runs it with the NF4 dequantization fused into the GEMM
// (QLORA_CUDA_NF4_GEMM=fused), which the NF4Linear group takes.
func TestConformance_BF16FusedNF4(t *testing.T) {
	t.Setenv("QLORA_CUDA_NF4_GEMM", "fused")
	backendtest.Run(t, cuda.New, 2e-2)
}

// TestConformance_FP32 runs it with every tensor the suite makes in float32, which checks each
// kernel's arithmetic against the reference far more tightly than bf16 storage allows.
func TestConformance_FP32(t *testing.T) {
	backendtest.Run(t, func() backend.Backend { return fp32Only{cuda.New().(*cuda.Backend)} }, 2e-5)
}

// fp32Only is the CUDA backend with New making float32 tensors.
type fp32Only struct{ *cuda.Backend }

func (b fp32Only) New(n int) backend.Tensor { return b.NewFP32(n) }
