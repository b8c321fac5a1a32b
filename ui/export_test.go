package ui_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// wait is how long a test drains a screen's queue before it gives up.
const wait = 10 * time.Second

// fakeExporter is a library of two runs whose exports are written by a function of the test; it
// offers the formats and dtypes the app offers.
type fakeExporter struct {
	runs  []storage.Run
	write func(ctx context.Context, req ui.ExportRequest, progress func(done, total int)) error

	mu       sync.Mutex
	requests []ui.ExportRequest
	exports  []storage.Export
}

func newFakeExporter(dir string) *fakeExporter {
	return &fakeExporter{runs: []storage.Run{
		{ID: 1, Name: "going", Dir: filepath.Join(dir, "going"), Status: storage.StatusRunning, Step: 3, TotalSteps: 10, Checkpoints: []int{2}},
		{ID: 2, Name: "capitals", Dir: filepath.Join(dir, "capitals"), Status: storage.StatusFinished, Step: 24, TotalSteps: 24,
			Checkpoints: []int{8, 16, 24}, BestStep: 16},
	}}
}

func (f *fakeExporter) Runs() ([]storage.Run, error) { return f.runs, nil }

func (f *fakeExporter) Exports(run uint64) ([]storage.Export, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []storage.Export
	for _, e := range f.exports {
		if e.Run == run {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeExporter) ExportFormats() []ui.ExportFormat { return app.Exporter{}.ExportFormats() }

func (f *fakeExporter) Export(ctx context.Context, req ui.ExportRequest, progress func(done, total int)) (storage.Export, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if err := f.write(ctx, req, progress); err != nil {
		return storage.Export{}, err
	}
	e := storage.Export{Run: req.Run, Kind: req.Format, Path: req.Out, Step: 24, Bytes: 3 << 20, Created: time.Now()}
	f.mu.Lock()
	f.exports = append(f.exports, e)
	f.mu.Unlock()
	return e, nil
}

// exportScreen is the export screen on a fake library, its work queued.
func exportScreen(t *testing.T, f *fakeExporter) (*ui.Export, *ui.Queued) {
	t.Helper()
	w := newWindow(t)
	q := ui.NewQueued()
	s := ui.NewExport(f, q, w)
	w.SetContent(s.Content())
	if !q.Drain(wait, func() bool { return shows(s.Content(), "None yet.") }) {
		t.Fatalf("the runs never loaded: %q", texts(s.Content()))
	}
	return s, q
}

// TestExport_OffersFinishedRunsAndFormatDTypes ensures the screen offers only the runs that have a
// checkpoint and are not training, chooses the latest with its best checkpoint, and for each
// format offers exactly the dtypes trainer/export accepts for it, its default first.
func TestExport_OffersFinishedRunsAndFormatDTypes(t *testing.T) {
	s, _ := exportScreen(t, newFakeExporter(t.TempDir()))
	if !shows(s.Content(), "capitals · finished · step 24/24") || shows(s.Content(), "going") {
		t.Errorf("the run menu shows %q", texts(s.Content()))
	}
	if !shows(s.Content(), "The best (step 16)") {
		t.Errorf("the checkpoint menu shows %q", texts(s.Content()))
	}
	cases := map[string][]string{
		"peft":   {"f32", "bf16", "f16"},
		"merged": {"the base model's", "bf16", "f16", "f32"},
		"bnb4":   {"the base model's", "bf16", "f16", "f32"},
		"gguf":   {"f16", "f32", "bf16", "q8_0"},
	}
	for format, want := range cases {
		s.SetFormat(format)
		if got := s.DTypes(); !slices.Equal(got, want) {
			t.Errorf("%s: dtypes %v, want %v", format, got, want)
		}
	}
}

// TestExport_ProgressThenCancel ensures Export hands the choices to the exporter off the UI
// goroutine, shows its progress, and that Cancel cancels it, says nothing was written and makes the
// screen usable again.
func TestExport_ProgressThenCancel(t *testing.T) {
	f := newFakeExporter(t.TempDir())
	cancelled := make(chan struct{})
	f.write = func(ctx context.Context, _ ui.ExportRequest, progress func(done, total int)) error {
		progress(1, 4)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}
	s, q := exportScreen(t, f)
	s.SetFormat("gguf")
	s.SetDType("q8_0")
	want := filepath.Join(f.runs[1].Dir, "exports", "gguf-q8_0")
	if s.Destination() != want {
		t.Errorf("destination %q, want %q", s.Destination(), want)
	}
	tapButton(t, s.Content(), "Export")
	if !q.Drain(wait, func() bool { return s.Progress() == 0.25 }) || !s.Busy() {
		t.Fatalf("progress %v, busy %v", s.Progress(), s.Busy())
	}
	s.Reload() // as when the tab is chosen again: the export goes on, its controls still disabled
	q.Drain(100*time.Millisecond, func() bool { return false })
	if b := findButton(s.Content(), "Export"); !s.Busy() || !b.Disabled() {
		t.Errorf("after a reload: busy %v, Export enabled %v", s.Busy(), !b.Disabled())
	}
	tapButton(t, s.Content(), "Cancel")
	if !q.Drain(wait, func() bool { return !s.Busy() }) {
		t.Fatal("the export never ended")
	}
	<-cancelled
	if s.Status() != "Cancelled: nothing was written to "+want+"." {
		t.Errorf("status %q", s.Status())
	}
	if got := f.requests[0]; got != (ui.ExportRequest{Run: 2, Format: "gguf", DType: "q8_0", Out: want}) {
		t.Errorf("request %+v", got)
	}
	tapButton(t, s.Content(), "Export") // enabled again
}

// TestExport_DoneListedOnRun ensures a finished export is listed on its run, a checkpoint chosen
// goes with the request, and the next destination proposed is a fresh one.
func TestExport_DoneListedOnRun(t *testing.T) {
	f := newFakeExporter(t.TempDir())
	f.write = func(ctx context.Context, _ ui.ExportRequest, progress func(done, total int)) error {
		progress(4, 4)
		return nil
	}
	s, q := exportScreen(t, f)
	s.SetFormat("peft")
	s.SetCheckpoint(8)
	first := s.Destination()
	if first != filepath.Join(f.runs[1].Dir, "exports", "peft-step-8") {
		t.Errorf("destination %q", first)
	}
	tapButton(t, s.Content(), "Export")
	if !q.Drain(wait, func() bool { return shows(s.Content(), "peft · step 24 · 3.0 MiB") }) {
		t.Fatalf("the export is not listed: %q", texts(s.Content()))
	}
	if s.Status() != "Wrote peft (3.0 MiB) to "+first+"." || s.Progress() != 1 {
		t.Errorf("status %q, progress %v", s.Status(), s.Progress())
	}
	if got := f.requests[0]; got.Step != 8 || got.DType != "" || got.Format != "peft" {
		t.Errorf("request %+v", got)
	}
	// The fake wrote nothing, so the folder is free again; a real export's is taken and the next
	// proposal is a fresh one.
	if err := os.MkdirAll(first, 0o755); err != nil {
		t.Fatal(err)
	}
	s.SetCheckpoint(0)
	s.SetCheckpoint(8)
	if s.Destination() != first+"-2" {
		t.Errorf("next destination %q, want %q", s.Destination(), first+"-2")
	}
}

// TestExport_Golden ensures the export screen, a finished run chosen, renders as its markup golden.
func TestExport_Golden(t *testing.T) {
	s, _ := exportScreen(t, newFakeExporter("/library/runs"))
	test.AssertRendersToMarkup(t, "export.xml", fyne.CurrentApp().Driver().CanvasForObject(s.Content()))
}
