//go:build cuda || cudaemu

package cuda_test

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
)

// TestProfile_TimesEveryLaunch ensures a profiled training step computes the same bits as a plain
// one, and that the profile names the step's kernels and GEMMs, each with its calls and a time,
// the longest first; a profile once stopped records nothing more.
func TestProfile_TimesEveryLaunch(t *testing.T) {
	dir := tinyModel(t)
	be := cuda.New().(*cuda.Backend)
	plain := tinyStep(t, be, dir, nil)
	be.StartProfile()
	profiled := tinyStep(t, be, dir, nil)
	kernels := be.StopProfile()
	if profiled.Loss != plain.Loss || profiled.GradNorm != plain.GradNorm {
		t.Errorf("profiled step: loss %v, norm %v; plain %v, %v", profiled.Loss, profiled.GradNorm, plain.Loss, plain.GradNorm)
	}
	seen := map[string]bool{}
	total := 0.0
	for i, k := range kernels {
		name, _, _ := strings.Cut(k.Name, " ")
		seen[name] = true
		total += k.Seconds
		if k.Calls < 1 || k.Seconds < 0 {
			t.Errorf("%s: %d calls, %v s", k.Name, k.Calls, k.Seconds)
		}
		if i > 0 && k.Seconds > kernels[i-1].Seconds {
			t.Errorf("%s (%v s) after %s (%v s): not the longest first", k.Name, k.Seconds, kernels[i-1].Name, kernels[i-1].Seconds)
		}
	}
	for _, want := range []string{"nf4_dequantize", "flash_forward", "flash_backward_dq", "cross_entropy_forward", "adamw", "gemm"} {
		if !seen[want] {
			t.Errorf("the profile has no %s: %v", want, kernels)
		}
	}
	if total <= 0 {
		t.Errorf("the profile's kernels took %v s in all", total)
	}
	tinyStep(t, be, dir, nil)
	if again := be.StopProfile(); len(again) != 0 {
		t.Errorf("a stopped profile recorded %d kernels more", len(again))
	}
}
