package ui_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// threeRuns records alpha (tiny on capitals, preset demo, finished, eval loss 1.5, 300 MiB at
// most), beta (tiny on capitals, failed, no evaluation, 100 MiB) and gamma (big on chat,
// stopped at step 2 with a checkpoint, eval loss 0.9, 2 GiB), in that order.
func threeRuns(t *testing.T, lib *storage.Library) (alpha, beta, gamma storage.Run) {
	t.Helper()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	step := func(n int, mem int64) run.Event {
		return run.Event{Type: run.EventStep, Step: n, Loss: run.Float(3 - float64(n)/2), LR: 1e-3, TokensPerS: 900, MemoryBytes: mem}
	}
	eval := func(n int, loss float64) run.Event {
		return run.Event{Type: run.EventEval, Step: n, EvalLoss: run.Float(loss), Best: true}
	}
	started := run.Event{Type: run.EventStarted, TotalStep: 4, Backend: "cpu-float32"}
	alpha = newRun(t, lib, storage.NewRun{Name: "alpha", Model: "tiny", Dataset: "capitals", Preset: "demo",
		Config: []byte("learning_rate: 0.001\nlora_r: 8\nmax_steps: 4\n")},
		stamp(t0, started, step(1, 300<<20), step(2, 200<<20), eval(2, 1.5), step(3, 250<<20), step(4, 250<<20),
			run.Event{Type: run.EventFinished, Step: 4})...)
	beta = newRun(t, lib, storage.NewRun{Name: "beta", Model: "tiny", Dataset: "capitals", Preset: "guanaco-7b",
		Config: []byte("learning_rate: 0.001\nlora_r: 8\nmax_steps: 4\n")},
		stamp(t0.Add(time.Hour), started, step(1, 100<<20), run.Event{Type: run.EventFailed, Step: 1, Reason: "non-finite loss"})...)
	dir := filepath.Join(t.TempDir(), "gamma")
	if err := os.MkdirAll(run.CheckpointDir(dir, 2), 0o755); err != nil {
		t.Fatal(err)
	}
	gamma = newRun(t, lib, storage.NewRun{Name: "gamma", Dir: dir, Model: "big", Dataset: "chat",
		Config: []byte("learning_rate: 0.0002\nlora_r: 8\nmax_steps: 4\nlora_dropout: 0.05\n")},
		stamp(t0.Add(2*time.Hour), started, step(1, 2<<30), step(2, 2<<30), eval(2, 0.9),
			run.Event{Type: run.EventStopped, Step: 2, Reason: "stopped by a signal"})...)
	return alpha, beta, gamma
}

func names(runs []storage.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Name
	}
	return out
}

// TestRuns_SortAndFilter ensures the runs table lists every run newest first, sorts by any
// column (a header tapped sorts by it), and filters on every word typed.
func TestRuns_SortAndFilter(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	threeRuns(t, lib)
	s := ui.NewRuns(runStore(lib), newControl(lib), ui.Inline{}, w)
	w.SetContent(s.Content())
	for _, c := range []struct {
		col  string
		desc bool
		want []string
	}{
		{ui.ColDate, true, []string{"gamma", "beta", "alpha"}},
		{ui.ColName, false, []string{"alpha", "beta", "gamma"}},
		{ui.ColEvalLoss, false, []string{"gamma", "alpha", "beta"}}, // beta did not evaluate: last
		{ui.ColPeakMemory, true, []string{"gamma", "alpha", "beta"}},
		{ui.ColDuration, false, []string{"beta", "gamma", "alpha"}},
		{ui.ColModel, true, []string{"alpha", "beta", "gamma"}},
		{ui.ColPreset, false, []string{"gamma", "alpha", "beta"}},
	} {
		s.SortBy(c.col, c.desc)
		if got := names(s.Rows()); !slices.Equal(got, c.want) {
			t.Errorf("by %s (descending %v): %v, want %v", c.col, c.desc, got, c.want)
		}
	}
	tapButton(t, w.Content(), ui.ColStatus)
	if got := names(s.Rows()); !slices.Equal(got, []string{"beta", "alpha", "gamma"}) {
		t.Errorf("after a tap on Status: %v, want failed, finished, stopped", got)
	}
	tapButton(t, w.Content(), ui.ColStatus+" ▲")
	if got := names(s.Rows()); !slices.Equal(got, []string{"gamma", "alpha", "beta"}) {
		t.Errorf("after a second tap on Status: %v, want it reversed", got)
	}

	s.SortBy(ui.ColName, false)
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"tiny", []string{"alpha", "beta"}},
		{"TINY fail", []string{"beta"}},
		{"stopped", []string{"gamma"}},
		{"demo", []string{"alpha"}},
		{"chat big", []string{"gamma"}},
		{"nothing", nil},
		{"", []string{"alpha", "beta", "gamma"}},
	} {
		s.Filter(c.filter)
		if got := names(s.Rows()); !slices.Equal(got, c.want) {
			t.Errorf("filter %q: %v, want %v", c.filter, got, c.want)
		}
	}
	typeInto(t, w.Content(), "tiny fail")
	if got := names(s.Rows()); !slices.Equal(got, []string{"beta"}) || !shows(w.Content(), "1 of 3 runs") {
		t.Errorf("typed filter: %v, count %q", got, texts(w.Content()))
	}
}

// typeInto replaces the text of the first visible entry under o by typing text.
func typeInto(t *testing.T, o fyne.CanvasObject, text string) {
	t.Helper()
	var entry *widget.Entry
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() || entry != nil {
			return
		}
		switch v := o.(type) {
		case *widget.Entry:
			entry = v
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
	if entry == nil {
		t.Fatalf("no entry among %q", texts(o))
	}
	entry.SetText("")
	test.Type(entry, text)
}

// TestRuns_CompareOpenResumeDelete ensures runs ticked are compared (curves overlaid by name,
// the configuration keys that differ listed with each run's value), a run opens in its view and
// follows its events, a stopped run resumes extended and opens, and a run is deleted after asking.
func TestRuns_CompareOpenResumeDelete(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	alpha, beta, gamma := threeRuns(t, lib)
	ctl := newControl(lib)
	s := ui.NewRuns(runStore(lib), ctl, ui.Inline{}, w)
	w.SetContent(s.Content())

	s.Tick(alpha.ID, true)
	s.Tick(gamma.ID, true)
	tapButton(t, w.Content(), "Compare ticked")
	c := s.Comparison()
	if c == nil {
		t.Fatal("no comparison shown")
	}
	want := []ui.KeyDifference{{Key: "learning_rate", Values: []string{"0.0002", "0.001"}}, {Key: "lora_dropout", Values: []string{"0.05", "—"}}}
	if got := c.Differences(); !slices.EqualFunc(got, want, func(a, b ui.KeyDifference) bool { return a.Key == b.Key && slices.Equal(a.Values, b.Values) }) {
		t.Errorf("differences %+v, want %+v", got, want)
	}
	if !shows(w.Content(), "2 configuration keys differ:") || !shows(w.Content(), "lora_dropout") || shows(w.Content(), "could not be drawn") {
		t.Errorf("the comparison shows %q", texts(w.Content()))
	}
	if seriesLen(c.TrainChart(), "gamma") != 2 || seriesLen(c.TrainChart(), "alpha") != 4 || seriesLen(c.EvalChart(), "alpha") != 1 {
		t.Errorf("overlaid curves: %d and %d training points, want gamma's 2 and alpha's 4", seriesLen(c.TrainChart(), "gamma"), seriesLen(c.TrainChart(), "alpha"))
	}
	tapButton(t, w.Content(), "All runs")

	s.Select(gamma.ID)
	tapButton(t, w.Content(), "Resume…")
	form := overlay(t, w)
	if !shows(form, "continues from its last checkpoint, step 2") {
		t.Errorf("the resume dialog says %q", texts(form))
	}
	typeInto(t, form, "12")
	tapButton(t, form, "Resume")
	if got, ok := ctl.resumed[gamma.ID]; !ok || got != 12 {
		t.Errorf("resumed %v, want gamma to 12 steps", ctl.resumed)
	}
	if v := s.View(); v == nil || v.ID() != gamma.ID {
		t.Fatal("the resumed run is not opened")
	}
	s.Event(gamma.ID, stamp(time.Now(), run.Event{Type: run.EventStarted, TotalStep: 12, Resumed: true})[0])
	s.Event(beta.ID, stamp(time.Now(), run.Event{Type: run.EventStarted, TotalStep: 99})[0]) // another run's: not this view's
	if got := s.View().ProgressText(); got != "Running: step 2 of 12 · 900 tokens/s" {
		t.Errorf("the opened run after its resume event: %q", got)
	}
	tapButton(t, w.Content(), "All runs")

	s.Select(beta.ID)
	tapButton(t, w.Content(), "Delete…")
	tapButton(t, overlay(t, w), "Delete")
	if withFolder, ok := ctl.deleted[beta.ID]; !ok || withFolder {
		t.Errorf("deleted %v, want beta without its folder", ctl.deleted)
	}
	if got := names(s.Rows()); slices.Contains(got, "beta") {
		t.Errorf("after the delete the table lists %v", got)
	}
	s.Open(alpha.ID)
	if v := s.View(); v == nil || v.ID() != alpha.ID || !shows(w.Content(), "Finished at step 4 of 4") {
		t.Errorf("opened alpha shows %q", texts(w.Content()))
	}
}

// TestRuns_Record ensures the table follows the supervisor's records of runs, new ones included.
func TestRuns_Record(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	alpha, _, _ := threeRuns(t, lib)
	s := ui.NewRuns(runStore(lib), newControl(lib), ui.Inline{}, w)
	w.SetContent(s.Content())
	alpha.Status = storage.StatusRunning
	s.Record(alpha)
	s.Record(storage.Run{ID: 99, Name: "delta", Status: storage.StatusRunning, Created: time.Now()})
	s.Filter("running")
	if got := names(s.Rows()); !slices.Equal(got, []string{"delta", "alpha"}) {
		t.Errorf("running runs %v, want delta and alpha", got)
	}
}
