package run

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPresets_ResolveAndValidate ensures every built-in preset has an id without spaces and a title,
// and resolves to a valid configuration.
func TestPresets_ResolveAndValidate(t *testing.T) {
	presets, err := Presets()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"13b-48gb", "34b-48gb", "65b-48gb", "70b-48gb", "8b-48gb", "demo", "guanaco-65b", "guanaco-7b"}
	var ids []string
	for _, p := range presets {
		ids = append(ids, p.ID)
		if strings.ContainsAny(p.ID, " \t") || p.Title == "" {
			t.Errorf("preset %q: id with spaces or no title", p.ID)
		}
		if _, err := (Layers{Docs: []Doc{p.Doc()}}).Resolve(); err != nil {
			t.Errorf("preset %s: %v", p.ID, err)
		}
	}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("presets %v, want %v", ids, want)
	}
}

// TestPreset_65b48gb ensures the headline preset is exactly the 65B-on-one-GPU recipe.
func TestPreset_65b48gb(t *testing.T) {
	p, err := LookupPreset("65b-48gb")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Layers{Docs: []Doc{p.Doc()}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.LoRAR, want.LoRAAlpha, want.LoRADropout = 64, 16, 0.1
	want.LoRATargetModules = []string{"q_proj", "k_proj", "v_proj", "o_proj"}
	want.LearningRate, want.MicroBatchSize, want.GradientAccumulationSteps, want.NumTrainEpochs = 2e-4, 1, 8, 3
	want.MaxGradNorm, want.WarmupRatio, want.LRSchedulerType = 0.3, 0.03, "cosine"
	want.GradientCheckpointing, want.Optim, want.MaxSeqLength, want.Packing = true, "adamw_8bit", 2048, true
	want.LoadIn4Bit, want.BnB4bitQuantType, want.BnB4bitUseDoubleQuant, want.BnB4bitBlocksize = true, "nf4", true, 64
	if !reflect.DeepEqual(c, want) {
		t.Errorf("65b-48gb resolves to\n%+v\nwant\n%+v", c, want)
	}
}

// TestGuanaco_Recipes ensures the QLoRA paper's two Guanaco recipes differ only where the paper's
// scripts do.
func TestGuanaco_Recipes(t *testing.T) {
	resolve := func(id string) Config {
		p, _ := LookupPreset(id)
		c, err := Layers{Docs: []Doc{p.Doc()}}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	small, big := resolve("guanaco-7b"), resolve("guanaco-65b")
	if small.LearningRate != 2e-4 || big.LearningRate != 1e-4 || small.LoRADropout != 0.1 || big.LoRADropout != 0.05 {
		t.Errorf("lr %g/%g dropout %g/%g", small.LearningRate, big.LearningRate, small.LoRADropout, big.LoRADropout)
	}
	if small.LRSchedulerType != "constant" || small.GradientAccumulationSteps != 16 || small.MaxGradNorm != 0.3 ||
		!reflect.DeepEqual(small.LoRATargetModules, AllLinear) || small.LoRAR != 64 || small.LoRAAlpha != 16 {
		t.Errorf("guanaco-7b: %+v", small)
	}
	big.LearningRate, big.LoRADropout = small.LearningRate, small.LoRADropout
	if !reflect.DeepEqual(small, big) {
		t.Error("guanaco-65b differs from guanaco-7b beyond learning rate and dropout")
	}
}

// TestLayers_LaterWins ensures a preset, then a config file, then --set apply in that order.
func TestLayers_LaterWins(t *testing.T) {
	p, _ := LookupPreset("65b-48gb")
	file := Doc{Source: "run.yaml", YAML: []byte("learning_rate: 0.0003\nlora_r: 32\n")}
	c, err := Layers{Docs: []Doc{p.Doc(), file}, Sets: []string{"lora_r=8", "lora_target_modules=[q_proj, v_proj]", "optim=paged_adamw_32bit"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.LearningRate != 3e-4 || c.LoRAR != 8 || c.GradientAccumulationSteps != 8 || c.Optim != "adamw_32bit" ||
		!reflect.DeepEqual(c.LoRATargetModules, []string{"q_proj", "v_proj"}) {
		t.Errorf("resolved %+v", c)
	}
}

// TestLayers_Errors ensures every refusal names the source or the key and its allowed range.
func TestLayers_Errors(t *testing.T) {
	cases := []struct {
		layers Layers
		want   string
	}{
		{Layers{Sets: []string{"lerning_rate=1e-4"}}, `--set lerning_rate=1e-4: unknown key "lerning_rate" (did you mean "learning_rate"?)`},
		{Layers{Docs: []Doc{{"run.yaml", []byte("lora_rank: 8")}}}, `run.yaml: unknown key "lora_rank"`},
		{Layers{Docs: []Doc{{"run.yaml", []byte("learning_rate: [1")}}}, "run.yaml: yaml:"},
		{Layers{Sets: []string{"nokey"}}, `--set "nokey": want key=value`},
		{Layers{Sets: []string{"learning_rate=0"}}, "learning_rate: 0 is out of range: want > 0 and ≤ 1"},
		{Layers{Sets: []string{"learning_rate=fast"}}, "cannot unmarshal"},
		{Layers{Sets: []string{"lr_scheduler_type=polynomial"}}, "lr_scheduler_type: polynomial is out of range: want one of constant, linear, cosine"},
		{Layers{Sets: []string{"bnb_4bit_quant_type=fp4"}}, "bnb_4bit_quant_type: fp4 is out of range: want nf4 (fp4 is not supported)"},
		{Layers{Sets: []string{"bnb_4bit_blocksize=48"}}, "bnb_4bit_blocksize: 48"},
		{Layers{Sets: []string{"lora_target_modules=[q_proj, lm_head]"}}, "lora_target_modules: [q_proj lm_head] is out of range"},
		{Layers{Sets: []string{"lora_dropout=1"}}, "lora_dropout: 1 is out of range: want ≥ 0 and < 1"},
		{Layers{Sets: []string{"early_stopping_patience=3"}}, "early_stopping_patience: 3 is out of range: want 0 unless eval_steps > 0"},
		{Layers{Sets: []string{"val_set_size=2.5"}}, "val_set_size: 2.5 is out of range"},
		{Layers{Sets: []string{"optim=sgd"}}, "optim: sgd is out of range"},
		{Layers{Sets: []string{"micro_batch_size=0"}}, "micro_batch_size: 0 is out of range: want 1 to 4096"},
	}
	for _, c := range cases {
		_, err := c.layers.Resolve()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.layers, err, c.want)
		}
	}
}

// TestConfig_MarshalRoundTrip ensures run.yaml written from a config resolves back to it.
func TestConfig_MarshalRoundTrip(t *testing.T) {
	p, _ := LookupPreset("guanaco-65b")
	c, _ := Layers{Docs: []Doc{p.Doc()}, Sets: []string{"base_model=/models/llama", "dataset=/data/a.jsonl"}}.Resolve()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(path, b, 0o644)
	doc, _ := ReadDoc(path)
	back, err := Layers{Docs: []Doc{doc}}.Resolve()
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, c)
	}
}

// TestConfig_Problems ensures every key out of range is listed once with its value and range, the
// first is Validate's error, and Allowed gives each key's range as the problems state it.
func TestConfig_Problems(t *testing.T) {
	c := Defaults()
	c.LearningRate, c.LoRAR, c.EarlyStoppingPatience = 0, 0, -1
	problems := c.Problems()
	want := []Problem{{"learning_rate", 0.0, "> 0 and ≤ 1"}, {"early_stopping_patience", -1, "≥ 0 (0 = off)"}, {"lora_r", 0, "1 to 4096"}}
	if !reflect.DeepEqual(problems, want) {
		t.Fatalf("problems %+v, want %+v", problems, want)
	}
	if err := c.Validate(); err == nil || err.Error() != "learning_rate: 0 is out of range: want > 0 and ≤ 1" {
		t.Errorf("Validate: %v", err)
	}
	for _, p := range want[:1] {
		if got := Allowed(p.Key); got != p.Allowed {
			t.Errorf("Allowed(%s) = %q, want %q", p.Key, got, p.Allowed)
		}
	}
	if got := Allowed("early_stopping_patience"); got != "≥ 0 (0 = off); 0 unless eval_steps > 0 (it counts evaluations)" {
		t.Errorf("Allowed(early_stopping_patience) = %q", got)
	}
	if got := Allowed("seed"); got != "" {
		t.Errorf("Allowed(seed) = %q, want none", got)
	}
	if problems := Defaults().Problems(); len(problems) != 0 {
		t.Errorf("the defaults have problems: %+v", problems)
	}
}

// TestConfig_PresetYAML ensures a configuration saved as a preset leaves out the run's files and
// resolves, with other files, back to the same configuration.
func TestConfig_PresetYAML(t *testing.T) {
	p, _ := LookupPreset("65b-48gb")
	files := []string{"base_model=/models/llama", "dataset=/data/a.jsonl", "val_dataset=/data/v.jsonl"}
	c, err := Layers{Docs: []Doc{p.Doc()}, Sets: files}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.PresetYAML()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("/models/llama")) || bytes.Contains(b, []byte("/data/")) {
		t.Errorf("the preset names the run's files:\n%s", b)
	}
	back, err := Layers{Docs: []Doc{{Source: "saved", YAML: b}}, Sets: files}.Resolve()
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, c)
	}
}
