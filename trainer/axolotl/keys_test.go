package axolotl

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// yamlKeys is a configuration as its YAML keys.
func yamlKeys(t *testing.T, c run.Config) map[string]any {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTable_AccountsForEveryKey ensures every key of our configuration is in exactly one place:
// mapped to axolotl, carried by the dataset entries, or named as ours only.
func TestTable_AccountsForEveryKey(t *testing.T) {
	seen := map[string]string{}
	place := func(key, where string) {
		if prev, ok := seen[key]; ok {
			t.Errorf("%s is both %s and %s", key, prev, where)
		}
		seen[key] = where
	}
	for _, m := range mappings {
		for _, k := range m.ours {
			place(k, "mapped")
		}
	}
	for k := range oursOnly {
		place(k, "ours only")
	}
	for _, k := range dataKeys {
		place(k, "a dataset key")
	}
	for k := range yamlKeys(t, run.Defaults()) {
		if _, ok := seen[k]; !ok {
			t.Errorf("our key %s is neither mapped, nor a dataset key, nor listed as ours only", k)
		}
		delete(seen, k)
	}
	for k := range seen {
		t.Errorf("the table names %s, which our configuration does not have", k)
	}
}

// roundTripCases are every built-in preset, and variants that take each special mapping's other
// branches.
func roundTripCases(t *testing.T) map[string]run.Layers {
	t.Helper()
	presets, err := run.Presets()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"base_model=models/llama-3-8b", "dataset=data.jsonl"}
	cases := map[string]run.Layers{}
	for _, p := range presets {
		cases["preset "+p.ID] = run.Layers{Docs: []run.Doc{p.Doc()}, Sets: base}
	}
	variants := map[string][]string{
		"16-bit LoRA, 8-bit AdamW": {"load_in_4bit=false", "optim=paged_adamw_8bit", "lora_target_modules=[q_proj, v_proj]", "use_rslora=true", "lora_alpha=24.5"},
		"built-in chat template":   {"chat_template=llama3", "lr_scheduler_type=constant", "warmup_steps=0", "warmup_ratio=0"},
		"in file order, no saves":  {"shuffle=false", "save_steps=0", "eval_steps=7", "val_set_size=0.2", "save_total_limit=3", "early_stopping_patience=2"},
		"full fine-tune":           {"full_training=true", "load_in_4bit=false", "max_steps=0", "num_train_epochs=2.5"},
		"no double quantization":   {"bnb_4bit_use_double_quant=false", "max_grad_norm=0", "weight_decay=0.1", "adam_beta2=0.95", "seed=7"},
	}
	for name, sets := range variants {
		cases[name] = run.Layers{Sets: append(slices.Clone(base), sets...)}
	}
	return cases
}

// TestRoundTrip_SameValues ensures our configuration -> axolotl YAML -> our configuration gives
// the same value for every mapped key, for every preset, and that reading our own YAML back loses
// nothing but the keys set for the cluster.
func TestRoundTrip_SameValues(t *testing.T) {
	for name, layers := range roundTripCases(t) {
		t.Run(name, func(t *testing.T) {
			cfg, err := layers.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			back, read := roundTrip(t, cfg)
			want, got := yamlKeys(t, cfg), yamlKeys(t, back)
			for _, m := range mappings {
				for _, k := range m.ours {
					if cfg.FullTraining && (strings.HasPrefix(k, "lora_") || k == "use_rslora") {
						continue // not written for a full fine-tune
					}
					if fmt.Sprint(want[k]) != fmt.Sprint(got[k]) {
						t.Errorf("%s: %v went across and came back %v", k, want[k], got[k])
					}
				}
			}
			for _, n := range read.Notes {
				if n.Key == "saves_per_epoch" && cfg.SaveSteps == 0 {
					continue // our stand-in for save_steps 0, read back as 0
				}
				if _, ok := setForCluster[n.Key]; !ok {
					t.Errorf("reading our own YAML back lost %v", n)
				}
			}
		})
	}
}

func roundTrip(t *testing.T, cfg run.Config) (run.Config, *Read) {
	t.Helper()
	out, notes, err := ToAxolotl(cfg, Options{Rows: 100})
	if err != nil {
		t.Fatal(err)
	}
	for k := range oursOnly {
		if !slices.ContainsFunc(notes, func(n Note) bool { return n.Key == k && n.Side == Ours }) {
			t.Errorf("%s, which axolotl cannot express, is not listed", k)
		}
	}
	y, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	read, err := FromAxolotl(y, "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := read.Doc("from axolotl")
	if err != nil {
		t.Fatal(err)
	}
	back, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return back, read
}

// TestToAxolotl_Keys ensures the keys written are axolotl's, with the values its documentation
// gives them, for the QLoRA paper's recipe.
func TestToAxolotl_Keys(t *testing.T) {
	p, err := run.LookupPreset("guanaco-7b")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := run.Layers{Docs: []run.Doc{p.Doc()}, Sets: []string{"base_model=m", "dataset=d.jsonl"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := ToAxolotl(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]any{}
	if err := yaml.Unmarshal(y, &written); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"adapter": "qlora", "load_in_4bit": true, "lora_r": 64, "lora_alpha": 16, "lora_dropout": 0.1,
		"lora_target_linear": true, "sequence_len": 1024, "micro_batch_size": 1, "gradient_accumulation_steps": 16,
		"max_steps": 1875, "lr_scheduler": "constant_with_warmup", "warmup_ratio": 0.03, "max_grad_norm": 0.3,
		"optimizer": "adamw_torch", "gradient_checkpointing": true, "eval_strategy": "no", "save_steps": 1875,
		"chat_template": "tokenizer_default", "output_dir": DefaultOutputDir, "logging_steps": 1,
		"bnb_config_kwargs": map[string]any{"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true},
	}
	for k, v := range want {
		got, ok := written[k]
		if !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %v (set %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{"lora_target_modules", "warmup_steps", "eval_steps", "saves_per_epoch"} {
		if v, ok := written[k]; ok {
			t.Errorf("%s written (%v): its other form is", k, v)
		}
	}
}

// TestFromAxolotl_RecipeFromTheWeb ensures an axolotl QLoRA recipe like its examples reads into a
// valid configuration of ours, its defaults axolotl's, and every key we cannot express is named.
func TestFromAxolotl_RecipeFromTheWeb(t *testing.T) {
	recipe := `base_model: NousResearch/Meta-Llama-3-8B
model_type: AutoModelForCausalLM
load_in_8bit: false
load_in_4bit: true
datasets:
  - path: tatsu-lab/alpaca
    type: alpaca
val_set_size: 0.05
output_dir: ./outputs/qlora-out
adapter: qlora
sequence_len: 4096
sample_packing: true
lora_r: 32
lora_alpha: 16
lora_dropout: 0.05
lora_target_modules:
lora_target_linear: true
wandb_project:
gradient_accumulation_steps: 4
micro_batch_size: 2
num_epochs: 4
optimizer: paged_adamw_32bit
learning_rate: 0.0002
bf16: auto
gradient_checkpointing: true
warmup_steps: 10
evals_per_epoch: 4
fsdp_version: 2
fsdp_config:
  offload_params: true
special_tokens:
  pad_token: "<|end_of_text|>"
`
	read, err := FromAxolotl([]byte(recipe), "qlora.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := read.Doc("qlora.yml")
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := run.Config{BaseModel: "NousResearch/Meta-Llama-3-8B", Dataset: "tatsu-lab/alpaca", DatasetFormat: "alpaca",
		LoadIn4Bit: true, MaxSeqLength: 4096, Packing: true, LoRAR: 32, LoRAAlpha: 16, LoRADropout: 0.05,
		GradientAccumulationSteps: 4, MicroBatchSize: 2, NumTrainEpochs: 4, Optim: "adamw_32bit", LearningRate: 2e-4,
		LRSchedulerType: "cosine", WarmupSteps: 10, ValSetSize: 0.05, GradientCheckpointing: true}
	got := run.Config{BaseModel: cfg.BaseModel, Dataset: cfg.Dataset, DatasetFormat: cfg.DatasetFormat, LoadIn4Bit: cfg.LoadIn4Bit,
		MaxSeqLength: cfg.MaxSeqLength, Packing: cfg.Packing, LoRAR: cfg.LoRAR, LoRAAlpha: cfg.LoRAAlpha, LoRADropout: cfg.LoRADropout,
		GradientAccumulationSteps: cfg.GradientAccumulationSteps, MicroBatchSize: cfg.MicroBatchSize, NumTrainEpochs: cfg.NumTrainEpochs,
		Optim: cfg.Optim, LearningRate: cfg.LearningRate, LRSchedulerType: cfg.LRSchedulerType, WarmupSteps: cfg.WarmupSteps,
		ValSetSize: cfg.ValSetSize, GradientCheckpointing: cfg.GradientCheckpointing}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read\n%+v\nwant\n%+v", got, want)
	}
	if len(cfg.LoRATargetModules) != len(run.AllLinear) {
		t.Errorf("lora_target_linear read as %v", cfg.LoRATargetModules)
	}
	noted := map[string]bool{}
	for _, n := range read.Notes {
		noted[n.Key] = true
	}
	for _, k := range []string{"model_type", "output_dir", "bf16", "evals_per_epoch", "fsdp_version", "fsdp_config", "special_tokens", "datasets[0].type", "eval_steps"} {
		if !noted[k] {
			t.Errorf("%s is not listed among the keys not carried: %v", k, read.Notes)
		}
	}
	for _, k := range []string{"wandb_project", "lora_target_modules", "load_in_8bit"} {
		if noted[k] {
			t.Errorf("%s is listed, but it is empty or false (unset)", k)
		}
	}
}

// TestFromAxolotl_ValuesWithoutEquivalent ensures values none of ours takes are named, not
// dropped, and the configuration read stays valid.
func TestFromAxolotl_ValuesWithoutEquivalent(t *testing.T) {
	y := "base_model: m\nadapter: lora\nlearning_rate: '3e-5'\noptimizer: lion_8bit\nlr_scheduler: one_cycle\n" +
		"gradient_checkpointing: offload\neval_steps: 0.25\nchat_template: gemma\nload_in_8bit: true\n"
	read, err := FromAxolotl([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := read.Doc("x.yaml")
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LearningRate != 3e-5 || !cfg.GradientCheckpointing || cfg.LoadIn4Bit {
		t.Errorf("read learning_rate %v, gradient_checkpointing %v, load_in_4bit %v", cfg.LearningRate, cfg.GradientCheckpointing, cfg.LoadIn4Bit)
	}
	var keys []string
	for _, n := range read.Notes {
		keys = append(keys, n.Key)
	}
	slices.Sort(keys)
	want := []string{"chat_template", "eval_steps", "gradient_checkpointing", "load_in_8bit", "lr_scheduler", "optimizer", "save_steps"}
	if !slices.Equal(keys, want) {
		t.Errorf("notes on %v, want %v", keys, want)
	}
}

// TestChatTemplate_FileGoesAcrossAsSource ensures a .jinja template of ours is written as its
// source, and read back as that source for the caller to store.
func TestChatTemplate_FileGoesAcrossAsSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.jinja")
	src := "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
	os.WriteFile(path, []byte(src), 0o644)
	cfg, err := run.Layers{Sets: []string{"base_model=m", "chat_template=" + path}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	_, read := roundTrip(t, cfg)
	if read.ChatTemplateJinja != src {
		t.Errorf("source read back %q, want %q", read.ChatTemplateJinja, src)
	}
	if _, ok := read.Layer["chat_template"]; ok {
		t.Errorf("chat_template set to %v; the caller names the file it stores", read.Layer["chat_template"])
	}
	if got := slices.Sorted(maps.Keys(read.Layer)); slices.Contains(got, "dataset") {
		t.Errorf("a dataset read from a configuration without datasets: %v", got)
	}
}
