package cuda

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// TestCublasCandidates_Order ensures the override comes first, then the loader's own search, then
// CUDA_HOME, /usr/local/cuda and the Python environments' wheels, newest cuBLAS first in each.
func TestCublasCandidates_Order(t *testing.T) {
	env := map[string]string{"QLORA_CUBLAS": "/x/libcublas.so", "CUDA_HOME": "/cuda", "VIRTUAL_ENV": "/venv"}
	globbed := map[string][]string{
		"/venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.12":      {"/venv/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12"},
		"/opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libcublas.so.13": {"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13"},
	}
	got := cublasCandidates(func(k string) string { return env[k] }, func(p string) ([]string, error) { return globbed[p], nil })
	want := []string{"/x/libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
		"/cuda/lib64/libcublas.so.13", "/cuda/lib64/libcublas.so.12", "/cuda/lib64/libcublas.so.11",
		"/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12", "/usr/local/cuda/lib64/libcublas.so.11"}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("first candidates %q, want %q", got[:len(want)], want)
	}
	rest := got[len(want):]
	venv := slices.Index(rest, "/venv/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12")
	torch := slices.Index(rest, "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13")
	if venv < 0 || torch < 0 || venv > torch || len(rest) != 2 {
		t.Errorf("wheel candidates %q: want the virtualenv's, then /opt's", rest)
	}
	for _, c := range got {
		if !strings.Contains(filepath.Base(c), "libcublas.so") {
			t.Errorf("candidate %q is not a cuBLAS", c)
		}
	}
}

// TestOutOfMemoryError_SaysWhatToChange ensures the message gives the sizes, the plan's figures
// when there is a plan, flags a plan the backend exceeded, and says what to change.
func TestOutOfMemoryError_SaysWhatToChange(t *testing.T) {
	p := &plan.Plan{Backend: plan.CUDA, TotalBytes: 50 << 30, Components: []plan.Component{
		{Name: "base in NF4 (4-bit codes)", Bytes: 30 << 30, Exact: true},
		{Name: "activations and backward buffers", Bytes: 10 << 30},
		{Name: "CUDA context", Bytes: 600 << 20},
	}}
	e := &OutOfMemoryError{Op: "New", Requested: 2 << 30, Arena: arenaStats{Size: 41 << 30, InUse: 40 << 30, Allocations: 7, LargestFree: 1 << 30}, Total: 48 << 30, Plan: p}
	msg := e.Error()
	for _, want := range []string{"out of GPU memory: New needs 2.00 GiB", "the arena of 41.00 GiB holds 40.00 GiB", "base in NF4 (4-bit codes) 30.00 GiB",
		"the planner is wrong", "micro_batch_size", "gradient_checkpointing", "qlora plan"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	e = &OutOfMemoryError{Op: "reserving GPU memory", Requested: 60 << 30, Free: 47 << 30, Total: 48 << 30, Plan: p}
	if msg := e.Error(); !strings.Contains(msg, "the GPU has 47.00 GiB free of 48.00 GiB") || strings.Contains(msg, "planner is wrong") {
		t.Errorf("reservation message:\n%s", msg)
	}
	if got, want := tensorBytes(p), int64(40<<30); got != want {
		t.Errorf("tensorBytes = %d, want %d (every component but the context and the slack)", got, want)
	}
}
