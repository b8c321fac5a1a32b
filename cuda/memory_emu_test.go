//go:build cudaemu && !cuda

package cuda

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// smallDevice is an emulated device of its own (not the process's), with a fixed arena.
func smallDevice(t *testing.T, arena int64) *Backend {
	t.Helper()
	d, err := openDevice(Options{ArenaBytes: arena})
	if err != nil {
		t.Fatal(err)
	}
	return &Backend{dev: d}
}

// TestOutOfMemory_LoadErrsNewPanics ensures that a weight too large for the arena is an error
// naming it (so a run fails cleanly), that New panics with *OutOfMemoryError, and that memory of
// tensors nothing refers to is collected before giving up.
func TestOutOfMemory_LoadErrsNewPanics(t *testing.T) {
	b := smallDevice(t, 64<<20)
	big := safetensors.Tensor{Info: safetensors.Info{Name: "model.embed_tokens.weight", DType: safetensors.BF16, Shape: []int{40 << 20}},
		Data: make([]byte, 80<<20)}
	_, err := b.Load(big)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || !strings.Contains(err.Error(), "model.embed_tokens.weight") || !strings.Contains(err.Error(), "micro_batch_size") {
		t.Fatalf("Load of 80 MiB into 64 MiB: %v", err)
	}
	keep := b.New(15 << 20) // 30 MiB
	func() {
		defer func() {
			r := recover()
			e, ok := r.(error)
			if !ok || !errors.As(e, &oom) {
				t.Fatalf("New past the arena: panic %v, want *OutOfMemoryError", r)
			}
		}()
		b.New(15 << 20)
	}()
	runtime.KeepAlive(keep) // held until here: the second New had no room
	if x := b.New(15 << 20); x.Len() != 15<<20 {
		t.Fatal("New after the first tensor became garbage")
	}
}

// TestReservePlan_TooLarge ensures a plan larger than the GPU fails at once with its figures, and
// that ReservePlan after the first tensor is refused.
func TestReservePlan_TooLarge(t *testing.T) {
	b := smallDevice(t, 0)
	p := plan.Plan{Backend: plan.CUDA, TotalBytes: 9 << 30, Components: []plan.Component{
		{Name: "base in NF4 (4-bit codes)", Bytes: 8 << 30, Exact: true}, {Name: "CUDA context", Bytes: 600 << 20}}}
	err := b.ReservePlan(p)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || !strings.Contains(err.Error(), "base in NF4 (4-bit codes) 8.00 GiB") {
		t.Fatalf("ReservePlan of 8 GiB on a 4 GiB GPU: %v", err)
	}
	b = smallDevice(t, 0)
	b.New(10)
	if err := b.ReservePlan(plan.Plan{}); err == nil {
		t.Error("ReservePlan after a tensor: no error")
	}
}
