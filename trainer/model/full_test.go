package model

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// fullShapes are the tiny architectures the full-training checks run on: every kind of weight,
// lm_head tied and untied, qwen2's biases.
var fullShapes = map[string]tinymodel.Shape{
	"llama":      {Arch: "llama", Vocab: 48, Hidden: 32, Intermediate: 40, Layers: 2, Heads: 4, KVHeads: 2},
	"llama-tied": {Arch: "llama", Vocab: 48, Hidden: 32, Intermediate: 40, Layers: 2, Heads: 4, KVHeads: 1, Tied: true},
	"qwen2-tied": {Arch: "qwen2", Vocab: 48, Hidden: 32, Intermediate: 24, Layers: 2, Heads: 4, KVHeads: 2, Tied: true},
}

// fullModel builds a tiny model in full-parameter training on be.
func fullModel(t *testing.T, be backend.Backend, s tinymodel.Shape, opt Options) *Model {
	t.Helper()
	_, cfg, ckpt := writeTiny(t, s)
	w, err := BindWeights(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Base, opt.FullTraining = BaseFull, true
	m, err := New(be, cfg, w, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fullGrads runs a training step's forward and backward on b and downloads the gradient arena.
func fullGrads(t *testing.T, m *Model, b *Batch) []float64 {
	t.Helper()
	meanLoss(t, m, b)
	m.ZeroGrads()
	m.Backward(1 / float64(b.Counted()))
	g := make([]float64, m.grads.Len())
	m.be.Download(g, m.grads)
	return g
}

// TestModel_FullGradientCheck ensures the gradient of every weight tensor of a full-training model
// (embeddings, both norms of each layer, the seven projections, qwen2's biases, the final norm,
// lm_head, or the tied embeddings with both of their gradients) equals central finite differences
// in float64, per tensor, on a packed batch with ignored targets.
func TestModel_FullGradientCheck(t *testing.T) {
	for name, s := range fullShapes {
		t.Run(name, func(t *testing.T) {
			m := fullModel(t, cpu.New[float64](), s, Options{GradientCheckpointing: name == "llama-tied"})
			b := packedBatch(m.Config.VocabSize)
			analytic := fullGrads(t, m, b)
			rng := rand.New(rand.NewPCG(3, uint64(len(name))))
			worst := 0.0
			for _, p := range m.ParamTensors() {
				picks := samplePicks(rng, p, m.Config.HiddenSize, b.IDs)
				var num, den float64
				for _, i := range picks {
					fd := fullFiniteDifference(t, m, b, i)
					num += (fd - analytic[i]) * (fd - analytic[i])
					den += analytic[i] * analytic[i]
				}
				rel := math.Sqrt(num / den)
				worst = max(worst, rel)
				if !(rel < 1e-6) {
					t.Errorf("%s: gradient differs from finite differences by %.2e (relative, %d elements)", p.Name, rel, len(picks))
				}
			}
			t.Logf("%d tensors, worst relative error %.1e", len(m.ParamTensors()), worst)
		})
	}
}

// samplePicks chooses elements of a weight to perturb: a few at random, and for the embeddings a
// whole row of a token the batch reads (its gradient comes through the input, and when tied
// through lm_head too) and of one it never reads (through lm_head only, or nowhere).
func samplePicks(rng *rand.Rand, p ParamTensor, hidden int, ids []int32) []int {
	var picks []int
	for range 6 {
		picks = append(picks, p.Offset+rng.IntN(p.Len))
	}
	if p.Name == "model.embed_tokens.weight" {
		unused := int32(0)
		for slices.Contains(ids, unused) {
			unused++
		}
		for _, row := range []int32{ids[3], unused} {
			for j := 0; j < hidden; j += 5 {
				picks = append(picks, p.Offset+int(row)*hidden+j)
			}
		}
	}
	return picks
}

// fullFiniteDifference is the central difference of the mean loss with respect to element i of
// the parameter arena.
func fullFiniteDifference(t *testing.T, m *Model, b *Batch, i int) float64 {
	t.Helper()
	one := m.be.View(m.params, i, 1)
	x := make([]float64, 1)
	m.be.Download(x, one)
	x0 := x[0]
	return finiteDifference(func(v float64) float64 {
		m.be.Upload(one, []float64{v})
		l := meanLoss(t, m, b)
		m.be.Upload(one, []float64{x0})
		return l
	}, x0)
}

// TestModel_FullCheckpointingIdentical ensures recomputing layers gives bit-identical full
// gradients.
func TestModel_FullCheckpointingIdentical(t *testing.T) {
	var grads [2][]float64
	for i, ckpt := range []bool{false, true} {
		m := fullModel(t, cpu.New[float32](), fullShapes["qwen2-tied"], Options{GradientCheckpointing: ckpt})
		grads[i] = fullGrads(t, m, packedBatch(m.Config.VocabSize))
	}
	for i := range grads[0] {
		if grads[0][i] != grads[1][i] {
			t.Fatalf("gradient %d: %g without checkpointing, %g with", i, grads[0][i], grads[1][i])
		}
	}
}

// TestModel_FullMatchesFrozen ensures full-parameter training changes nothing in the forward pass:
// the same logits and loss, to the bit, as the frozen model at full precision.
func TestModel_FullMatchesFrozen(t *testing.T) {
	s := fullShapes["qwen2-tied"]
	_, cfg, ckpt := writeTiny(t, s)
	w, err := BindWeights(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	b := packedBatch(s.Vocab)
	var logits [2][]float64
	for i, full := range []bool{false, true} {
		m, err := New(cpu.New[float32](), cfg, w, Options{Base: BaseFull, FullTraining: full})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Forward(b, false, 0); err != nil {
			t.Fatal(err)
		}
		logits[i] = m.Logits()
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Error("full-parameter training changed the logits")
	}
}

// TestModel_FullLayout ensures the arena holds every weight once, in WeightShapes order with HF
// names, contiguous, as many as Config.ParamCount counts; and that WeightSources writes a checkpoint
// that loads back into the same model (F32 exactly, BF16 within its rounding).
func TestModel_FullLayout(t *testing.T) {
	for name, s := range fullShapes {
		t.Run(name, func(t *testing.T) {
			m := fullModel(t, cpu.New[float32](), s, Options{})
			next := 0
			for i, p := range m.ParamTensors() {
				ws := m.Config.WeightShapes()[i]
				if p.Name != ws.Name || p.Offset != next || p.Len != ws.Len() {
					t.Fatalf("segment %d: %+v, want %s at %d, %d elements", i, p, ws.Name, next, ws.Len())
				}
				next += p.Len
			}
			if int64(next) != m.Config.ParamCount() || m.Params().Len() != next || m.Grads().Len() != next {
				t.Errorf("%d weights in the arena, %d in ParamCount", next, m.Config.ParamCount())
			}
			checkWeightSources(t, m)
		})
	}
}

// checkWeightSources writes m's weights beside its config and loads them again.
func checkWeightSources(t *testing.T, m *Model) {
	t.Helper()
	b := packedBatch(m.Config.VocabSize)
	want, _, _ := m.Forward(b, false, 0)
	for _, dtype := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
		dir := t.TempDir()
		sources, err := m.WeightSources(dtype)
		if err != nil {
			t.Fatal(err)
		}
		if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), nil, sources); err != nil {
			t.Fatal(err)
		}
		ckpt, err := safetensors.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := BindWeights(m.Config, ckpt)
		if err != nil {
			t.Fatal(err)
		}
		back, err := New(cpu.New[float32](), m.Config, w, Options{Base: BaseFull})
		ckpt.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := back.Forward(b, false, 0)
		if dtype == safetensors.F32 && got != want || math.Abs(got-want) > 1e-2*want {
			t.Errorf("%s: loss %v after the round trip, %v before", dtype, got, want)
		}
	}
}

// lowRank hides the full-training ops of a backend, as a LoRA-only backend (CUDA) has none.
type lowRank struct{ backend.Backend }

// TestModel_FullRefusals ensures full-parameter training refuses what it cannot run, saying why.
func TestModel_FullRefusals(t *testing.T) {
	s := fullShapes["llama"]
	_, cfg, ckpt := writeTiny(t, s)
	w, err := BindWeights(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		be   backend.Backend
		opt  Options
		want string
	}{
		{cpu.New[float32](), Options{Base: BaseNF4, FullTraining: true}, "base at full precision"},
		{cpu.New[float32](), Options{Base: BaseFull, FullTraining: true, Adapter: lora.DefaultConfig()}, "takes no LoRA adapter"},
		{lowRank{cpu.New[float32]()}, Options{Base: BaseFull, FullTraining: true}, "trains LoRA only"},
	}
	for _, c := range cases {
		if _, err := New(c.be, cfg, w, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	frozen, err := New(cpu.New[float32](), cfg, w, Options{Base: BaseFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := frozen.WeightSources(safetensors.F32); err == nil {
		t.Error("WeightSources of a frozen model: no error")
	}
	if err := frozen.SetWeights(w); err == nil {
		t.Error("SetWeights of a frozen model: no error")
	}
	quantized := *w
	quantized.Layers = slices.Clone(w.Layers)
	quantized.Layers[1].Projections[projUp].Dense = nil // as BindWeights leaves a pre-quantized projection
	if _, err := New(cpu.New[float32](), cfg, &quantized, Options{Base: BaseFull, FullTraining: true}); err == nil ||
		!strings.Contains(err.Error(), "model.layers.1.mlp.up_proj.weight: the checkpoint stores it in NF4") {
		t.Errorf("a pre-quantized projection: error %v", err)
	}
}
