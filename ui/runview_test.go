package ui_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	chart "github.com/wcharczuk/go-chart/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// plannedPeak is the planned peak of the test runs: 160 MiB, above the recorded runs' memory.
const plannedPeak = 160 << 20

// capitalsRun records the run the recorded streams come from (the demo model on the demo
// capitals), with its events so far.
func capitalsRun(t *testing.T, lib *storage.Library, events ...run.Event) storage.Run {
	t.Helper()
	return newRun(t, lib, storage.NewRun{Name: "capitals", Model: "demo-base", Dataset: "demo-capitals", Preset: "demo",
		Config: []byte("max_steps: 16\neval_steps: 4\n"), Plan: &storage.Plan{Backend: "cpu", TotalBytes: plannedPeak}}, events...)
}

// upTo is the events up to and including the first checkpoint of step.
func upTo(t *testing.T, events []run.Event, step int) []run.Event {
	t.Helper()
	i := slices.IndexFunc(events, func(ev run.Event) bool { return ev.Type == run.EventCheckpoint && ev.Step == step })
	if i < 0 {
		t.Fatalf("no checkpoint at step %d in the recording", step)
	}
	return events[:i+1]
}

// stepEvents are the step events among events.
func stepEvents(events []run.Event) []run.Event {
	var out []run.Event
	for _, ev := range events {
		if ev.Type == run.EventStep {
			out = append(out, ev)
		}
	}
	return out
}

// onGPU gives each step event after the first the GPU utilisation a CUDA run reports (40% plus
// the step; the recordings come from the CPU backend, which reports none), leaving the first step's
// unknown, as when NVML cannot say.
func onGPU(events []run.Event) []run.Event {
	out := slices.Clone(events)
	for i, ev := range out {
		if ev.Type == run.EventStep && ev.Step > 1 {
			percent := 40 + ev.Step
			out[i].GPUUtil = &percent
		}
	}
	return out
}

// wantUtilisation checks a chart's GPU utilisation line: step and 40% plus the step for each step
// from first to last, on the right-hand axis from 0 to 100%.
func wantUtilisation(t *testing.T, c chart.Chart, first, last int) {
	t.Helper()
	util, ok := series(c, "GPU utilisation")
	if !ok || len(util.XValues) != last-first+1 {
		t.Fatalf("GPU utilisation %+v, want steps %d to %d", util, first, last)
	}
	for i, x := range util.XValues {
		if step := first + i; x != float64(step) || util.YValues[i] != float64(40+step) {
			t.Errorf("point %d is (%v, %v), want step %d at %d%%", i, x, util.YValues[i], step, 40+step)
		}
	}
	if r := c.YAxis.Range; c.YAxis.Name != "GPU utilisation (%)" || r == nil || r.GetMin() != 0 || r.GetMax() != 100 {
		t.Errorf("right-hand axis %q over %v, want GPU utilisation (%%) from 0 to 100", c.YAxis.Name, r)
	}
}

func logHas(v *ui.RunView, text string) int {
	n := 0
	for _, line := range v.Log() {
		if strings.Contains(line, text) {
			n++
		}
	}
	return n
}

// TestRunView_RecordedRun ensures the run view fed a real run's event stream, half of it then the
// rest, charts the losses and the learning rate by step and the memory against the planned peak,
// with the GPU's utilisation where the steps report it, shows the step, tokens/s and the ETA at the
// recent pace, logs the evaluations and checkpoints, shows the latest evaluation's samples, hands Stop and Kill (after asking) on, and says how the
// run ended.
func TestRunView_RecordedRun(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	r := capitalsRun(t, lib)
	ctl := newControl(lib)
	v := ui.NewRunView(r.ID, runStore(lib), ctl, ui.Inline{}, w)
	w.SetContent(v.Content())
	events := recorded(t, "events-finished.jsonl")
	half := upTo(t, events, 8)
	for _, ev := range half {
		v.Add(ev)
	}

	steps := stepEvents(half)
	loss, ok := series(v.LossChart(), "training loss")
	if !ok || len(loss.YValues) != 8 {
		t.Fatalf("the loss chart has %d training losses, want 8", len(loss.YValues))
	}
	for i, ev := range steps {
		if loss.XValues[i] != float64(ev.Step) || loss.YValues[i] != *ev.Loss {
			t.Errorf("point %d is (%v, %v), want step %d's loss %v", i, loss.XValues[i], loss.YValues[i], ev.Step, *ev.Loss)
		}
	}
	if n := seriesLen(v.LossChart(), "evaluation loss"); n != 2 {
		t.Errorf("%d evaluation losses, want 2", n)
	}
	if n := seriesLen(v.LossChart(), "learning rate"); n != 8 {
		t.Errorf("%d learning rates, want 8", n)
	}
	if n := seriesLen(v.MemoryChart(), "memory in use"); n != 8 {
		t.Errorf("%d memory readings, want 8", n)
	}
	if n := seriesLen(v.MemoryChart(), "GPU utilisation"); n != -1 {
		t.Errorf("GPU utilisation charted (%d points) from the CPU backend's steps", n)
	}
	if plan, ok := series(v.MemoryChart(), "planned peak"); !ok || plan.YValues[0] != 160 || v.MemoryChart().YAxisSecondary.Name != "memory (MiB)" {
		t.Errorf("planned peak %+v on axis %q, want a line at 160 MiB", plan.YValues, v.MemoryChart().YAxis.Name)
	}

	first, last := eventTime(t, steps[0]), eventTime(t, steps[7])
	eta := last.Sub(first) / 7 * 8 // the pace of steps 1 to 8, over the 8 steps left
	want := "Running: step 8 of 16 · 5278 tokens/s · ETA " + ui.Duration(eta)
	if v.ProgressText() != want || v.Progress() != 0.5 {
		t.Errorf("progress %v %q, want 0.5 %q", v.Progress(), v.ProgressText(), want)
	}
	if !strings.Contains(v.SamplesText(), "At step 8:") || !strings.Contains(v.SamplesText(), "Budapest") || strings.Contains(v.SamplesText(), "so he went to bed") {
		t.Errorf("samples %q, want step 8's only", v.SamplesText())
	}
	if logHas(v, "eval at step 4: loss 9.2009, perplexity 9906.20 (best)") != 1 || logHas(v, "checkpoint at step 8 (best)") != 1 ||
		logHas(v, "started on cpu-float32: 16 steps, 148.0 K trainable parameters") != 1 {
		t.Errorf("log %q", v.Log())
	}
	tapButton(t, w.Content(), "Stop")
	tapButton(t, w.Content(), "Kill")
	tapButton(t, overlay(t, w), "Kill")
	if !slices.Equal(ctl.stopped, []uint64{r.ID}) || !slices.Equal(ctl.killed, []uint64{r.ID}) {
		t.Errorf("stopped %v, killed %v", ctl.stopped, ctl.killed)
	}

	for _, ev := range onGPU(events[len(half):]) { // as if resumed on a GPU
		v.Add(ev)
	}
	wantUtilisation(t, v.MemoryChart(), 9, 16)
	if n, e := seriesLen(v.LossChart(), "training loss"), seriesLen(v.LossChart(), "evaluation loss"); n != 16 || e != 4 {
		t.Errorf("%d training and %d evaluation losses, want 16 and 4", n, e)
	}
	if v.Progress() != 1 || !strings.HasPrefix(v.ProgressText(), "Finished at step 16 of 16") || v.Reason() != "" {
		t.Errorf("progress %v %q, reason %q", v.Progress(), v.ProgressText(), v.Reason())
	}
	if l := v.Log(); !strings.HasSuffix(l[len(l)-1], "finished at step 16 (best eval loss 1.3425)") {
		t.Errorf("last log line %q", l[len(l)-1])
	}
}

func eventTime(t *testing.T, ev run.Event) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestRunView_FailedRun ensures a real run that failed (resumed onto a base poisoned with a NaN)
// shows why, where it stopped, and its resume in the log, with no ETA.
func TestRunView_FailedRun(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	r := capitalsRun(t, lib)
	v := ui.NewRunView(r.ID, runStore(lib), newControl(lib), ui.Inline{}, w)
	w.SetContent(v.Content())
	for _, ev := range recorded(t, "events-failed.jsonl") {
		v.Add(ev)
	}
	if !strings.Contains(v.Reason(), "non-finite loss or gradient at step 9") || !shows(w.Content(), "non-finite loss or gradient at step 9") {
		t.Errorf("reason %q", v.Reason())
	}
	if v.ProgressText() != "Failed at step 8 of 16" || v.Progress() != 0.5 {
		t.Errorf("progress %v %q", v.Progress(), v.ProgressText())
	}
	if logHas(v, "resumed on cpu-float32: 16 steps") != 1 || logHas(v, "failed at step 8: non-finite loss") != 1 {
		t.Errorf("log %q", v.Log())
	}
	if n := seriesLen(v.LossChart(), "training loss"); n != 8 {
		t.Errorf("%d training losses, want 8", n)
	}
}

// TestRunView_KilledRun ensures a run whose engine died without a final event shows the
// reason the library recorded for it.
func TestRunView_KilledRun(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	events := stamp(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), run.Event{Type: run.EventStarted, TotalStep: 10, Backend: "cpu-float32"},
		run.Event{Type: run.EventStep, Step: 1, Loss: run.Float(3)}, run.Event{Type: run.EventStep, Step: 2, Loss: run.Float(2.5)})
	r := capitalsRun(t, lib)
	v := ui.NewRunView(r.ID, runStore(lib), newControl(lib), ui.Inline{}, w)
	for _, ev := range events {
		v.Add(ev)
	}
	r.Status, r.Reason, r.Step, r.LastEvent = storage.StatusFailed, "killed at step 2 (Kill); resume it from its last checkpoint", 2, eventTime(t, events[2])
	v.SetRecord(r)
	if v.Reason() != r.Reason || v.ProgressText() != "Failed at step 2 of 10" {
		t.Errorf("reason %q, progress %q", v.Reason(), v.ProgressText())
	}
}

// TestRunView_History ensures a run opened after it ended shows its charts, log, samples and
// configuration from the library and its folder, the GPU's utilisation from the steps that
// reported it.
func TestRunView_History(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	r := capitalsRun(t, lib, onGPU(recorded(t, "events-finished.jsonl"))...)
	v := ui.NewRunView(r.ID, runStore(lib), newControl(lib), ui.Inline{}, w)
	w.SetContent(v.Content())
	if n, e := seriesLen(v.LossChart(), "training loss"), seriesLen(v.LossChart(), "evaluation loss"); n != 16 || e != 4 {
		t.Errorf("%d training and %d evaluation losses, want 16 and 4", n, e)
	}
	wantUtilisation(t, v.MemoryChart(), 2, 16)
	if v.ProgressText() != "Finished at step 16 of 16 after 2s" {
		t.Errorf("progress %q", v.ProgressText())
	}
	if len(v.Log()) != 10 || logHas(v, "eval at step") != 4 || !strings.Contains(v.SamplesText(), "At step 16:") {
		t.Errorf("log %q, samples %q", v.Log(), v.SamplesText())
	}
	if v.ConfigText() != "max_steps: 16\neval_steps: 4" {
		t.Errorf("configuration %q", v.ConfigText())
	}
}

// TestRunView_EventsWhileLoading ensures events that come while the view reads the history are
// added after it, those the history already holds once.
func TestRunView_EventsWhileLoading(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	events := recorded(t, "events-finished.jsonl")
	half := upTo(t, events, 8)
	r := capitalsRun(t, lib, half...)
	runner := &queued{}
	v := ui.NewRunView(r.ID, runStore(lib), newControl(lib), runner, w)
	from := slices.IndexFunc(events, func(ev run.Event) bool { return ev.Type == run.EventEval && ev.Step == 8 })
	for _, ev := range events[from:] { // the step-8 evaluation, its samples and checkpoint are in the history
		v.Add(ev)
	}
	runner.flush()
	if logHas(v, "eval at step 8") != 1 || logHas(v, "checkpoint at step 8") != 1 || len(v.Log()) != 10 {
		t.Errorf("log %q", v.Log())
	}
	if n, e := seriesLen(v.LossChart(), "training loss"), seriesLen(v.LossChart(), "evaluation loss"); n != 16 || e != 4 {
		t.Errorf("%d training and %d evaluation losses, want 16 and 4", n, e)
	}
}

// TestRunView_ETA ensures the ETA is the steps left at the pace of the last 20 steps, and that a
// resume measures its own pace.
func TestRunView_ETA(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	r := capitalsRun(t, lib)
	v := ui.NewRunView(r.ID, runStore(lib), newControl(lib), ui.Inline{}, w)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ev run.Event, d time.Duration) run.Event {
		ev.Time = t0.Add(d).Format("2006-01-02T15:04:05.000Z")
		return ev
	}
	v.Add(at(run.Event{Type: run.EventStarted, TotalStep: 100}, 0))
	for step := 1; step <= 30; step++ {
		pace := 5 * time.Second // slow at first, then 2 s a step: the ETA follows the recent pace
		if step > 10 {
			pace = 2 * time.Second
		}
		v.Add(at(run.Event{Type: run.EventStep, Step: step, Loss: run.Float(1), TokensPerS: 1000}, time.Duration(step)*pace))
	}
	if want := "Running: step 30 of 100 · 1000 tokens/s · ETA 2m20s"; v.ProgressText() != want {
		t.Errorf("progress %q, want %q", v.ProgressText(), want)
	}
	v.Add(at(run.Event{Type: run.EventStarted, TotalStep: 100, Resumed: true}, time.Hour))
	v.Add(at(run.Event{Type: run.EventStep, Step: 31, Loss: run.Float(1)}, time.Hour+time.Second))
	if strings.Contains(v.ProgressText(), "ETA") {
		t.Errorf("after a resume with one step: %q, want no ETA yet", v.ProgressText())
	}
}
