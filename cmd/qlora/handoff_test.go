package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestHandoff_LibraryRun ensures a run of the library, named by its folder, hands off to axolotl
// with its own base model (not the library's cached NF4 copy it trained from), its
// hyperparameters and its data.
func TestHandoff_LibraryRun(t *testing.T) {
	lib, args := libSetup(t, "4")
	runDir := filepath.Join(t.TempDir(), "capitals")
	mustQlora(t, append(args, "--out", runDir)...)
	var m storage.Model
	jsonOf(t, &m, "models", "show", "tiny", "--library", lib)
	out := filepath.Join(t.TempDir(), "cluster")
	var res axolotl.Result
	jsonOf(t, &res, "handoff", runDir, "--to", "axolotl", "--out", out, "--set", "learning_rate=0.0003", "--library", lib)
	if res.Rows != 64 || res.Shape != "alpaca" {
		t.Errorf("handoff: %+v", res)
	}
	var y map[string]any
	b, _ := os.ReadFile(filepath.Join(out, axolotl.ConfigFile))
	if err := yaml.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"base_model": m.Path, "learning_rate": 0.0003, "max_steps": 4, "lora_r": 4, "sequence_len": 64,
		"save_steps": 4, "output_dir": "./outputs/cluster", "chat_template": "jinja"}
	for k, v := range want {
		if y[k] != v {
			t.Errorf("%s: %v, want %v", k, y[k], v)
		}
	}
	byName := filepath.Join(t.TempDir(), "by-name")
	mustQlora(t, "handoff", "capitals", "--to", "axolotl", "--out", byName, "--library", lib)
	if b2, _ := os.ReadFile(filepath.Join(byName, axolotl.ConfigFile)); !strings.Contains(string(b2), "base_model: "+m.Path+"\n") {
		t.Errorf("handed off by name:\n%s", b2)
	}
	if _, stderr, code := qlora(t, "handoff", "capitals", "--to", "slurm", "--out", t.TempDir(), "--library", lib); code != 2 || !strings.Contains(stderr, "axolotl") {
		t.Errorf("--to slurm: exit %d: %s", code, stderr)
	}
}

// TestHandoff_Preset ensures a preset and a data file hand off without a library run, and the
// command lists what did not carry over.
func TestHandoff_Preset(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "capitals.jsonl")
	if err := fixtures.Capitals(data, 10); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "h")
	stdout := mustQlora(t, "handoff", "--preset", "65b-48gb", "--to", "axolotl", "--out", out,
		"--set", "base_model="+dir, "--set", "dataset="+data, "--base-model", "huggyllama/llama-65b")
	for _, s := range []string{"axolotl train axolotl.yaml", "bnb_4bit_blocksize", "huggyllama/llama-65b", "10 alpaca rows"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
}

// tinyAdapter writes an adapter for the tiny chat model on all seven projections, rank 8, its
// weights small and fixed, as PEFT saves them in bfloat16.
func tinyAdapter(t *testing.T, dir string, scale float32) {
	t.Helper()
	s := fixtures.ChatModelShape
	hd := s.Hidden / s.Heads
	dims := map[string][2]int{"self_attn.q_proj": {s.Hidden, s.Heads * hd}, "self_attn.k_proj": {s.Hidden, s.KVHeads * hd},
		"self_attn.v_proj": {s.Hidden, s.KVHeads * hd}, "self_attn.o_proj": {s.Heads * hd, s.Hidden},
		"mlp.gate_proj": {s.Hidden, s.Intermediate}, "mlp.up_proj": {s.Hidden, s.Intermediate}, "mlp.down_proj": {s.Intermediate, s.Hidden}}
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.TargetModules = 8, 16, lora.Strings{One: lora.AllLinear}
	a := &lora.Adapter{Config: cfg}
	for layer := range s.Layers {
		for _, m := range lora.Modules {
			d := dims[m]
			w := lora.ModuleWeights{Layer: layer, Module: m, R: 8, In: d[0], Out: d[1], A: make([]float32, 8*d[0]), B: make([]float32, 8*d[1])}
			for i := range w.A {
				w.A[i] = scale * float32(i%7-3)
			}
			for i := range w.B {
				w.B[i] = scale * float32(i%5-2)
			}
			a.Modules = append(a.Modules, w)
		}
	}
	if err := lora.Save(dir, a, safetensors.BF16); err != nil {
		t.Fatal(err)
	}
}

// axolotlState is the trainer_state.json of six steps, evaluated at 3 (the best) and 6.
const axolotlState = `{"global_step": 6, "max_steps": 6, "logging_steps": 1, "log_history": [
 {"epoch": 0.25, "grad_norm": 3.0, "learning_rate": 0.001, "loss": 5.5, "step": 1},
 {"epoch": 0.5, "grad_norm": 2.5, "learning_rate": 0.001, "loss": 4.5, "step": 2},
 {"epoch": 0.75, "grad_norm": NaN, "learning_rate": 0.001, "loss": 3.75, "step": 3},
 {"epoch": 0.75, "eval_loss": 3.5, "eval_runtime": 0.1, "step": 3},
 {"epoch": 1.0, "grad_norm": 1.5, "learning_rate": 0.001, "loss": 3.25, "step": 4},
 {"epoch": 1.25, "grad_norm": 1.25, "learning_rate": 0.001, "loss": 3.0, "step": 5},
 {"epoch": 1.5, "grad_norm": 1.0, "learning_rate": 0.001, "loss": 2.75, "step": 6},
 {"epoch": 1.5, "eval_loss": 3.625, "eval_runtime": 0.1, "step": 6},
 {"epoch": 1.5, "step": 6, "train_loss": 3.8, "train_runtime": 60.0}]}`

// TestRunsImport_ChartsComparesAndExports ensures an axolotl result handed back (checkpoint-3 with
// the trainer state, the final adapter in the output folder) becomes a library run: finished at
// step 6, its loss and evaluation curves in the library's series, its configuration the handoff's
// with the adapter's LoRA, and exported as a native run is, by the real export command.
func TestRunsImport_ChartsComparesAndExports(t *testing.T) {
	dir := t.TempDir()
	lib, modelDir, data := filepath.Join(dir, "library"), filepath.Join(dir, "model"), filepath.Join(dir, "capitals.jsonl")
	if err := fixtures.ChatModel(modelDir, 5); err != nil {
		t.Fatal(err)
	}
	fixtures.Capitals(data, 16)
	handoff := filepath.Join(dir, "handoff")
	mustQlora(t, "handoff", "--preset", "demo", "--to", "axolotl", "--out", handoff,
		"--set", "base_model="+modelDir, "--set", "dataset="+data, "--set", "chat_template=chatml")
	src := filepath.Join(handoff, "outputs", "handoff")
	tinyAdapter(t, filepath.Join(src, "checkpoint-3"), 0.01)
	os.WriteFile(filepath.Join(src, "checkpoint-3", "trainer_state.json"), []byte(axolotlState), 0o644)
	tinyAdapter(t, src, 0.02)

	var r storage.Run
	jsonOf(t, &r, "runs", "import", src, "--config", filepath.Join(handoff, axolotl.ConfigFile), "--base", modelDir, "--library", lib)
	if r.Status != storage.StatusFinished || r.Step != 6 || r.TotalSteps != 6 || *r.Loss != 2.75 || *r.EvalLoss != 3.5 ||
		r.BestStep != 3 || len(r.Checkpoints) != 2 || r.BaseModel != modelDir {
		t.Errorf("imported run %+v", r)
	}
	checkSeries(t, lib, r.ID)

	var show runShow
	jsonOf(t, &show, "runs", "show", r.Name, "--library", lib)
	cfg := configMap(show.Config)
	for k, v := range map[string]any{"learning_rate": 0.001, "max_steps": 60, "lora_r": 8, "max_seq_length": 256, "packing": true, "chat_template": "chatml"} {
		if cfg[k] != v {
			t.Errorf("configuration %s: %v, want %v\n%s", k, cfg[k], v, show.Config)
		}
	}
	mustQlora(t, "runs", "compare", r.Name, r.Name, "--library", lib)

	peft := exportJSON(t, r.Dir, "--format", "peft", "--out", filepath.Join(dir, "peft"), "--library", lib)
	if peft.Step != 3 || !peft.Best {
		t.Errorf("peft export of step %d (best %v), want the best, step 3", peft.Step, peft.Best)
	}
	merged := exportJSON(t, r.Dir, "--format", "merged", "--out", filepath.Join(dir, "merged"), "--library", lib)
	if merged.Base != modelDir {
		t.Errorf("merged into %s, want the base %s", merged.Base, modelDir)
	}
	jsonOf(t, &show, "runs", "show", r.Name, "--library", lib)
	if len(show.Exports) != 2 {
		t.Errorf("exports recorded: %+v", show.Exports)
	}
}

// checkSeries reads the imported run's series from the library as the app charts them.
func checkSeries(t *testing.T, libDir string, id uint64) {
	t.Helper()
	lib, err := storage.Open(libDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	points, err := lib.Series(id, storage.Range{})
	if err != nil {
		t.Fatal(err)
	}
	losses := []float64{5.5, 4.5, 3.75, 3.25, 3.0, 2.75}
	if len(points) != len(losses) {
		t.Fatalf("%d points, want %d", len(points), len(losses))
	}
	for i, p := range points {
		if p.Step != i+1 || p.Loss != losses[i] || p.LR != 0.001 || (i == 2) != math.IsNaN(p.GradNorm) {
			t.Errorf("point %d: %+v", i, p)
		}
		if i > 0 && !p.Time.After(points[i-1].Time) {
			t.Errorf("point %d at %v, not after %v", i, p.Time, points[i-1].Time)
		}
	}
	if d := points[5].Time.Sub(points[0].Time).Seconds(); math.Abs(d-50) > 0.01 {
		t.Errorf("steps 1 to 6 span %.3fs, want 50s of the 60s train_runtime", d)
	}
	evals, err := lib.EvalSeries(id, storage.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evals) != 2 || evals[0].Step != 3 || evals[0].Loss != 3.5 || !evals[0].Best || evals[1].Best {
		t.Errorf("evaluations %+v", evals)
	}
}
