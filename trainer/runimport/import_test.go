package runimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// saveAdapter writes a small adapter of rank r on q_proj and v_proj of two layers (hidden 8),
// its weights filled with fill.
func saveAdapter(t *testing.T, dir string, r int, fill float32) {
	t.Helper()
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.LoraDropout = r, 16, 0.05
	cfg.TargetModules = lora.Strings{List: []string{"q_proj", "v_proj"}}
	cfg.BaseModelNameOrPath = "meta-llama/Llama-3.2-1B"
	a := &lora.Adapter{Config: cfg}
	for layer := range 2 {
		for _, m := range []string{"self_attn.q_proj", "self_attn.v_proj"} {
			w := lora.ModuleWeights{Layer: layer, Module: m, R: r, In: 8, Out: 8, A: make([]float32, r*8), B: make([]float32, 8*r)}
			for i := range w.A {
				w.A[i], w.B[i] = fill, -fill
			}
			a.Modules = append(a.Modules, w)
		}
	}
	if err := lora.Save(dir, a, safetensors.BF16); err != nil {
		t.Fatal(err)
	}
}

// hfTrainerState is a trainer_state.json as transformers writes it, NaN included: four steps,
// evaluations at 2 (the best) and 4, and the summary with train_runtime.
const hfTrainerState = `{
  "best_metric": null,
  "best_model_checkpoint": null,
  "epoch": 2.0,
  "eval_steps": 2,
  "global_step": 4,
  "is_hyper_param_search": false,
  "log_history": [
    {"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 0.0002, "loss": 2.5, "step": 1},
    {"epoch": 1.0, "grad_norm": NaN, "learning_rate": 0.0002, "loss": 2.0, "step": 2},
    {"epoch": 1.0, "eval_loss": 1.75, "eval_runtime": 0.5, "eval_samples_per_second": 10.0, "step": 2},
    {"epoch": 1.5, "grad_norm": 0.9, "learning_rate": 0.0001, "loss": 1.5, "step": 3},
    {"epoch": 2.0, "grad_norm": 0.8, "learning_rate": 0.0, "loss": 1.25, "step": 4},
    {"epoch": 2.0, "eval_loss": 1.8, "eval_runtime": 0.5, "step": 4},
    {"epoch": 2.0, "step": 4, "total_flos": 1.0e12, "train_loss": 1.8, "train_runtime": 8.0, "train_samples_per_second": 4.0}
  ],
  "logging_steps": 1,
  "max_steps": 4,
  "num_train_epochs": 2,
  "save_steps": 2,
  "train_batch_size": 2,
  "trial_name": null
}`

// axolotlOutput lays out what axolotl leaves: checkpoint-2 and checkpoint-4 with the trainer
// state, and the final adapter in the output folder.
func axolotlOutput(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "qlora-out")
	for _, step := range []string{"2", "4"} {
		dir := filepath.Join(src, "checkpoint-"+step)
		saveAdapter(t, dir, 4, 0.01)
		os.WriteFile(filepath.Join(dir, StateFile), []byte(hfTrainerState), 0o644)
	}
	saveAdapter(t, src, 4, 0.02)
	return src
}

// TestImport_AxolotlOutput ensures an axolotl output folder becomes a run folder in our layout:
// each adapter a checkpoint (the final one at the last step), the curves of log_history as our
// events in order, the best evaluation marked, and a configuration that resolves.
func TestImport_AxolotlOutput(t *testing.T) {
	src := axolotlOutput(t)
	dir := filepath.Join(t.TempDir(), "runs", "imported")
	res, err := Import(src, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 4 || !slices.Equal(res.Checkpoints, []int{2, 4}) || res.Points != 4 || res.Evals != 2 {
		t.Errorf("result %+v", res)
	}
	final, _ := os.ReadFile(filepath.Join(src, lora.WeightsName))
	step4, _ := os.ReadFile(filepath.Join(run.CheckpointDir(dir, 4), lora.WeightsName))
	if !bytes.Equal(final, step4) {
		t.Error("step-4 is not the final adapter")
	}
	evs, err := run.ReadEvents(filepath.Join(dir, run.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Type)
	}
	want := []string{"started", "step", "step", "eval", "checkpoint", "step", "step", "eval", "checkpoint", "finished"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if *evs[2].Loss != 2.0 || evs[2].GradNorm != nil || evs[2].LR != 0.0002 || !evs[3].Best || *evs[3].EvalLoss != 1.75 ||
		math.Abs(evs[3].Perplexity-math.Exp(1.75)) > 1e-12 || evs[7].Best || !evs[4].Best || evs[8].Best || evs[0].TotalStep != 4 {
		t.Errorf("events %+v", evs)
	}
	if evs[9].Time <= evs[0].Time || evs[5].Time <= evs[1].Time {
		t.Errorf("times do not advance: %s .. %s", evs[0].Time, evs[9].Time)
	}
	var st run.State
	js, _ := os.ReadFile(filepath.Join(run.CheckpointDir(dir, 4), run.StateFile))
	if err := json.Unmarshal(js, &st); err != nil || st.BestStep != 2 || *st.BestEvalLoss != 1.75 || st.Step != 4 {
		t.Errorf("our trainer_state.json of step 4: %s (%v)", js, err)
	}
	doc, err := run.ReadDoc(filepath.Join(dir, run.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil || cfg.LoRAR != 4 || cfg.LoRAAlpha != 16 || !slices.Equal(cfg.LoRATargetModules, []string{"q_proj", "v_proj"}) ||
		cfg.BaseModel != "meta-llama/Llama-3.2-1B" {
		t.Errorf("run.yaml resolves to %+v (%v)", cfg, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ImportedDir, StateFile)); err != nil {
		t.Error(err)
	}
}

// TestImport_WithAxolotlYAML ensures the axolotl configuration gives the keys the adapter does not
// record, a disagreement keeps the adapter's value and says so, and a custom chat template is kept
// as a file that run.yaml names.
func TestImport_WithAxolotlYAML(t *testing.T) {
	src := axolotlOutput(t)
	yml := filepath.Join(t.TempDir(), "axolotl.yaml")
	os.WriteFile(yml, []byte("base_model: meta-llama/Llama-3.2-1B\nadapter: qlora\nload_in_4bit: true\nlora_r: 8\n"+
		"learning_rate: 0.0003\nsequence_len: 1024\nmicro_batch_size: 2\nchat_template: jinja\n"+
		"chat_template_jinja: \"{% for m in messages %}{{ m['content'] }}{% endfor %}\"\nwandb_project: cats\n"), 0o644)
	base := t.TempDir()
	dir := filepath.Join(t.TempDir(), "run")
	res, err := Import(src, dir, Options{Config: yml, BaseModel: base})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := run.ReadDoc(filepath.Join(dir, run.ConfigFile))
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LearningRate != 3e-4 || cfg.MaxSeqLength != 1024 || cfg.LoRAR != 4 || cfg.BaseModel != base || !cfg.LoadIn4Bit ||
		cfg.LRSchedulerType != "cosine" || cfg.ChatTemplate != filepath.Join(dir, TemplateFile) {
		t.Errorf("configuration %+v", cfg)
	}
	if b, err := os.ReadFile(cfg.ChatTemplate); err != nil || !strings.Contains(string(b), "m['content']") {
		t.Errorf("chat template file: %q %v", b, err)
	}
	noted := map[string]bool{}
	for _, n := range res.Notes {
		noted[n.Key] = true
	}
	if !noted["lora_r"] || !noted["wandb_project"] {
		t.Errorf("notes %v lack lora_r (8 in the YAML, 4 in the adapter) or wandb_project", res.Notes)
	}
	if _, err := os.Stat(filepath.Join(dir, ImportedDir, "axolotl.yaml")); err != nil {
		t.Error(err)
	}
}

// TestImport_BareAdapter ensures a PEFT adapter alone (no trainer state) imports as a run with
// one checkpoint and no curves.
func TestImport_BareAdapter(t *testing.T) {
	src := t.TempDir()
	saveAdapter(t, src, 2, 0.1)
	dir := filepath.Join(t.TempDir(), "run")
	res, err := Import(src, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Points != 0 || !slices.Equal(res.Checkpoints, []int{0}) {
		t.Errorf("result %+v", res)
	}
	if steps, _ := run.Checkpoints(dir); !slices.Equal(steps, []int{0}) {
		t.Errorf("checkpoints %v", steps)
	}
}

// TestImport_Refusals ensures what cannot become a run is refused with a reason, leaving nothing.
func TestImport_Refusals(t *testing.T) {
	parent := t.TempDir()
	dora := t.TempDir()
	saveAdapter(t, dora, 2, 0.1)
	js, _ := os.ReadFile(filepath.Join(dora, lora.ConfigName))
	os.WriteFile(filepath.Join(dora, lora.ConfigName), bytes.Replace(js, []byte(`"use_dora": false`), []byte(`"use_dora": true`), 1), 0o644)
	pickle := t.TempDir()
	saveAdapter(t, pickle, 2, 0.1)
	os.Rename(filepath.Join(pickle, lora.WeightsName), filepath.Join(pickle, "adapter_model.bin"))
	cases := map[string]struct{ src, want string }{
		"empty folder":     {t.TempDir(), "no PEFT adapter"},
		"DoRA":             {dora, "use_dora"},
		"pickled weights":  {pickle, "adapter_model.bin"},
		"missing folder":   {filepath.Join(parent, "nothing"), "no such file"},
		"existing run dir": {dora, "exists"},
	}
	for name, c := range cases {
		dir := filepath.Join(parent, "run")
		if name == "existing run dir" {
			dir = parent
		}
		_, err := Import(c.src, dir, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := lora.ReadConfig(filepath.Join(dora, lora.ConfigName)); !errors.Is(err, lora.ErrUnsupported) {
		t.Errorf("the DoRA fixture reads as %v", err)
	}
}

// TestPythonJSON ensures NaN and the infinities outside strings read as null, and inside strings
// stay as they are.
func TestPythonJSON(t *testing.T) {
	in := `{"a": NaN, "b": [Infinity, -Infinity, 1.5], "c": "NaN \"Infinity\"", "d": "\\", "e": NaN}`
	want := `{"a": null, "b": [null, null, 1.5], "c": "NaN \"Infinity\"", "d": "\\", "e": null}`
	if got := string(pythonJSON([]byte(in))); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
