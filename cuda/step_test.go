//go:build cuda || cudaemu

package cuda_test

import (
	"slices"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/parity"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// tinyModel writes parity's tiny model (a GQA model with an NF4 base) into a temporary folder.
func tinyModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := parity.WriteModel(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyStep runs parity's training step on be: LoRA r 8 with dropout on all seven projections,
// gradient checkpointing, a packed batch, clipping and AdamW, the optimizer from from's gradients
// when from is set.
func tinyStep(t *testing.T, be backend.Backend, dir string, from *parity.Step) *parity.Step {
	t.Helper()
	s, err := parity.TrainStep(be, dir, from)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkStep compares a step on the GPU with the CPU's, within parity's tolerances.
func checkStep(t *testing.T, got, ref *parity.Step) {
	t.Helper()
	r, err := parity.Compare(got, ref)
	t.Logf("cuda against cpu: %v", r)
	if err != nil {
		t.Error(err)
	}
}

// TestStep_MatchesCPU ensures one training step of a tiny model gives, on the GPU, the loss, the
// gradient norm, every adapter gradient and every updated adapter of the float32 CPU backend,
// within what bf16 activations allow, and that it gives the same bits twice.
func TestStep_MatchesCPU(t *testing.T) {
	dir := tinyModel(t)
	ref := tinyStep(t, cpu.New[float32](), dir, nil)
	got := tinyStep(t, cuda.New(), dir, ref)
	checkStep(t, got, ref)

	again := tinyStep(t, cuda.New(), dir, ref)
	if again.Loss != got.Loss || again.GradNorm != got.GradNorm {
		t.Errorf("a second run gave loss %v, norm %v; the first %v, %v: not deterministic", again.Loss, again.GradNorm, got.Loss, got.GradNorm)
	}
	for i := range got.Grads.Modules {
		if !slices.Equal(again.Grads.Modules[i].A, got.Grads.Modules[i].A) || !slices.Equal(again.Grads.Modules[i].B, got.Grads.Modules[i].B) {
			t.Errorf("module %d: a second run gave other gradients: not deterministic", i)
			break
		}
	}
}

// TestStep_FusedNF4MatchesCPU ensures the step with NF4 fused into the GEMM
// (QLORA_CUDA_NF4_GEMM=fused) matches the CPU as the default path does, and that it never writes a
// bf16 weight: every base projection goes through nf4_gemm, and nf4_dequantize never runs.
func TestStep_FusedNF4MatchesCPU(t *testing.T) {
	dir := tinyModel(t)
	ref := tinyStep(t, cpu.New[float32](), dir, nil)
	t.Setenv("QLORA_CUDA_NF4_GEMM", "fused")
	be := cuda.New().(*cuda.Backend)
	calls := map[string]int{}
	be.StartProfile()
	got := tinyStep(t, be, dir, ref)
	for _, k := range be.StopProfile() {
		calls[k.Name] = k.Calls
	}
	// 7 projections × 2 layers, three times each: forward, recomputation, backward.
	if calls["nf4_gemm"] != 42 || calls["nf4_dequantize"] != 0 {
		t.Errorf("nf4_gemm ran %d times and nf4_dequantize %d, want 42 and 0", calls["nf4_gemm"], calls["nf4_dequantize"])
	}
	checkStep(t, got, ref)
}

// TestStep_CastsAdaptersOncePerLayer ensures the fp32 adapters reach the bf16 products with one
// cast a layer and pass (model.layer.loadAdapters), not one per product: in a checkpointed step of
// two layers, three passes (forward, recomputation, backward) make 6 casts, where casting each
// product's operand made 84.
func TestStep_CastsAdaptersOncePerLayer(t *testing.T) {
	dir := tinyModel(t)
	be := cuda.New().(*cuda.Backend)
	be.StartProfile()
	tinyStep(t, be, dir, nil)
	calls := map[string]int{}
	for _, k := range be.StopProfile() {
		calls[k.Name] = k.Calls
	}
	if calls["cast"] != 6 {
		t.Errorf("a step made %d casts, want 6: 2 layers × 3 passes", calls["cast"])
	}
}

// TestPlan_MatchesAllocations ensures that what the CUDA backend allocates for the base, the
// adapters, their gradients, the optimizer states and the activations is, to the byte, what the
// planner says for Backend "cuda".
func TestPlan_MatchesAllocations(t *testing.T) {
	dir := tinyModel(t)
	for _, c := range []struct {
		optim         string
		checkpointing bool
	}{{optim.AdamW32bit, false}, {optim.AdamW8bit, true}} {
		be := cuda.New().(*cuda.Backend)
		req := plan.Request{Backend: plan.CUDA, MicroBatchSize: 2, SeqLen: 24, LoRARank: 16,
			LoRATargets: []string{"q_proj", "v_proj", "down_proj"}, LoRADropout: true, Quantized: true, Blocksize: 64,
			DoubleQuant: true, Optim: c.optim, Checkpointing: c.checkpointing}
		ac := lora.DefaultConfig()
		ac.R, ac.LoraAlpha, ac.LoraDropout, ac.TargetModules = req.LoRARank, 32, 0.1, lora.Strings{List: req.LoRATargets}
		m, err := model.Load(be, dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: ac, GradientCheckpointing: c.checkpointing})
		if err != nil {
			t.Fatal(err)
		}
		req.Model = m.Config
		p, err := plan.Make(req)
		if err != nil {
			t.Fatal(err)
		}
		component := func(names ...string) int64 {
			var n int64
			for _, name := range names {
				found := false
				for _, pc := range p.Components {
					if pc.Name == name {
						n, found = n+pc.Bytes, true
					}
				}
				if !found {
					t.Fatalf("the plan has no component %q", name)
				}
			}
			return n
		}
		if got, want := be.AllocatedBytes(), component("base in NF4 (4-bit codes)", "NF4 quantization constants",
			"frozen embeddings, norms, lm_head, biases", "LoRA adapters (fp32)", "adapter gradients (fp32)"); got != want {
			t.Errorf("%s: the model allocates %d bytes, the plan says %d", c.optim, got, want)
		}
		before := be.AllocatedBytes()
		var segments []optim.Segment
		for _, pt := range m.ParamTensors() {
			segments = append(segments, optim.Segment{Name: pt.Name, Offset: pt.Offset, Len: pt.Len})
		}
		if _, err := optim.New(c.optim, be, m.Params(), m.Grads(), segments, optim.DefaultHyper()); err != nil {
			t.Fatal(err)
		}
		if got, want := be.AllocatedBytes()-before, component("optimizer states ("+c.optim+")"); got != want {
			t.Errorf("%s: the optimizer allocates %d bytes, the plan says %d", c.optim, got, want)
		}
		before = be.AllocatedBytes()
		b := model.Sequence(make([]int32, req.MicroBatchSize*req.SeqLen))
		b.B, b.T = req.MicroBatchSize, req.SeqLen
		if _, _, err := m.Forward(b, true, 0); err != nil {
			t.Fatal(err)
		}
		if got, want := be.AllocatedBytes()-before, component("activations and backward buffers", "logits and their gradient"); got != want {
			t.Errorf("%s: a step allocates %d bytes of activations, the plan says %d", c.optim, got, want)
		}
	}
}
