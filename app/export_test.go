package app

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// exportScreen is the export screen on lib with the real engine, its work queued, once a run is
// chosen.
func exportScreen(t *testing.T, lib *storage.Library) (*ui.Export, *ui.Queued) {
	t.Helper()
	q := ui.NewQueued()
	s := ui.NewExport(Exporter{ExportLibrary: lib, Engine: Engine{Path: engineBin}}, q, testWindow(t))
	if !q.Drain(screenWait, func() bool { return s.Destination() != "" }) {
		t.Fatal("no run was chosen")
	}
	return s, q
}

// runExport starts the export chosen on the screen and drains its queue until it has ended.
func runExport(t *testing.T, s *ui.Export, q *ui.Queued) {
	t.Helper()
	s.Start()
	if !s.Busy() || !q.Drain(screenWait, func() bool { return !s.Busy() }) {
		t.Fatalf("the export did not run: %q", s.Status())
	}
}

// TestExportScreen_PEFTThenGGUF ensures the export screen, on a library where the demo fine-tune
// ran, writes the run's adapter as PEFT and then a q8_0 GGUF through real `qlora export` children,
// and that each export is recorded on the run.
func TestExportScreen_PEFTThenGGUF(t *testing.T) {
	lib := demoDone(t)
	r := onlyRun(t, lib)
	s, q := exportScreen(t, lib)

	s.SetFormat("peft")
	peft := s.Destination()
	runExport(t, s, q)
	if !strings.HasPrefix(s.Status(), "Wrote peft") || s.Progress() != 1 {
		t.Fatalf("status %q, progress %v", s.Status(), s.Progress())
	}
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(peft, name)); err != nil {
			t.Errorf("the PEFT export: %v", err)
		}
	}

	s.SetFormat("gguf")
	s.SetDType("q8_0")
	gguf := s.Destination()
	runExport(t, s, q)
	if files, _ := filepath.Glob(filepath.Join(gguf, "*.gguf")); len(files) != 1 || !strings.Contains(files[0], "Q8_0") {
		t.Errorf("the GGUF export holds %v (status %q)", files, s.Status())
	}

	exports, err := lib.Exports(r.ID)
	if err != nil || len(exports) != 2 {
		t.Fatalf("the run's exports: %+v (%v)", exports, err)
	}
	for i, want := range []storage.Export{{Kind: "peft", Path: peft, Step: r.Step}, {Kind: "gguf", Path: gguf, Step: r.Step}} {
		if e := exports[i]; e.Kind != want.Kind || e.Path != want.Path || e.Step != want.Step || e.Bytes == 0 {
			t.Errorf("export %d is %+v, want %+v", i, e, want)
		}
	}
}

// TestExportScreen_CancelLeavesNothing ensures Cancel stops a real merge midway (SIGTERM to the
// child) and leaves neither the destination nor a temporary folder, and no export on the run. The
// model has so many tensors that the child's progress lines fill the pipe while the test holds the
// UI's queue, so the child is still merging when Cancel comes.
func TestExportScreen_CancelLeavesNothing(t *testing.T) {
	lib := manyTensorsRun(t)
	r := onlyRun(t, lib)
	s, q := exportScreen(t, lib)
	s.SetFormat("merged")
	s.SetDType("f32")
	out := s.Destination()
	s.Start()
	if !q.Drain(screenWait, func() bool { return s.Progress() > 0 }) {
		t.Fatalf("no progress: %q", s.Status())
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 || !strings.Contains(entries[0].Name(), ".tmp-") {
		t.Fatalf("before Cancel, the destination's folder holds %v; want the export's temporary folder", entries)
	}
	s.Cancel()
	if !q.Drain(screenWait, func() bool { return !s.Busy() }) {
		t.Fatal("the export never ended")
	}
	if s.Status() != "Cancelled: nothing was written to "+out+"." {
		t.Errorf("status %q", s.Status())
	}
	if entries, err := os.ReadDir(filepath.Dir(out)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the destination's folder holds %v (%v); want it gone as it was", entries, err)
	}
	if exports, _ := lib.Exports(r.ID); len(exports) != 0 {
		t.Errorf("a cancelled export is recorded: %+v", exports)
	}
}

// manyTensorsRun is a library holding one finished run of a 300-layer model of the tiny shape
// (2,700 tensors, so 2,700 lines of progress), trained for one step by a real engine child.
func manyTensorsRun(t *testing.T) *storage.Library {
	t.Helper()
	dir := t.TempDir()
	modelDir, data := filepath.Join(dir, "deep"), filepath.Join(dir, "capitals.jsonl")
	shape := fixtures.ChatModelShape
	shape.Layers = 300
	if err := tinymodel.Write(modelDir, shape, 5); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := fixtures.TinyChat.ReadFile("tinychat/" + name)
		if err := os.WriteFile(filepath.Join(modelDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fixtures.Capitals(data, 16); err != nil {
		t.Fatal(err)
	}
	lib, err := storage.Open(filepath.Join(dir, "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	if _, err := lib.AddModel(modelDir, storage.ModelOptions{Name: "tiny"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.AddDataset(data, storage.DatasetOptions{Name: "capitals"}); err != nil {
		t.Fatal(err)
	}
	s := NewSupervisor(lib, Engine{Path: engineBin, NoLibrary: true}, nil)
	r, err := s.Start(demoRun("1"))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, r.ID)
	if r, _ = lib.Run(r.ID); r.Status != storage.StatusFinished {
		t.Fatalf("the run %s: %s", r.Status, r.Reason)
	}
	return lib
}
