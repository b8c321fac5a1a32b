package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// TestCluster_HandOffAndImport ensures the app hands a run of its library to axolotl, and imports
// an adapter trained elsewhere as a run of the library adapting the model chosen.
func TestCluster_HandOffAndImport(t *testing.T) {
	lib := demoLibrary(t)
	c := Cluster{lib}
	m, _ := lib.Model("tiny")
	d, _ := lib.Dataset("capitals")
	runDir := filepath.Join(t.TempDir(), "capitals-run")
	os.MkdirAll(filepath.Join(runDir, run.CheckpointsDir), 0o755)
	os.WriteFile(filepath.Join(runDir, run.ConfigFile), []byte("base_model: "+m.Path+"\ndataset: "+d.Path+"\nlora_r: 4\n"), 0o644)
	if _, err := lib.AdoptRun(runDir); err != nil {
		t.Fatal(err)
	}
	names, err := c.RunNames()
	if err != nil || len(names) != 1 {
		t.Fatalf("runs %v (%v)", names, err)
	}
	out := filepath.Join(t.TempDir(), "cluster")
	text, err := c.HandOff(ui.HandoffRequest{Run: names[0], Out: out})
	if err != nil || !strings.Contains(text, "64 alpaca rows") {
		t.Fatalf("%q (%v)", text, err)
	}
	fromRun, err := os.ReadFile(filepath.Join(out, axolotl.ConfigFile))
	if err != nil {
		t.Error(err)
	}
	// The same configuration from the new-run form, not yet run: the same axolotl file.
	yaml, _ := os.ReadFile(filepath.Join(runDir, run.ConfigFile))
	formOut := filepath.Join(t.TempDir(), "cluster")
	if _, err := c.HandOff(ui.HandoffRequest{Run: "the form's", Config: yaml, Out: formOut}); err != nil {
		t.Fatal(err)
	}
	if fromForm, _ := os.ReadFile(filepath.Join(formOut, axolotl.ConfigFile)); string(fromForm) != string(fromRun) {
		t.Errorf("the form's configuration gave\n%s\nthe run's\n%s", fromForm, fromRun)
	}

	adapter := filepath.Join(t.TempDir(), "qlora-out")
	cfg := lora.DefaultConfig()
	cfg.R, cfg.TargetModules = 2, lora.Strings{List: []string{"q_proj"}}
	w := lora.ModuleWeights{Layer: 0, Module: "self_attn.q_proj", R: 2, In: 32, Out: 32, A: make([]float32, 64), B: make([]float32, 64)}
	if err := lora.Save(adapter, &lora.Adapter{Config: cfg, Modules: []lora.ModuleWeights{w}}, ""); err != nil {
		t.Fatal(err)
	}
	if text, err = c.ImportRun(ui.ImportRequest{Adapter: adapter, Model: "tiny"}); err != nil || !strings.Contains(text, "Imported run qlora-out") {
		t.Fatalf("%q (%v)", text, err)
	}
	r, err := lib.FindRun("qlora-out")
	if err != nil || r.Status != storage.StatusFinished || r.Model != "tiny" || filepath.Dir(r.Dir) != filepath.Join(lib.Dir(), storage.RunsDir) {
		t.Errorf("imported %+v (%v)", r, err)
	}
}
