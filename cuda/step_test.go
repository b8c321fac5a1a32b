//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// stepResult is what one training step gives on a backend.
type stepResult struct {
	loss, norm float64
	grads      *lora.Adapter // before clipping
	params     *lora.Adapter // after the update
}

// tinyStep loads a small GQA model with an NF4 base (double-quantized), LoRA r 8 on all seven
// projections with dropout, and gradient checkpointing, then runs one training step on a packed
// batch: forward, backward, clipping, AdamW.
func tinyStep(t *testing.T, be backend.Backend, dir string) stepResult {
	t.Helper()
	ac := lora.DefaultConfig()
	ac.R, ac.LoraAlpha, ac.LoraDropout = 8, 16, 0.1
	ac.TargetModules = lora.Strings{List: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(be, dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: ac,
		Init: randomAdapter(cfg, ac), Seed: 7, GradientCheckpointing: true})
	if err != nil {
		t.Fatal(err)
	}
	var segments []optim.Segment
	for _, p := range m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: p.Name, Offset: p.Offset, Len: p.Len})
	}
	opt, err := optim.New(optim.AdamW32bit, be, m.Params(), m.Grads(), segments, optim.Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	batch := packedBatch(cfg.VocabSize)
	sum, n, err := m.Forward(batch, true, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.ZeroGrads()
	m.Backward(1 / float64(n))
	r := stepResult{loss: sum / float64(n), grads: m.AdapterGrads()}
	r.norm = optim.ClipGradNorm(be, m.Grads(), 1)
	opt.Step(1e-3)
	r.params = m.Adapter()
	return r
}

// tinyShape has grouped-query heads of 16 (two warps' worth of lanes would be 64: this checks
// the lanes that hold no dimension too) and widths that are not multiples of the block size.
var tinyShape = tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 96, Intermediate: 200, Layers: 2, Heads: 6, KVHeads: 2}

// TestStep_MatchesCPU ensures one training step of a tiny model gives, on the GPU, the loss, the
// gradient norm, every adapter gradient and every updated adapter of the float32 CPU backend,
// within what bf16 activations allow, and that it gives the same bits twice.
func TestStep_MatchesCPU(t *testing.T) {
	dir := t.TempDir()
	if err := tinymodel.Write(dir, tinyShape, 5); err != nil {
		t.Fatal(err)
	}
	ref := tinyStep(t, cpu.New[float32](), dir)
	got := tinyStep(t, cuda.New(), dir)
	checkStep(t, got, ref)

	again := tinyStep(t, cuda.New(), dir)
	if again.loss != got.loss || again.norm != got.norm {
		t.Errorf("a second run gave loss %v, norm %v; the first %v, %v: not deterministic", again.loss, again.norm, got.loss, got.norm)
	}
	for i := range got.grads.Modules {
		if relError(again.grads.Modules[i].A, got.grads.Modules[i].A) != 0 || relError(again.grads.Modules[i].B, got.grads.Modules[i].B) != 0 {
			t.Errorf("module %d: a second run gave other gradients: not deterministic", i)
			break
		}
	}
}

// TestStep_FusedNF4MatchesCPU ensures the step with NF4 fused into the GEMM
// (QLORA_CUDA_NF4_GEMM=fused) matches the CPU as the default path does, and that it never writes a
// bf16 weight: every base projection goes through nf4_gemm, and nf4_dequantize never runs.
func TestStep_FusedNF4MatchesCPU(t *testing.T) {
	dir := t.TempDir()
	if err := tinymodel.Write(dir, tinyShape, 5); err != nil {
		t.Fatal(err)
	}
	ref := tinyStep(t, cpu.New[float32](), dir)
	t.Setenv("QLORA_CUDA_NF4_GEMM", "fused")
	be := cuda.New().(*cuda.Backend)
	var got stepResult
	calls := map[string]int{}
	be.StartProfile()
	got = tinyStep(t, be, dir)
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
	dir := t.TempDir()
	if err := tinymodel.Write(dir, tinyShape, 5); err != nil {
		t.Fatal(err)
	}
	be := cuda.New().(*cuda.Backend)
	be.StartProfile()
	tinyStep(t, be, dir)
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
	dir := t.TempDir()
	if err := tinymodel.Write(dir, tinyShape, 5); err != nil {
		t.Fatal(err)
	}
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

// checkStep compares a step on the GPU with the CPU's.
func checkStep(t *testing.T, got, ref stepResult) {
	t.Helper()
	// bf16 activations through two layers, checkpointed: each gradient is 1 to 2% from the float32
	// CPU's in the emulator (cuda/internal/emu), which rounds exactly as the GPU stores.
	const tol = 5e-2
	t.Logf("loss: cuda %.6f, cpu %.6f; gradient norm: cuda %.6f, cpu %.6f", got.loss, ref.loss, got.norm, ref.norm)
	if e := math.Abs(got.loss-ref.loss) / ref.loss; !(e <= 1e-2) {
		t.Errorf("loss %v, cpu %v (relative error %.2e)", got.loss, ref.loss, e)
	}
	if e := math.Abs(got.norm-ref.norm) / ref.norm; !(e <= tol) {
		t.Errorf("gradient norm %v, cpu %v (relative error %.2e)", got.norm, ref.norm, e)
	}
	worst := 0.0
	for i, mw := range ref.grads.Modules {
		g := got.grads.Modules[i]
		name := fmt.Sprintf("layer %d %s", mw.Layer, mw.Module)
		for _, c := range []struct {
			what     string
			got, ref []float32
		}{{"dA", g.A, mw.A}, {"dB", g.B, mw.B}, {"A after the step", got.params.Modules[i].A, ref.params.Modules[i].A},
			{"B after the step", got.params.Modules[i].B, ref.params.Modules[i].B}} {
			e := relError(c.got, c.ref)
			worst = max(worst, e)
			if !(e <= tol) {
				t.Errorf("%s %s: ‖cuda − cpu‖/‖cpu‖ = %.3g > %.3g", name, c.what, e, tol)
			}
		}
	}
	t.Logf("largest relative error of a gradient or updated adapter: %.3g", worst)
}

func relError(got, ref []float32) float64 {
	var diff, norm float64
	for i := range ref {
		d := float64(got[i]) - float64(ref[i])
		diff += d * d
		norm += float64(ref[i]) * float64(ref[i])
	}
	if math.IsNaN(diff) {
		return math.NaN()
	}
	if norm == 0 {
		return math.Sqrt(diff)
	}
	return math.Sqrt(diff / norm)
}

// randomAdapter gives every module random A and nonzero B, so that every gradient path is live
// (PEFT's initialisation zeroes B, which zeroes every dA).
func randomAdapter(cfg *model.Config, ac *lora.AdapterConfig) *lora.Adapter {
	rng := rand.New(rand.NewPCG(3, 4))
	ad := &lora.Adapter{Config: ac}
	for l := range cfg.NumLayers {
		for p, proj := range cfg.ProjectionShapes() {
			mw := lora.ModuleWeights{Layer: l, Module: lora.Modules[p], R: ac.R, Out: proj.Shape[0], In: proj.Shape[1]}
			mw.A, mw.B = make([]float32, ac.R*mw.In), make([]float32, mw.Out*ac.R)
			for i := range mw.A {
				mw.A[i] = float32(rng.NormFloat64() / math.Sqrt(float64(mw.In)))
			}
			for i := range mw.B {
				mw.B[i] = float32(rng.NormFloat64() * 0.05)
			}
			ad.Modules = append(ad.Modules, mw)
		}
	}
	return ad
}

// packedBatch is two sequences of 16 tokens; the second packs two samples whose positions
// restart, and a few targets are ignored.
func packedBatch(vocab int) *model.Batch {
	const seqs, length = 2, 16
	b := &model.Batch{B: seqs, T: length}
	rng := rand.New(rand.NewPCG(11, 12))
	for s := range seqs {
		for t := range length {
			seg, pos := int32(0), int32(t)
			if s == 1 && t >= 9 {
				seg, pos = 1, int32(t-9)
			}
			b.IDs = append(b.IDs, int32(rng.IntN(vocab)))
			b.Segments = append(b.Segments, seg)
			b.Positions = append(b.Positions, pos)
		}
	}
	for i := range b.IDs {
		b.Targets = append(b.Targets, b.IDs[(i+1)%len(b.IDs)])
	}
	for _, i := range []int{0, 1, 8, 15, 24, 31} {
		b.Targets[i] = -100
	}
	return b
}
