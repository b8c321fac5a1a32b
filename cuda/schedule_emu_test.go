//go:build cudaemu && !cuda

package cuda_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/backendtest"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// TestReversedSchedule_Conformance runs the conformance suite (bf16, fused NF4, fp32) and the
// training step with each block's threads taken last to first between barriers. The emulator runs
// one thread at a time from one barrier to the next, so a missing __syncthreads or __syncwarp (a
// thread reading what another writes, or two writing, in one interval) that can change a result
// does so in one of the two orders; the other tests run them first to last.
func TestReversedSchedule_Conformance(t *testing.T) {
	t.Setenv("QLORA_EMU_SCHEDULE", "reverse")
	t.Run("BF16", func(t *testing.T) { backendtest.Run(t, cuda.New, 2e-2) })
	t.Run("BF16FusedNF4", func(t *testing.T) {
		t.Setenv("QLORA_CUDA_NF4_GEMM", "fused")
		backendtest.Run(t, cuda.New, 2e-2)
	})
	t.Run("FP32", func(t *testing.T) {
		backendtest.Run(t, func() backend.Backend { return fp32Only{cuda.New().(*cuda.Backend)} }, 2e-5)
	})
	t.Run("Step", func(t *testing.T) {
		dir := tinyModel(t)
		ref := tinyStep(t, cpu.New[float32](), dir, nil)
		checkStep(t, tinyStep(t, cuda.New(), dir, ref), ref)
	})
}

// TestReversedSchedule_UnknownRefused ensures a mistyped schedule is an error, not the default.
func TestReversedSchedule_UnknownRefused(t *testing.T) {
	t.Setenv("QLORA_EMU_SCHEDULE", "backwards")
	be := cuda.New()
	defer func() {
		if r := recover(); !strings.Contains(fmt.Sprint(r), "QLORA_EMU_SCHEDULE=backwards") {
			t.Errorf("a launch with QLORA_EMU_SCHEDULE=backwards: %v", r)
		}
	}()
	x := be.New(4)
	be.Scale(x, 2)
	be.Download(make([]float64, 4), x)
}
