package ui_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// The markup goldens of the main screens (testdata/<screen>.xml, beside export.xml and
// playground.xml): each screen on a real library or on fakes, showing what it is for. A golden
// must read alike on every machine, so the texts that vary are made fixed: the folders things were
// imported from, the times they were added or created (which the screens show in the local
// zone), and the clock times of the recorded events. On a mismatch Fyne writes what was rendered
// under testdata/failed/; copy it over the golden once it shows what it should.

// addedAt is when the goldens' models and datasets were added: noon in the local zone, so that
// the screens, which show local times, show 2025-03-01 12:00 wherever they run.
var addedAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.Local)

// localClock is t's clock time as read in UTC, in the local zone: the screens show local times,
// and this shows the same ones wherever the test runs.
func localClock(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
}

// onLocalClock are events whose times say the same clock times in the local zone as they say in
// UTC, so that the event log (in local times) reads alike in every zone.
func onLocalClock(events []run.Event) []run.Event {
	out := slices.Clone(events)
	for i, ev := range out {
		if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
			out[i].Time = localClock(t).Format(time.RFC3339Nano)
		}
	}
	return out
}

// assertGolden renders the window holding o against testdata/name.
func assertGolden(t *testing.T, name string, o fyne.CanvasObject) {
	t.Helper()
	test.AssertRendersToMarkup(t, name, fyne.CurrentApp().Driver().CanvasForObject(o))
}

// fixedModels is the library as the models screen reads it, each model imported from a fixed
// folder (used in place there) at a fixed time.
type fixedModels struct{ *storage.Library }

func (f fixedModels) Models() ([]storage.Model, error) {
	models, err := f.Library.Models()
	for i, m := range models {
		models[i].Source = filepath.Join("/home/ada/models", m.Name)
		models[i].Path, models[i].Added = models[i].Source, addedAt
	}
	return models, err
}

// TestModels_Golden ensures the models screen, the demo base model selected beside the tiny one,
// renders as its markup golden: both in the list, the demo model's details on the right.
func TestModels_Golden(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	if _, err := lib.AddModel(tinyModel(t), storage.ModelOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.AddModel(filepath.Join("..", "assets", "demo", "model"), storage.ModelOptions{Name: "demo-base"}); err != nil {
		t.Fatal(err)
	}
	s := ui.NewModels(fixedModels{lib}, ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Select("demo-base")
	if !shows(s.Content(), "/home/ada/models/demo-base") || !shows(s.Content(), "tiny") {
		t.Fatalf("the screen shows %q", texts(s.Content()))
	}
	assertGolden(t, "models.xml", s.Content())
}

// fixedDatasets is the library as the datasets screen reads it, each dataset imported from a
// fixed folder at a fixed time.
type fixedDatasets struct{ app.Library }

func (f fixedDatasets) Datasets() ([]storage.Dataset, error) {
	list, err := f.Library.Datasets()
	for i, d := range list {
		list[i].Source, list[i].Added = filepath.Join("/home/ada/data", filepath.Base(d.Source)), addedAt
	}
	return list, err
}

// TestDatasets_Golden ensures the datasets screen, the test dataset selected (its good rows
// imported) and measured with the tiny model's tokenizer at 256 tokens, renders as its markup
// golden: the dataset's facts and report, and the token-length histogram with its caption.
func TestDatasets_Golden(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	if _, err := lib.AddModel(tinyModel(t), storage.ModelOptions{}); err != nil {
		t.Fatal(err)
	}
	store := fixedDatasets{app.Library{Library: lib}}
	s := ui.NewDatasets(store, store, ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Import(writeDataset(t), true)
	s.SetMaxLength(256)
	if r := s.Report(); r == nil || !r.Tokenized || r.Truncated != longRows {
		t.Fatalf("report %+v", r)
	}
	tabs := findTabs(t, s.Content())
	tabs.SelectIndex(1) // the token lengths
	if tabs.Selected().Text != "Token lengths" || s.Histogram().Image() == nil {
		t.Fatalf("tab %q shown, histogram drawn: %v", tabs.Selected().Text, s.Histogram().Image() != nil)
	}
	assertGolden(t, "datasets.xml", s.Content())
}

// findTabs is the first visible AppTabs under o; the test fails when there is none.
func findTabs(t *testing.T, o fyne.CanvasObject) *container.AppTabs {
	t.Helper()
	var found *container.AppTabs
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() || found != nil {
			return
		}
		switch v := o.(type) {
		case *container.AppTabs:
			found = v
		case *fyne.Container:
			for _, c := range v.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(v).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	if found == nil {
		t.Fatal("no tabs are shown")
	}
	return found
}

// TestTrain_Golden ensures the new-run form, filled from the demo preset with the tiny model and
// the capitals dataset chosen, renders as its markup golden: the preset's values in the knobs,
// Start enabled, and the memory plan against the RTX A6000 with its bar.
func TestTrain_Golden(t *testing.T) {
	s, w, _ := newTrain(t)
	s.SelectPreset("demo")
	s.SelectModel("tiny")
	s.SelectDataset("capitals")
	if _, ok := s.Memory().Report(); !ok || !s.CanStart() {
		t.Fatalf("no plan or Start disabled: %q", texts(w.Content()))
	}
	assertGolden(t, "train.xml", s.Content())
}

// fixedRuns is the library as the runs screen reads it, each run created when it started, on the
// local clock (see localClock).
type fixedRuns struct{ ui.RunStore }

func (f fixedRuns) Runs() ([]storage.Run, error) {
	runs, err := f.RunStore.Runs()
	for i := range runs {
		runs[i].Created = localClock(runs[i].Started)
	}
	return runs, err
}

func (f fixedRuns) Run(id uint64) (storage.Run, error) {
	r, err := f.RunStore.Run(id)
	r.Created = localClock(r.Started)
	return r, err
}

// TestRuns_Golden ensures the runs table, alpha finished, beta failed and gamma stopped, renders
// as its markup golden: newest first, gamma selected and ticked with alpha for comparison.
func TestRuns_Golden(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	alpha, _, gamma := threeRuns(t, lib)
	s := ui.NewRuns(fixedRuns{runStore(lib)}, newControl(lib), ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Select(gamma.ID)
	s.Tick(alpha.ID, true)
	s.Tick(gamma.ID, true)
	if got := names(s.Rows()); !slices.Equal(got, []string{"gamma", "beta", "alpha"}) {
		t.Fatalf("rows %v", got)
	}
	assertGolden(t, "runs.xml", s.Content())
}

// TestRunView_Golden ensures the run view, opened from the runs screen on a finished run whose
// folder holds the recorded stream (testdata/events-finished.jsonl), renders as its markup golden:
// its title, finished at step 16 of 16, both charts, the event log and Resume enabled.
func TestRunView_Golden(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	events := onLocalClock(recorded(t, "events-finished.jsonl"))
	r := capitalsRun(t, lib, events...)
	for _, ev := range events { // the checkpoints the stream says were written, so that it can resume
		if ev.Type == run.EventCheckpoint {
			if err := os.MkdirAll(run.CheckpointDir(r.Dir, ev.Step), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := lib.RefreshRun(r.ID); err != nil {
		t.Fatal(err)
	}
	s := ui.NewRuns(fixedRuns{runStore(lib)}, newControl(lib), ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Open(r.ID)
	v, resume := s.View(), findButton(s.Content(), "Resume…")
	if v == nil || v.Progress() != 1 || v.LossChart().Series == nil || resume == nil || resume.Disabled() {
		t.Fatalf("the view shows %q", texts(s.Content()))
	}
	assertGolden(t, "runview.xml", s.Content())
}

// TestGPUPanel_Golden ensures the GPU panel with one GPU renders as its markup golden: the
// driver's sentence, the GPU's card with its memory, utilisation, temperature and power, and the
// parity check's button.
func TestGPUPanel_Golden(t *testing.T) {
	w := newWindow(t)
	p := ui.NewGPUPanel(&checker{}, ui.Inline{})
	w.SetContent(p.Content())
	p.Update(ui.GPUReading{Driver: "550.54.15", CUDA: "12.4", Devices: []ui.GPUDevice{{Index: 0, Name: "NVIDIA RTX A6000",
		MemoryUsed: 30 << 30, MemoryTotal: 48 << 30, Utilization: 97, TemperatureC: 71, PowerW: 287.5, PowerLimitW: 300}}})
	assertGolden(t, "gpu.xml", p.Content())
}
