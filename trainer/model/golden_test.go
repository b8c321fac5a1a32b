package model

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// The goldens come from an independent PyTorch implementation (scripts/golden_model.py); see
// testdata/golden/README.md for what each file holds.
const goldenDir = "../../testdata/golden"

var goldenVariants = []string{"llama", "llama3_tied", "qwen2_bias", "mistral_headdim"}

// goldenBatch reads inputs.safetensors: labels are in the HF convention (unshifted), so the target of
// position t is the label of t+1 in the same row.
func goldenBatch(t *testing.T, dir string) *Batch {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "inputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ints := func(name string) ([]int32, []int) {
		tt, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tt.Int32View()
		if err != nil {
			t.Fatal(err)
		}
		return append([]int32(nil), v...), tt.Shape
	}
	ids, shape := ints("input_ids")
	labels, _ := ints("labels")
	positions, _ := ints("position_ids")
	segments, _ := ints("segment_ids")
	b := &Batch{B: shape[0], T: shape[1], IDs: ids, Positions: positions, Segments: segments, Targets: make([]int32, len(ids))}
	for i := range b.Targets {
		b.Targets[i] = -100
		if (i+1)%b.T != 0 {
			b.Targets[i] = labels[i+1]
		}
	}
	return b
}

// goldenTensor reads one float tensor of a golden file.
func goldenTensor(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	tt, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relErr is ‖got − want‖ / ‖want‖.
func relErr[G float32 | float64](got []G, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

// TestModel_MatchesPyTorch ensures logits, loss, every LoRA gradient and the gradient with respect
// to the input embeddings equal the PyTorch reference within 1e-4 (relative, per tensor) in float32,
// for every variant, with the NF4 base and with the full base.
func TestModel_MatchesPyTorch(t *testing.T) {
	for _, variant := range goldenVariants {
		for _, base := range []BasePrecision{BaseFull, BaseNF4} {
			t.Run(fmt.Sprintf("%s/%s", variant, base), func(t *testing.T) {
				checkGolden(t, filepath.Join(goldenDir, variant), base)
			})
		}
	}
}

func checkGolden(t *testing.T, dir string, base BasePrecision) {
	ad, err := lora.Load(filepath.Join(dir, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(cpu.New[float32](), dir, Options{Base: base, Blocksize: 64, DoubleQuant: true, Adapter: ad.Config, Init: ad})
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

	golden, err := safetensors.Open(filepath.Join(dir, "golden_"+string(base)+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	const tol = 1e-4
	worst, worstName := 0.0, ""
	defer func() { t.Logf("worst ‖Δ‖/‖ref‖ %.1e (%s)", worst, worstName) }()
	check := func(what string, err float64) {
		if err > worst {
			worst, worstName = err, what
		}
		if err > tol || math.IsNaN(err) {
			t.Errorf("%s: ‖Δ‖/‖ref‖ = %.2e, over %g", what, err, tol)
		}
	}
	check("loss", relErr([]float64{sum / float64(n)}, goldenTensor(t, golden, "loss")))
	check("logits", relErr(m.Logits(), goldenTensor(t, golden, "logits")))
	check("grad.inputs_embeds", relErr(m.InputGrad(), goldenTensor(t, golden, "grad.inputs_embeds")))
	grads := m.AdapterGrads()
	if len(grads.Modules) != m.Config.NumLayers*NumProjections {
		t.Fatalf("%d adapted modules", len(grads.Modules))
	}
	for _, mw := range grads.Modules {
		for _, f := range []struct {
			factor lora.Factor
			got    []float32
		}{{lora.FactorA, mw.A}, {lora.FactorB, mw.B}} {
			name := "grad." + lora.TensorName(mw.Layer, mw.Module, f.factor)
			check(name, relErr(f.got, goldenTensor(t, golden, name)))
		}
	}
}

// TestNF4_DequantizeMatchesPyTorch ensures the NF4 round trip of a projection equals the one the
// PyTorch reference computed with the independent bitsandbytes implementation.
func TestNF4_DequantizeMatchesPyTorch(t *testing.T) {
	for _, variant := range goldenVariants {
		dir := filepath.Join(goldenDir, variant)
		ckpt, err := safetensors.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		const name = "model.layers.0.self_attn.q_proj.weight"
		w, _ := ckpt.Tensor(name)
		f, _ := w.Float32s()
		q, err := nf4.Quantize(f, w.Shape, 64, true)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(f))
		q.Dequantize(got)
		golden, _ := safetensors.Open(filepath.Join(dir, "golden_nf4.safetensors"))
		if err := relErr(got, goldenTensor(t, golden, "dequant."+name)); err > 1e-7 {
			t.Errorf("%s: dequantized q_proj differs by %.2e", variant, err)
		}
		golden.Close()
		ckpt.Close()
	}
}
