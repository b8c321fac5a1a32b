package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// onUI runs fn on the UI goroutine and returns what it returns.
func onUI[T any](fn func() T) T {
	var v T
	fyne.DoAndWait(func() { v = fn() })
	return v
}

// eventually waits until ok, asked on the UI goroutine, reports true; the test fails after limit,
// saying what it waited for and what shows instead.
func eventually(t *testing.T, what string, limit time.Duration, ok func() bool, shows func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !onUI(ok) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; it shows %q", limit, what, onUI(shows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEndToEnd drives the app as a user would, through its own screens wired as Run wires them,
// on a UI goroutine of its own, with a real engine for every run, export and generation: it
// imports the demo model and dataset into an empty library, starts a run from the demo preset,
// watches it finish in the run view, exports it as
// PEFT and as GGUF, and asks the playground a question the fine-tune never saw, getting the base
// model's answer and the fine-tuned one's, which is the right capital.
func TestEndToEnd(t *testing.T) {
	newUILoop(t).Settings().SetTheme(ui.NewTheme(ui.ThemeLight))
	lib, err := storage.Open(filepath.Join(t.TempDir(), "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	engine := testEngine(t)
	var bridge *Bridge
	sup := NewSupervisor(Library{lib}, engine, func(u Update) { bridge.Run(u) })
	t.Cleanup(func() { sup.Shutdown(time.Minute) })
	main := onUI(func() *ui.Main {
		w := test.NewTempWindow(t, container.NewStack())
		w.Resize(fyne.NewSize(1280, 860))
		m := newMain(w, Library{lib}, sup, engine, ui.Background{})
		w.SetContent(m.Content())
		bridge = NewBridge(m, w, engine.Path)
		return m
	})

	model, dataset := importDemo(t, main, lib)
	id := startDemoRun(t, main, lib, model, dataset)
	exportRun(t, main, lib, id)
	askPlayground(t, main, id)
}

// importDemo imports the demo model folder and its training file through the Models and Datasets
// screens, and returns the names the library gave them.
func importDemo(t *testing.T, main *ui.Main, lib *storage.Library) (model, dataset string) {
	t.Helper()
	modelDir, _ := filepath.Abs("../assets/demo/model")
	data, _ := filepath.Abs("../assets/demo/train.jsonl")
	fyne.DoAndWait(func() { main.Show(ui.TabModels); main.Models.Import(modelDir) })
	eventually(t, "the model in the library", time.Minute, func() bool { ms, _ := lib.Models(); return len(ms) == 1 },
		func() string { return "no model" })
	fyne.DoAndWait(func() { main.Show(ui.TabDatasets); main.Datasets.Import(data, false) })
	eventually(t, "the dataset in the library", time.Minute, func() bool { ds, _ := lib.Datasets(); return len(ds) == 1 },
		func() string { return "no dataset" })
	ms, _ := lib.Models()
	ds, _ := lib.Datasets()
	if ds[0].Shape != "completion" {
		t.Errorf("the demo dataset was read as %q, want completion", ds[0].Shape)
	}
	return ms[0].Name, ds[0].Name
}

// startDemoRun fills the new-run form from the demo preset, starts it, and waits for the run view
// that Start opens to show it finished.
func startDemoRun(t *testing.T, main *ui.Main, lib *storage.Library, model, dataset string) uint64 {
	t.Helper()
	fyne.DoAndWait(func() { main.Show(ui.TabTrain) })
	eventually(t, "the form ready to start", time.Minute, func() bool {
		main.Train.SelectPreset("demo")
		main.Train.SelectModel(model)
		main.Train.SelectDataset(dataset)
		return main.Train.CanStart()
	}, func() string { return main.Train.Memory().Verdict() })
	fyne.DoAndWait(main.Train.Start)
	eventually(t, "the run view of the run started", time.Minute, func() bool {
		return main.Tabs.Selected().Text == ui.TabRuns && main.Runs.View() != nil
	}, func() string { return main.Tabs.Selected().Text })
	id := onUI(func() uint64 { return main.Runs.View().ID() })
	eventually(t, "the run finished", 3*time.Minute, func() bool {
		return strings.HasPrefix(main.Runs.View().ProgressText(), "Finished at step 60 of 60")
	}, func() string { return main.Runs.View().ProgressText() + " " + main.Runs.View().Reason() })
	r, err := lib.Run(id)
	if err != nil || r.Status != storage.StatusFinished || r.Preset != "demo" || r.PlanBytes == 0 {
		t.Fatalf("the library's record of the run: %+v (%v)", r, err)
	}
	return id
}

// exportRun exports the run as PEFT, then as GGUF, from the Export screen, and checks that each
// is on disk and listed on the run.
func exportRun(t *testing.T, main *ui.Main, lib *storage.Library, id uint64) {
	t.Helper()
	fyne.DoAndWait(func() { main.Show(ui.TabExport) })
	eventually(t, "the run offered for export", time.Minute, func() bool {
		main.Export.SelectRun(id)
		return main.Export.Destination() != ""
	}, main.Export.Status)
	for _, c := range []struct{ format, dtype, file string }{{"peft", "", "adapter_model.safetensors"}, {"gguf", "q8_0", "*.gguf"}} {
		dest := onUI(func() string {
			main.Export.SetFormat(c.format)
			main.Export.SetDType(c.dtype)
			main.Export.Start()
			return main.Export.Destination()
		})
		eventually(t, c.format+" export written", 2*time.Minute, func() bool { return !main.Export.Busy() }, main.Export.Status)
		if files, _ := filepath.Glob(filepath.Join(dest, c.file)); len(files) != 1 {
			t.Errorf("the %s export in %s holds %v (%q)", c.format, dest, files, onUI(main.Export.Status))
		}
		if _, err := os.Stat(dest); err != nil {
			t.Error(err)
		}
	}
	exports, err := lib.Exports(id)
	if err != nil || len(exports) != 2 || exports[0].Kind != "peft" || exports[1].Kind != "gguf" {
		t.Errorf("the run's exports: %+v (%v)", exports, err)
	}
}

// askPlayground asks the playground, on the run, a question the demo's training rows never ask.
func askPlayground(t *testing.T, main *ui.Main, id uint64) {
	t.Helper()
	fyne.DoAndWait(func() { main.Show(ui.TabPlayground) })
	ready := func() bool { return main.Playground.Ready() }
	eventually(t, "the playground on the latest run", time.Minute, ready, func() string { return "not ready" })
	fyne.DoAndWait(func() { main.Playground.SelectRun(id) }) // the only run: read again
	eventually(t, "the playground on the run", time.Minute, ready, func() string { return "not ready" })
	fyne.DoAndWait(func() {
		main.Playground.SetPrompt("Question: What is the capital of Venezuela?\nAnswer:") // held out
		main.Playground.SetSampling(ui.Sampling{MaxTokens: 12, TopP: 1})
		main.Playground.Generate()
	})
	eventually(t, "both answers", 2*time.Minute, func() bool { return !main.Playground.Busy() },
		func() string { b, f := main.Playground.Answers(); return b + " | " + f })
	answers := onUI(func() [2]string { b, f := main.Playground.Answers(); return [2]string{b, f} })
	base, tuned := answers[0], answers[1]
	t.Logf("base: %q; fine-tuned: %q", base, tuned)
	if tuned != "Caracas" {
		t.Errorf("the fine-tuned model answers %q, want Caracas", tuned)
	}
	if base == "" || base == tuned || strings.HasPrefix(base, "The generation failed") {
		t.Errorf("the base model answers %q", base)
	}
}
