package gpuinfo

import (
	"errors"
	"strings"
	"testing"
)

// TestQuery_ClearWithoutGPU ensures Query either describes real GPUs or, on a machine without a
// driver (CI, this project's build machines), fails with ErrNoDriver and a sentence that says why,
// without crashing: go-nvml loads libnvidia-ml.so.1 only when asked.
func TestQuery_ClearWithoutGPU(t *testing.T) {
	r, err := Query()
	if err != nil {
		if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "NVIDIA") {
			t.Fatalf("Query: %v, want ErrNoDriver with a reason", err)
		}
		if ok, perr := Present(); ok || perr == nil {
			t.Errorf("Present() = %v, %v after Query failed", ok, perr)
		}
		t.Logf("no GPU here: %v", err)
		return
	}
	for _, d := range r.Devices {
		if d.Name == "" || d.MemoryTotal <= 0 {
			t.Errorf("GPU %d: %+v", d.Index, d)
		}
	}
	t.Logf("driver %s, CUDA %s, %d GPUs", r.Driver, r.CUDA, len(r.Devices))
}
