package ui_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// newTrain is the new-run form on a real library holding the tiny model ("tiny") and the capitals
// dataset, with the app's planner; no engine, so Start fails.
func newTrain(t *testing.T) (*ui.Train, fyne.Window, *storage.Library) {
	t.Helper()
	w := newWindow(t)
	lib := newLibrary(t)
	if _, err := lib.AddModel(tinyModel(t), storage.ModelOptions{}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "capitals.jsonl")
	if err := fixtures.Capitals(data, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.AddDataset(data, storage.DatasetOptions{Name: "capitals"}); err != nil {
		t.Fatal(err)
	}
	store := app.Library{Library: lib}
	engine := app.Trainer{Library: store, Supervisor: app.NewSupervisor(store, app.Engine{}, nil)}
	s := ui.NewTrain(store, engine, ui.Inline{}, w)
	w.SetContent(s.Content())
	return s, w, lib
}

// presetConfig is what the preset with this id resolves to.
func presetConfig(t *testing.T, id string) run.Config {
	t.Helper()
	p, err := run.LookupPreset(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := run.Layers{Docs: []run.Doc{p.Doc()}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTrain_PresetsFillForm ensures the preset menu offers every built-in preset by title with its
// id, that each fills the form with its whole configuration, and that the form saved as a preset
// of the user's is offered as one and fills the form back.
func TestTrain_PresetsFillForm(t *testing.T) {
	s, w, lib := newTrain(t)
	presets, err := run.Presets()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range presets {
		s.SelectPreset(p.ID)
		if !shows(w.Content(), fmt.Sprintf("%s (%s)", p.Title, p.ID)) {
			t.Errorf("the menu does not show %q: %q", p.Title, texts(w.Content()))
		}
		want := presetConfig(t, p.ID)
		if got, ok := s.Config(); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("preset %s fills\n%+v, want\n%+v", p.ID, got, want)
		}
	}
	s.SelectPreset("65b-48gb")
	for key, want := range map[string]string{"lora_r": "64", "learning_rate": "0.0002", "optim": "adamw_8bit",
		"lora_target_modules": "q_proj,k_proj,v_proj,o_proj", "packing": "true", "max_grad_norm": "0.3", "lr_scheduler_type": "cosine"} {
		if got := s.Field(key); got != want {
			t.Errorf("65b-48gb: %s shows %q, want %q", key, got, want)
		}
	}

	s.SetField("lora_r", "24")
	s.SetField("lora_target_modules", "q_proj,v_proj")
	saved, _ := s.Config()
	s.SavePreset("my-recipe", "My recipe")
	if p, err := lib.Preset("my-recipe"); err != nil || p.Title != "My recipe" || strings.Contains(p.YAML, "base_model") {
		t.Fatalf("saved %+v, %v", p, err)
	}
	s.SelectPreset("demo")
	s.SelectPreset("my-recipe")
	if got, _ := s.Config(); !reflect.DeepEqual(got, saved) || !shows(w.Content(), "My recipe (my-recipe, yours)") {
		t.Errorf("the user's preset fills %+v, want %+v; menu %q", got, saved, texts(w.Content()))
	}
}

// TestTrain_InvalidFieldBlocksStart ensures Start waits for a model and a dataset, and that each
// field's invalid value disables Start and is shown at the field with run's own message and range,
// until it is put right; a broken rule of a key without a field is shown below the fields.
func TestTrain_InvalidFieldBlocksStart(t *testing.T) {
	s, w, lib := newTrain(t)
	s.SelectPreset("demo")
	if s.CanStart() {
		t.Error("Start is enabled with no model and no dataset chosen")
	}
	s.SelectModel("tiny")
	s.SelectDataset("capitals")
	if !s.CanStart() {
		t.Fatalf("Start is disabled on the demo preset: %q", texts(w.Content()))
	}
	if want := "lora_r · 1 to 4096"; !shows(w.Content(), want) {
		t.Errorf("the rank's range %q is not shown: %q", want, texts(w.Content()))
	}
	cases := []struct{ key, value, want string }{
		{"bnb_4bit_blocksize", "48", "bnb_4bit_blocksize: 48 is out of range: want a power of two from 32 to 4096"},
		{"bnb_4bit_blocksize", "64.5", `bnb_4bit_blocksize: "64.5" is not a whole number: want a power of two from 32 to 4096`},
		{"lora_r", "0", "lora_r: 0 is out of range: want 1 to 4096"},
		{"lora_alpha", "0", "lora_alpha: 0 is out of range: want > 0"},
		{"lora_dropout", "1", "lora_dropout: 1 is out of range: want ≥ 0 and < 1"},
		{"lora_target_modules", "", "lora_target_modules: [] is out of range: want a non-empty list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear"},
		{"learning_rate", "abc", `learning_rate: "abc" is not a number: want > 0 and ≤ 1`},
		{"learning_rate", "2", "learning_rate: 2 is out of range: want > 0 and ≤ 1"},
		{"warmup_steps", "-1", "warmup_steps: -1 is out of range: want ≥ 0"},
		{"warmup_ratio", "1", "warmup_ratio: 1 is out of range: want ≥ 0 and < 1"},
		{"max_steps", "-5", "max_steps: -5 is out of range: want ≥ 0 (0 = use num_train_epochs)"},
		{"micro_batch_size", "0", "micro_batch_size: 0 is out of range: want 1 to 4096"},
		{"gradient_accumulation_steps", "", `gradient_accumulation_steps: "" is not a whole number: want 1 to 65536`},
		{"max_grad_norm", "-0.5", "max_grad_norm: -0.5 is out of range: want ≥ 0 (0 = no clipping)"},
		{"weight_decay", "1.5", "weight_decay: 1.5 is out of range: want ≥ 0 and < 1"},
		{"max_seq_length", "8", "max_seq_length: 8 is out of range: want 16 to 1048576"},
		{"val_set_size", "2.5", "val_set_size: 2.5 is out of range: want ≥ 0: a fraction below 1, or a whole number of rows (0 = none)"},
		{"save_steps", "-1", "save_steps: -1 is out of range: want ≥ 0 (0 = checkpoint only at the end)"},
		{"eval_steps", "-1", "eval_steps: -1 is out of range: want ≥ 0 (0 = no evaluation during training)"},
		{"save_total_limit", "-2", "save_total_limit: -2 is out of range: want ≥ 0 (0 = keep all)"},
		{"early_stopping_patience", "-1", "early_stopping_patience: -1 is out of range: want ≥ 0 (0 = off)"},
	}
	for _, c := range cases {
		before := s.Field(c.key)
		s.SetField(c.key, c.value)
		if s.CanStart() {
			t.Errorf("%s=%q: Start is enabled", c.key, c.value)
		}
		if got := s.Problem(c.key); got != c.want {
			t.Errorf("%s=%q: the field says %q, want %q", c.key, c.value, got, c.want)
		}
		if !shows(w.Content(), c.want) || !shows(w.Content(), "The memory plan follows once every field is valid.") {
			t.Errorf("%s=%q: the screen shows %q", c.key, c.value, texts(w.Content()))
		}
		s.SetField(c.key, before)
		if !s.CanStart() || s.Problem(c.key) != "" {
			t.Errorf("%s back to %q: Start enabled %v, the field says %q", c.key, before, s.CanStart(), s.Problem(c.key))
		}
	}
	// A rule across two fields: patience counts evaluations, so it needs eval_steps.
	s.SetField("eval_steps", "0")
	s.SetField("early_stopping_patience", "3")
	if want := "early_stopping_patience: 3 is out of range: want 0 unless eval_steps > 0 (it counts evaluations)"; s.CanStart() || s.Problem("early_stopping_patience") != want {
		t.Errorf("patience without evaluation: Start enabled %v, the field says %q", s.CanStart(), s.Problem("early_stopping_patience"))
	}
	s.SetField("eval_steps", "10")
	if !s.CanStart() {
		t.Errorf("patience with evaluation every 10 steps: Start disabled, %q", s.Problem("early_stopping_patience"))
	}
	// A rule of a key the form has no field for, broken by one it has: shown below the groups.
	if err := lib.SavePreset(storage.Preset{Name: "full", YAML: "full_training: true\nload_in_4bit: false\n"}); err != nil {
		t.Fatal(err)
	}
	s.Reload()
	s.SelectPreset("full")
	if !s.CanStart() {
		t.Fatalf("full-parameter training on the 16-bit base: Start disabled: %q", texts(w.Content()))
	}
	s.SetField("load_in_4bit", "true")
	if want := "full_training: true is out of range: want false while load_in_4bit is true"; s.CanStart() || !shows(w.Content(), want) {
		t.Errorf("full training on an NF4 base: Start enabled %v; the screen shows %q", s.CanStart(), texts(w.Content()))
	}
}

// planned is the planner's report for the form's configuration on the tiny model, computed here
// the way `qlora plan` does.
func planned(t *testing.T, lib *storage.Library, c run.Config, memory int64) plan.Report {
	t.Helper()
	m, err := lib.Model("tiny")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.LoadConfig(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.Against(c.PlanRequest(mc, plan.CUDA), memory)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTrain_MemoryFollowsKnobs ensures the memory bar shows the planner's report for the form as
// its knobs and the card change, with the exact parts told apart from the estimates, and a plain
// verdict against the card.
func TestTrain_MemoryFollowsKnobs(t *testing.T) {
	s, w, lib := newTrain(t)
	s.SelectPreset("demo")
	s.SelectModel("tiny")
	mem := s.Memory()
	if mem.Memory() != 48<<30 || !shows(w.Content(), ui.Cards[0].Name) {
		t.Fatalf("the default card has %d bytes; the screen shows %q", mem.Memory(), texts(w.Content()))
	}
	var last int64
	steps := []struct{ key, value string }{{"lora_r", "64"}, {"max_seq_length", "4096"}, {"micro_batch_size", "16"},
		{"optim", "adamw_8bit"}, {"lora_target_modules", "q_proj"}, {"load_in_4bit", "false"}, {"gradient_checkpointing", "true"}}
	for _, st := range steps {
		s.SetField(st.key, st.value)
		c, _ := s.Config()
		got, ok := mem.Report()
		want := planned(t, lib, c, mem.Memory())
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s=%s: the bar shows %+v, the planner says %+v", st.key, st.value, got, want)
		}
		if got.TotalBytes == last {
			t.Errorf("%s=%s: the total stayed %d", st.key, st.value, last)
		}
		last = got.TotalBytes
		if !shows(w.Content(), "Total "+ui.Bytes(got.TotalBytes)+":") || !shows(w.Content(), "Fits: ") {
			t.Errorf("%s=%s: the panel shows %q", st.key, st.value, texts(w.Content()))
		}
	}
	rep, _ := mem.Report()
	var exact, estimated int64
	for _, c := range rep.Components {
		if c.Exact {
			exact += c.Bytes
		} else {
			estimated += c.Bytes
		}
	}
	if estimated == 0 || !shows(w.Content(), fmt.Sprintf("%s counted exactly (dark), %s estimated", ui.Bytes(exact), ui.Bytes(estimated))) {
		t.Errorf("exact %d and estimated %d bytes are not told apart: %q", exact, estimated, texts(w.Content()))
	}
	mem.ChooseCard("RTX 4090 (24 GB)")
	if got, _ := mem.Report(); got.MemoryBytes != 24<<30 || got.TotalBytes != rep.TotalBytes {
		t.Errorf("against the 4090: %+v", got)
	}
	s.SetField("max_seq_length", "1000000")
	if got, _ := mem.Report(); got.Fits || !strings.HasPrefix(mem.Verdict(), "Does not fit: ") || !strings.Contains(mem.Verdict(), " over.") {
		t.Errorf("a million tokens a sample: %q (%+v)", mem.Verdict(), got)
	}
}

// TestTrain_MakeItFit ensures "make it fit" sets the largest max length, then the largest
// micro-batch, that fit the card: the form then fits, and one step more does not. (With a
// micro-batch of 256 the length is held by the memory, not by the model's context of 512 tokens,
// which caps it otherwise: TestTrain_MakeItFitCapsAtContext.)
func TestTrain_MakeItFit(t *testing.T) {
	s, w, lib := newTrain(t)
	s.SelectPreset("demo")
	s.SelectModel("tiny")
	s.SetGPU(ui.GPUReading{Devices: []ui.GPUDevice{{Name: "Small GPU", MemoryTotal: 1 << 30}}})
	mem := s.Memory()
	if mem.Memory() != 1<<30 {
		t.Fatalf("the detected GPU is not planned against: %d bytes", mem.Memory())
	}
	cases := []struct{ key, button, tooBig, after, otherKey, other string }{
		{"max_seq_length", "max length", "1000000", "256", "micro_batch_size", "256"},
		{"micro_batch_size", "micro-batch", "4096", "4", "max_seq_length", "256"}}
	for _, fit := range cases {
		s.SetField(fit.otherKey, fit.other)
		s.SetField(fit.key, fit.tooBig)
		rep, _ := mem.Report()
		largest := map[string]int{"max_seq_length": rep.LargestSeqLen, "micro_batch_size": rep.LargestMicroBatch}[fit.key]
		tapButton(t, w.Content(), fmt.Sprintf("Set the %s to %d, the largest that fits", fit.button, largest))
		if got := s.Field(fit.key); got != fmt.Sprint(largest) {
			t.Fatalf("%s: the form shows %s, want %d", fit.key, got, largest)
		}
		c, ok := s.Config()
		if rep, _ := mem.Report(); !ok || !rep.Fits || !shows(w.Content(), fmt.Sprintf("The %s is the largest that fits (%d)", fit.button, largest)) {
			t.Errorf("%s %d: valid %v, fits %v, %q", fit.key, largest, ok, rep.Fits, texts(w.Content()))
		}
		s.SetField(fit.key, fmt.Sprint(largest+1))
		if rep, _ := mem.Report(); rep.Fits || planned(t, lib, c, 1<<30).TotalBytes >= rep.TotalBytes {
			t.Errorf("%s %d, one more than the largest: %+v", fit.key, largest+1, rep)
		}
		s.SetField(fit.key, fit.after)
	}
}

// TestTrain_MakeItFitCapsAtContext ensures "make it fit" never offers a max length beyond the
// model's context (max_position_embeddings), even where more would fit in memory.
func TestTrain_MakeItFitCapsAtContext(t *testing.T) {
	s, w, _ := newTrain(t)
	s.SelectPreset("demo")
	s.SelectModel("tiny")
	s.SetField("max_seq_length", "100000")
	if rep, _ := s.Memory().Report(); rep.LargestSeqLen != 512 {
		t.Fatalf("largest length %d on the A6000, want the tiny model's context, 512", rep.LargestSeqLen)
	}
	tapButton(t, w.Content(), "Set the max length to 512, the largest that fits")
	if got := s.Field("max_seq_length"); got != "512" {
		t.Errorf("the form shows %s", got)
	}
}

// TestTrain_StartRefused ensures a run the supervisor cannot start says why, and nothing switches.
func TestTrain_StartRefused(t *testing.T) {
	s, w, _ := newTrain(t)
	started := false
	s.OnStarted = func(uint64) { started = true }
	s.SelectPreset("demo")
	s.SelectModel("tiny")
	s.SelectDataset("capitals")
	tapButton(t, w.Content(), "Start")
	if started || !shows(overlay(t, w), "the qlora engine was not found") {
		t.Errorf("started %v; the dialog says %q", started, texts(overlay(t, w)))
	}
}

// TestTrain_RunOnACluster ensures "Run on a cluster…" is offered only once the form can start,
// and hands OnCluster the very run.yaml the run would start with, under the run's name.
func TestTrain_RunOnACluster(t *testing.T) {
	s, w, _ := newTrain(t)
	var got []byte
	var name string
	s.OnCluster = func(yaml []byte, n string) { got, name = yaml, n }
	s.SelectPreset("demo")
	if b := findButton(w.Content(), "Run on a cluster…"); b == nil || !b.Disabled() {
		t.Error("offered before a model and a dataset are chosen")
	}
	s.SelectModel("tiny")
	s.SelectDataset("capitals")
	tapButton(t, w.Content(), "Run on a cluster…")
	file := filepath.Join(t.TempDir(), "run.yaml")
	s.Export(file)
	want, err := os.ReadFile(file)
	if err != nil || string(got) != string(want) || name != "tiny-capitals" {
		t.Errorf("handed %q as %q, want the exported run.yaml\n%s", got, name, want)
	}
}
