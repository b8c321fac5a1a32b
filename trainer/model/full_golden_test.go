package model

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// The full-training goldens come from scripts/golden_full.py: the independent PyTorch model of
// scripts/golden_model.py with every weight a leaf (see testdata/golden/README.md).
var fullGoldenVariants = []string{"llama", "qwen2_tied"}

// TestModel_FullMatchesPyTorch ensures the loss, the logits and the gradient of every weight of a
// full-training model equal the PyTorch reference within 1e-4 (relative, per tensor) in float32:
// an untied GQA Llama with a packed row, and a tied Qwen2 with q/k/v biases.
func TestModel_FullMatchesPyTorch(t *testing.T) {
	for _, variant := range fullGoldenVariants {
		t.Run(variant, func(t *testing.T) {
			dir := filepath.Join(goldenDir, "full", variant)
			m, err := Load(cpu.New[float32](), dir, Options{Base: BaseFull, FullTraining: true})
			if err != nil {
				t.Fatal(err)
			}
			b := goldenBatch(t, dir)
			sum, n, err := m.Forward(b, true, 0)
			if err != nil {
				t.Fatal(err)
			}
			m.ZeroGrads()
			m.Backward(1 / float64(n))
			grads := make([]float64, m.Grads().Len())
			m.be.Download(grads, m.Grads())

			golden, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer golden.Close()
			const tol = 1e-4
			worst, worstName := 0.0, ""
			check := func(what string, err float64) {
				if err > worst {
					worst, worstName = err, what
				}
				if !(err <= tol) {
					t.Errorf("%s: ‖Δ‖/‖ref‖ = %.2e, over %g", what, err, tol)
				}
			}
			check("loss", relErr([]float64{sum / float64(n)}, goldenTensor(t, golden, "loss")))
			check("logits", relErr(m.Logits(), goldenTensor(t, golden, "logits")))
			params := m.ParamTensors()
			for _, p := range params {
				check("grad."+p.Name, relErr(grads[p.Offset:p.Offset+p.Len], goldenTensor(t, golden, "grad."+p.Name)))
			}
			if want := len(golden.Names()) - 2; len(params) != want {
				t.Errorf("%d trainable tensors, the reference has gradients for %d", len(params), want)
			}
			t.Logf("%d tensors; worst ‖Δ‖/‖ref‖ %.1e (%s)", len(params), worst, worstName)
			if math.IsNaN(worst) {
				t.Error("NaN")
			}
		})
	}
}
