package app

import (
	"os"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	chart "github.com/wcharczuk/go-chart/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// desk is the app as Run wires it, on a UI goroutine of its own: the window's screens, the
// bridge, and a supervisor of a real engine on the demo library.
type desk struct {
	app  *loopApp
	lib  *storage.Library
	main *ui.Main
	runs *Runs
	sup  *Supervisor
}

func newDesk(t *testing.T) *desk {
	t.Helper()
	d := &desk{app: newUILoop(t), lib: demoLibrary(t)}
	var bridge *Bridge // set before any run starts, as in Run
	engine := testEngine(t)
	d.sup = NewSupervisor(d.lib, engine, func(u Update) { bridge.Run(u) })
	d.runs = &Runs{Library: Library{d.lib}, Supervisor: d.sup}
	fyne.DoAndWait(func() {
		w := test.NewTempWindow(t, container.NewStack())
		d.main = newMain(w, Library{d.lib}, d.sup, engine, ui.Background{})
		w.SetContent(d.main.Content())
		bridge = NewBridge(d.main, w, engineBin)
	})
	t.Cleanup(func() { d.sup.Shutdown(time.Minute) })
	return d
}

// settle waits until the open run view shows what ok looks for (the view redraws within half a
// second of the last news).
func (d *desk) settle(t *testing.T, what string, ok func(v *ui.RunView) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done bool
		var shown string
		fyne.DoAndWait(func() {
			v := d.main.Runs.View()
			done = v != nil && ok(v)
			if v != nil {
				shown = v.ProgressText() + " / " + v.Reason()
			}
		})
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run view does not show %s: %q", what, shown)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunsScreen_LiveRun ensures a run started in a real engine, opened on the runs screen as it
// starts, is charted live through the bridge to the end (every step, every evaluation, its
// samples), that its end is announced by a desktop notification, and that the table lists it.
func TestRunsScreen_LiveRun(t *testing.T) {
	d := newDesk(t)
	req := demoRun("6")
	req.Sets = append(req.Sets, "eval_steps=2", "eval_samples=1")
	r, err := d.sup.Start(req)
	if err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(func() { d.main.Runs.Open(r.ID) })
	waitDone(t, d.sup, r.ID)
	want := map[string]int{"training loss": 6, "evaluation loss": 3, "memory in use": 6}
	charted := func(v *ui.RunView) bool { // the charts redraw up to half a second after the text
		for name, n := range want {
			if pointsOf(v.LossChart(), name)+pointsOf(v.MemoryChart(), name) != n {
				return false
			}
		}
		return true
	}
	d.settle(t, "the finished run, charted", func(v *ui.RunView) bool {
		return strings.HasPrefix(v.ProgressText(), "Finished at step 6 of 6") && len(v.LossChart().Series) == 3 && charted(v)
	})
	fyne.DoAndWait(func() {
		v := d.main.Runs.View()
		if !strings.Contains(v.SamplesText(), "At step 6:") {
			t.Errorf("samples %q", v.SamplesText())
		}
		rows := d.main.Runs.Rows()
		if len(rows) != 1 || rows[0].ID != r.ID || rows[0].Status != storage.StatusFinished || rows[0].Preset != "demo" {
			t.Errorf("the table lists %+v", rows)
		}
	})
	notes := d.app.notifications()
	if len(notes) != 1 || notes[0].Title != "Run "+r.Name+" finished" || !strings.Contains(notes[0].Content, "At step 6 of 6") ||
		!strings.Contains(notes[0].Content, "best eval loss") {
		t.Errorf("notifications %+v, want one saying the run finished", notes)
	}
}

// TestRunsScreen_KillAndDelete ensures a run that is going cannot be deleted, that Kill ends it
// as failed with the reason on show, and that it is then deleted with its folder.
func TestRunsScreen_KillAndDelete(t *testing.T) {
	d := newDesk(t)
	r, err := d.sup.Start(demoRun("100000"))
	if err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(func() { d.main.Runs.Open(r.ID) })
	d.settle(t, "a step", func(v *ui.RunView) bool { return strings.Contains(v.ProgressText(), "Running: step 3") })
	if err := d.runs.Delete(r.ID, true); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("deleting a run that is going: %v", err)
	}
	if err := d.runs.Kill(r.ID); err != nil {
		t.Fatal(err)
	}
	waitDone(t, d.sup, r.ID)
	d.settle(t, "why it failed", func(v *ui.RunView) bool {
		return strings.HasPrefix(v.ProgressText(), "Failed at step") && strings.Contains(v.Reason(), "killed at step")
	})
	if notes := d.app.notifications(); len(notes) != 1 || notes[0].Title != "Run "+r.Name+" failed" {
		t.Errorf("notifications %+v", notes)
	}
	if err := d.runs.Delete(r.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.Dir); !os.IsNotExist(err) {
		t.Errorf("the run folder is still there: %v", err)
	}
}

// TestRuns_RunEvents ensures a run's events other than steps are read from its folder in order,
// and that a run not started yet has none.
func TestRuns_RunEvents(t *testing.T) {
	lib := demoLibrary(t)
	runs := Runs{Library: Library{lib}}
	dir := t.TempDir()
	r, err := lib.RecordRun(storage.NewRun{Dir: dir, Model: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if events, err := runs.RunEvents(r.ID); err != nil || len(events) != 0 {
		t.Fatalf("before the run starts: %v %v", events, err)
	}
	lines := `{"v":1,"type":"started","time":"2025-03-01T12:00:00.000Z","total_steps":2}
{"v":1,"type":"step","time":"2025-03-01T12:00:01.000Z","step":1,"loss":2}
{"v":1, "type": "step", "time":"2025-03-01T12:00:02.000Z","step":2,"loss":1.5}
{"v":1,"type":"eval","time":"2025-03-01T12:00:02.500Z","step":2,"eval_loss":1.4}
{"v":1,"type":"finished","time":"2025-03-01T12:00:03.000Z","step":2}
{"v":1,"type":"sample","step":2,"prompt":"torn`
	if err := os.WriteFile(dir+"/"+run.EventsFile, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := runs.RunEvents(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	if strings.Join(types, " ") != "started eval finished" {
		t.Errorf("events %v, want started, eval and finished", types)
	}
}

// TestBackendKind ensures a run resumes on the kind of backend it trained on.
func TestBackendKind(t *testing.T) {
	for backend, want := range map[string]string{"cpu-float32": "cpu", "cuda-bf16": "cuda", "": "auto"} {
		if got := backendKind(backend); got != want {
			t.Errorf("backendKind(%q) = %q, want %q", backend, got, want)
		}
	}
}

// pointsOf is the number of points of a chart's line named name, 0 when it has none.
func pointsOf(c chart.Chart, name string) int {
	for _, s := range c.Series {
		if cs, ok := s.(chart.ContinuousSeries); ok && cs.Name == name {
			return len(cs.XValues)
		}
	}
	return 0
}
