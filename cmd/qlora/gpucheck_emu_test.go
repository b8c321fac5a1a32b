//go:build cudaemu

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGPUCheck_CUDAEmu ensures, on the emulated GPU (scripts/cuda-emu-test.sh runs it), that `qlora
// gpu --check` passes with its figures, that a GPU run prints the check's verdict before it
// starts, and that a run whose check cannot pass stops, saying how to go on.
func TestGPUCheck_CUDAEmu(t *testing.T) {
	stdout, stderr, code := qlora(t, "gpu", "--check", "--json")
	var rep struct { // what the app reads (app.Engine.CheckGPU), and two figures
		Passed  bool    `json:"passed"`
		Seconds float64 `json:"seconds"`
		Figures string  `json:"figures"`
		Worst   float64 `json:"worst_gradient_error"`
		Loss    float64 `json:"loss"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 || !rep.Passed || rep.Seconds <= 0 ||
		!strings.Contains(rep.Figures, "gradient norm") || !(rep.Worst > 0 && rep.Worst < 0.05) || rep.Loss == 0 {
		t.Fatalf("gpu --check --json: exit %d, %+v (%v)\nstdout: %s\nstderr: %s", code, rep, err, stdout, stderr)
	}

	bench := []string{"bench", "--backend", "cuda", "--shape", "cpu-small", "--seq", "16", "--steps", "1"}
	_, stderr, code = qlora(t, bench...)
	if code != 0 || !strings.Contains(stderr, "qlora-cuda: GPU parity check passed in") {
		t.Fatalf("bench: exit %d, stderr: %s", code, stderr)
	}

	cmd := exec.Command(qloraBin, bench...)
	cmd.Env = append(os.Environ(), "QLORA_CUDA_NF4_GEMM=sometimes") // the check's backend cannot open
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "QLORA_CUDA_NF4_GEMM") || !strings.Contains(string(out), skipGPUCheck+"=1") {
		t.Errorf("bench with a check that fails: %v\n%s", err, out)
	}
}
