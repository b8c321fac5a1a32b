package axolotl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// handoffConfig is the demo preset on a chat file, with a separate validation file.
func handoffConfig(t *testing.T, sets ...string) (run.Config, string) {
	t.Helper()
	dir := t.TempDir()
	rows := `{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}` + "\n"
	os.WriteFile(filepath.Join(dir, "train.jsonl"), []byte(strings.Repeat(rows, 20)), 0o644)
	os.WriteFile(filepath.Join(dir, "val.jsonl"), []byte(rows), 0o644)
	p, err := run.LookupPreset("demo")
	if err != nil {
		t.Fatal(err)
	}
	sets = append([]string{"base_model=" + filepath.Join(dir, "model"), "dataset=" + filepath.Join(dir, "train.jsonl")}, sets...)
	cfg, err := run.Layers{Docs: []run.Doc{p.Doc()}, Sets: sets}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// TestHandoff_Folder ensures a handoff writes the YAML, the data, our configuration and a README
// with the launch commands and every key that did not carry over, and that the YAML reads back
// as what was handed off.
func TestHandoff_Folder(t *testing.T) {
	cfg, dir := handoffConfig(t, "val_set_size=0.1")
	cfg.ValDataset = filepath.Join(dir, "val.jsonl")
	out := filepath.Join(t.TempDir(), "cluster")
	res, err := Handoff(cfg, out, HandoffOptions{BaseModel: "meta-llama/Llama-3.1-8B", Name: "capitals"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 20 || res.Shape != "messages" {
		t.Errorf("%d %s rows, want 20 messages", res.Rows, res.Shape)
	}
	for _, f := range []string{ConfigFile, OursFile, ReadmeFile, TrainFile, ValFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	y, _ := os.ReadFile(filepath.Join(out, ConfigFile))
	read, err := FromAxolotl(y, ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"base_model": "meta-llama/Llama-3.1-8B", "dataset": TrainFile, "val_dataset": ValFile,
		"dataset_format": "messages", "val_set_size": 0.0, "max_steps": 60}
	for k, v := range want {
		if read.Layer[k] != v {
			t.Errorf("%s read back as %v, want %v", k, read.Layer[k], v)
		}
	}
	readme, _ := os.ReadFile(filepath.Join(out, ReadmeFile))
	for _, s := range []string{"axolotl train axolotl.yaml", "--launcher torchrun", "--nnodes", "fsdp_version: 2",
		"--deepspeed", "qlora runs import outputs/capitals --config axolotl.yaml", "output_dir"} {
		if !strings.Contains(string(readme), s) {
			t.Errorf("README lacks %q", s)
		}
	}
	for _, n := range res.Notes {
		if !strings.Contains(string(readme), "`"+n.Key+":") {
			t.Errorf("README does not list %v", n)
		}
	}
	for _, k := range []string{"val_set_size", "base_model", "bnb_4bit_blocksize"} {
		if !strings.Contains(string(readme), "`"+k+":") {
			t.Errorf("README does not list %s", k)
		}
	}
}

// TestHandoff_ValSetCountBecomesFraction ensures a val_set_size that counts rows is written as the
// fraction of the rows written.
func TestHandoff_ValSetCountBecomesFraction(t *testing.T) {
	cfg, _ := handoffConfig(t, "val_set_size=5")
	out := filepath.Join(t.TempDir(), "h")
	if _, err := Handoff(cfg, out, HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	y, _ := os.ReadFile(filepath.Join(out, ConfigFile))
	read, _ := FromAxolotl(y, ConfigFile)
	if read.Layer["val_set_size"] != 0.25 {
		t.Errorf("val_set_size 5 of 20 rows written as %v, want 0.25", read.Layer["val_set_size"])
	}
}

// TestHandoff_FailureLeavesNothing ensures a handoff that fails (bad data) or would overwrite a
// folder leaves the disk as it was.
func TestHandoff_FailureLeavesNothing(t *testing.T) {
	cfg, dir := handoffConfig(t)
	os.WriteFile(cfg.Dataset, []byte("not json\n"), 0o644)
	parent := t.TempDir()
	out := filepath.Join(parent, "h")
	if _, err := Handoff(cfg, out, HandoffOptions{}); err == nil {
		t.Fatal("a handoff of unreadable data succeeded")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := Handoff(cfg, dir, HandoffOptions{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("handoff into an existing folder: %v", err)
	}
}
