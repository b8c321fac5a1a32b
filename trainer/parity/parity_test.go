package parity_test

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/parity"
)

// TestCheck_CPUPasses ensures the float64 CPU backend passes against the float32 one, with every
// adapter tensor far inside the tolerance.
func TestCheck_CPUPasses(t *testing.T) {
	r, err := parity.Check(cpu.New[float64]())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	if !(r.Worst < 1e-4) || r.WorstAt == "" || r.Loss == 0 || r.GradNorm == 0 {
		t.Errorf("float64 against float32: %+v", r)
	}
}

// broken is the float32 CPU backend with one mistake, the kind a GPU kernel or driver makes.
type broken struct {
	backend.Backend
	mistake string
}

func (b broken) Attention(out, lse, q, k, v backend.Tensor, segments []int32, bs, t, heads, kvHeads, headDim, window int) {
	if b.mistake == "attention-ignores-segments" {
		segments = nil
	}
	b.Backend.Attention(out, lse, q, k, v, segments, bs, t, heads, kvHeads, headDim, window)
}

func (b broken) RoPEBackward(dx backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	if b.mistake == "rope-backward-turns-forward" {
		b.Backend.RoPE(dx, positions, invFreq, n, heads, headDim)
		return
	}
	b.Backend.RoPEBackward(dx, positions, invFreq, n, heads, headDim)
}

func (b broken) AdamWStep(params, grads, m, v backend.Tensor, h backend.AdamW) {
	if b.mistake == "adamw-no-weight-decay" {
		h.WeightDecay = 0
	}
	b.Backend.AdamWStep(params, grads, m, v, h)
}

func (b broken) SwiGLU(out, gate, up backend.Tensor, n int) {
	if b.mistake == "swiglu-panics" {
		panic("launch failed: an illegal memory access was encountered")
	}
	b.Backend.SwiGLU(out, gate, up, n)
}

// TestCheck_CatchesMistakes ensures a backend that computes a slightly different step fails the
// check, with an error that says which figure is off.
func TestCheck_CatchesMistakes(t *testing.T) {
	for mistake, want := range map[string]string{
		"attention-ignores-segments":  "dA",
		"rope-backward-turns-forward": "dA",
		"adamw-no-weight-decay":       "update of",
		"swiglu-panics":               "illegal memory access",
	} {
		t.Run(mistake, func(t *testing.T) {
			r, err := parity.Check(broken{cpu.New[float32](), mistake})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v (%v), want an error about %q", err, r, want)
			}
			t.Log(err)
		})
	}
}
