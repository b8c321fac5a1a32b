package cpu_test

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/backendtest"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// TestConformance_Float32 runs the conformance suite on the float32 backend the engine trains with.
func TestConformance_Float32(t *testing.T) { backendtest.Run(t, cpu.New[float32], 1e-5) }

// TestConformance_Float64 runs it on the reference itself: the suite's own consistency (views,
// masks, panics) and identical results.
func TestConformance_Float64(t *testing.T) { backendtest.Run(t, cpu.New[float64], 1e-12) }
