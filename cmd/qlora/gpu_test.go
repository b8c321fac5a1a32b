package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestGPU_Command ensures `qlora gpu` answers in every build: on a machine with an NVIDIA driver it
// lists the GPUs; without one (CI) it says so in a sentence and exits 1, as nvidia-smi does, and
// --json carries the same reason.
func TestGPU_Command(t *testing.T) {
	stdout, stderr, code := qlora(t, "gpu")
	if code == 0 {
		if !strings.Contains(stdout, "GPU 0:") || !strings.Contains(stdout, "memory") {
			t.Fatalf("qlora gpu exit 0 but no GPU listed:\n%s", stdout)
		}
		return
	}
	if code != 1 || !strings.Contains(stdout, "NVIDIA") || !strings.Contains(stdout, "CPU") || stderr != "" {
		t.Fatalf("qlora gpu without a GPU: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, _, code = qlora(t, "gpu", "--json")
	var r struct {
		Devices []any  `json:"devices"`
		Error   string `json:"error"`
		Build   string `json:"build"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 1 || r.Devices == nil || !strings.Contains(r.Error, "NVIDIA") || r.Build == "" {
		t.Fatalf("qlora gpu --json without a GPU: exit %d, %v\n%s", code, err, stdout)
	}
}
