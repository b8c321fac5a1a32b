package export

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// writeBase writes a random model of the given shape into a temp folder, with a tokenizer file.
func writeBase(t testing.TB, s tinymodel.Shape) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "base")
	if err := tinymodel.Write(dir, s, 7); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model":{}}`), 0o644)
	return dir
}

// randomAdapter makes an adapter for every targeted projection of the model in baseDir, with B
// as well as A random (a freshly initialised adapter has B = 0 and would merge to nothing).
func randomAdapter(t testing.TB, baseDir string, r int, alpha float64, targets []string, seed uint64) *lora.Adapter {
	t.Helper()
	cfg, err := model.LoadConfig(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	ac := lora.DefaultConfig()
	ac.R, ac.LoraAlpha, ac.TaskType = r, alpha, "CAUSAL_LM"
	ac.TargetModules = lora.Strings{List: targets}
	ad := &lora.Adapter{Config: ac}
	rng := rand.New(rand.NewPCG(seed, 99))
	randn := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	for l := 0; l < cfg.NumLayers; l++ {
		for p, proj := range cfg.ProjectionShapes() {
			if ok, _ := ac.Targets(l, lora.Modules[p]); !ok {
				continue
			}
			out, in := proj.Shape[0], proj.Shape[1]
			ad.Modules = append(ad.Modules, lora.ModuleWeights{Layer: l, Module: lora.Modules[p], R: r, In: in, Out: out,
				A: randn(r*in, 1/math.Sqrt(float64(in))), B: randn(out*r, 0.05)})
		}
	}
	return ad
}

// fakeRun writes a run folder as the trainer leaves one: run.yaml naming baseDir, one checkpoint
// per step holding ad, trainer_state.json whose best_step is best (0: no evaluation), and events.
func fakeRun(t testing.TB, baseDir string, ad *lora.Adapter, best int, steps ...int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	cfg := run.Defaults()
	cfg.BaseModel, cfg.Dataset = baseDir, "/data/capitals.jsonl"
	cfg.LoRAR, cfg.LoRAAlpha, cfg.MaxSteps = ad.Config.R, ad.Config.LoraAlpha, steps[len(steps)-1]
	y, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	safefile.WriteFile(filepath.Join(dir, run.ConfigFile), y)
	events, _ := run.OpenEvents(filepath.Join(dir, run.EventsFile), nil)
	var st run.State
	for _, step := range steps {
		st.Step = step
		events.Emit(run.Event{Type: run.EventStep, Step: step, Loss: run.Float(3 - float64(step)/10)})
		if best > 0 {
			loss := 2 + math.Abs(float64(step-best))/10
			events.Emit(run.Event{Type: run.EventEval, Step: step, EvalLoss: run.Float(loss)})
			if step == best {
				st.BestEvalLoss, st.BestStep = run.Float(loss), step
			}
		}
		ck := run.CheckpointDir(dir, step)
		if err := lora.Save(ck, ad, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(st)
		os.WriteFile(filepath.Join(ck, run.StateFile), js, 0o644)
	}
	events.Close()
	return dir
}

// floats reads a tensor of an output folder as float32.
func floats(t testing.TB, d *safetensors.Dir, name string) []float32 {
	t.Helper()
	tt, err := d.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mergeIndependently is W + scaling·B·A written as the definition reads, element by element, in
// float64, rounded once to float32: the reference the merge is checked against.
func mergeIndependently(w []float32, m *lora.ModuleWeights, scaling float64) []float32 {
	out := make([]float32, len(w))
	for o := 0; o < m.Out; o++ {
		for i := 0; i < m.In; i++ {
			var sum float64
			for k := 0; k < m.R; k++ {
				sum += float64(m.B[o*m.R+k]) * float64(m.A[k*m.In+i])
			}
			out[o*m.In+i] = float32(float64(w[o*m.In+i]) + scaling*sum)
		}
	}
	return out
}

// openOut opens an export's weights and closes them with the test.
func openOut(t testing.TB, dir string) *safetensors.Dir {
	t.Helper()
	d, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// emptyDir fails the test when dir holds anything.
func emptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s: left behind: %s", dir, e.Name())
	}
}

// smallShape is a model with three differently shaped projections and GQA, big enough for several
// merge chunks per projection.
var smallShape = tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 96, Intermediate: 800, Layers: 2, Heads: 6, KVHeads: 2}
