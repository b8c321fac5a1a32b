package storage

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestLibrary_RecordRun ensures a recorded run is found by name, id and folder, keeps its
// configuration, plan and preset, gets a unique name, and that a folder is recorded only once.
func TestLibrary_RecordRun(t *testing.T) {
	l := openTemp(t, nil)
	parent := t.TempDir()
	dir := runFolder(t, parent, "exp")
	plan := &Plan{Backend: "cpu", TotalBytes: 1 << 20, Components: []PlanComponent{{"weights", 1 << 20}}}
	r, err := l.RecordRun(NewRun{Dir: dir, Preset: "demo", Config: []byte("lora_r: 8\n"), Plan: plan, PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != 1 || r.Name != "exp" || r.Status != StatusRunning || r.PlanBytes != 1<<20 || r.Preset != "demo" {
		t.Errorf("%+v", r)
	}
	for _, ref := range []string{"exp", "1", "#1", dir, dir + "/"} {
		if got, err := l.FindRun(ref); err != nil || got.ID != 1 || got.Preset != "demo" {
			t.Errorf("FindRun(%q): %+v %v", ref, got, err)
		}
	}
	_, err = l.FindRun("2")
	wantErr(t, err, ErrNotFound)
	c, err := l.RunConfig(1)
	if err != nil || c.YAML != "lora_r: 8\n" || c.Plan.TotalBytes != 1<<20 {
		t.Errorf("%+v %v", c, err)
	}
	_, err = l.RecordRun(NewRun{Dir: dir})
	wantErr(t, err, ErrExists)
	other := runFolder(t, t.TempDir(), "exp")
	r2, err := l.RecordRun(NewRun{Dir: other})
	if err != nil || r2.Name != "exp-2" {
		t.Errorf("%+v %v", r2, err)
	}
	_, err = l.RecordRun(NewRun{Dir: runFolder(t, parent, "x"), Name: "exp"})
	wantErr(t, err, ErrExists)
}

// TestLibrary_RefreshRun_Incremental ensures metrics are indexed from the byte offset reached, a
// line being written is left for later, and the summary follows the events.
func TestLibrary_RefreshRun_Incremental(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	events(t, dir, t0, run.Event{Type: run.EventStarted, Backend: "cpu-float32", TotalStep: 4}, stepEvent(1, 3.0), stepEvent(2, 2.5))
	r, err := l.RefreshRun(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, filepath.Join(dir, run.EventsFile))
	if r.Step != 2 || *r.Loss != 2.5 || r.TotalSteps != 4 || r.Backend != "cpu-float32" || r.Indexed != size || r.Status != StatusRunning {
		t.Errorf("%+v", r)
	}
	// A line half written.
	f, _ := os.OpenFile(filepath.Join(dir, run.EventsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":1,"type":"step","time":"2025-03-01T12:00:03.000Z","step":3,"loss":2.`)
	f.Close()
	if r, _ = l.RefreshRun(r.ID); r.Indexed != size || r.Step != 2 {
		t.Errorf("the torn line was indexed: %+v", r)
	}
	f, _ = os.OpenFile(filepath.Join(dir, run.EventsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("0}\n")
	f.Close()
	events(t, dir, t0.Add(4*time.Second), run.Event{Type: run.EventEval, Step: 3, EvalLoss: run.Float(2.2), Perplexity: math.Exp(2.2), Best: true},
		stepEvent(4, 1.5), run.Event{Type: run.EventFinished, Step: 4})
	r, _ = l.RefreshRun(r.ID)
	if r.Step != 4 || *r.Loss != 1.5 || *r.EvalLoss != 2.2 || r.BestStep != 3 || r.Status != StatusFinished || r.Ended.IsZero() {
		t.Errorf("%+v", r)
	}
	pts, err := l.Series(r.ID, Range{})
	if err != nil || len(pts) != 4 || pts[2].Step != 3 || pts[2].Loss != 2.0 || !pts[2].Time.Equal(t0.Add(3*time.Second)) {
		t.Errorf("points %+v %v", pts, err)
	}
	evals, _ := l.EvalSeries(r.ID, Range{})
	if len(evals) != 1 || evals[0].Loss != 2.2 || !evals[0].Best {
		t.Errorf("evals %+v", evals)
	}
}

// TestLibrary_RefreshRun_Resumed ensures the steps a resumed run repeats replace the earlier ones,
// in the series and in the time index, and that the run counts its resume.
func TestLibrary_RefreshRun_Resumed(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	events(t, dir, t0, run.Event{Type: run.EventStarted}, stepEvent(1, 3), stepEvent(2, 2.9), stepEvent(3, 2.8))
	l.RefreshRun(r.ID)
	// Killed after step 3, resumed from the checkpoint of step 2.
	events(t, dir, t0.Add(time.Minute), run.Event{Type: run.EventStarted, Resumed: true}, stepEvent(3, 2.7), stepEvent(4, 2.6),
		run.Event{Type: run.EventStopped, Step: 4, Reason: "stopped by a signal"})
	r, _ = l.RefreshRun(r.ID)
	if r.Resumes != 1 || r.Status != StatusStopped || r.Reason != "stopped by a signal" {
		t.Errorf("%+v", r)
	}
	pts, _ := l.Series(r.ID, Range{})
	if len(pts) != 4 || pts[2].Loss != 2.7 {
		t.Fatalf("points %+v", pts)
	}
	byTime, _ := l.Series(r.ID, Range{Since: t0})
	if len(byTime) != 4 || byTime[2].Loss != 2.7 {
		t.Errorf("by time %+v", byTime)
	}
}

// TestLibrary_Series_Range ensures series are read by step and by time, bounds included.
func TestLibrary_Series_Range(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	var evs []run.Event
	for s := 1; s <= 100; s++ {
		evs = append(evs, stepEvent(s, 1/float64(s)))
		if s%10 == 0 {
			evs = append(evs, run.Event{Type: run.EventEval, Step: s, EvalLoss: run.Float(2 / float64(s))})
		}
	}
	events(t, dir, t0, evs...) // step s at t0 + (s-1 + (s-1)/10) seconds
	l.RefreshRun(r.ID)
	steps := func(pts []Point) []int {
		var out []int
		for _, p := range pts {
			out = append(out, p.Step)
		}
		return out
	}
	cases := []struct {
		r        Range
		n, first int
	}{
		{Range{}, 100, 1},
		{Range{FromStep: 50}, 51, 50},
		{Range{FromStep: 50, ToStep: 59}, 10, 50},
		{Range{Since: t0.Add(11 * time.Second)}, 90, 11}, // step 11 is the 12th event: t0+11s
		{Range{Since: t0.Add(11 * time.Second), Until: t0.Add(21 * time.Second)}, 10, 11},
		{Range{Since: t0.Add(11 * time.Second), ToStep: 15}, 5, 11},
		{Range{Until: t0.Add(-time.Second)}, 0, 0},
	}
	for _, c := range cases {
		pts, err := l.Series(r.ID, c.r)
		if err != nil || len(pts) != c.n || (c.n > 0 && pts[0].Step != c.first) {
			t.Errorf("%+v: steps %v %v", c.r, steps(pts), err)
		}
	}
	evals, _ := l.EvalSeries(r.ID, Range{Since: t0.Add(50 * time.Second)})
	if len(evals) != 6 || evals[0].Step != 50 {
		t.Errorf("evals %+v", evals)
	}
	_, err := l.Series(99, Range{})
	wantErr(t, err, ErrNotFound)
}

// TestLibrary_Refresh_AdoptsCrashed ensures a run whose process died without a final event is
// adopted as crashed, with the metrics it wrote, at the next refresh.
func TestLibrary_Refresh_AdoptsCrashed(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	pid := deadPID(t)
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: pid})
	events(t, dir, t0, run.Event{Type: run.EventStarted}, stepEvent(1, 3), stepEvent(2, 2.9))
	os.MkdirAll(run.CheckpointDir(dir, 2), 0o755)
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	r, _ = l.Run(r.ID)
	if r.Status != StatusCrashed || r.Step != 2 || !r.Ended.Equal(t0.Add(2*time.Second)) || len(r.Checkpoints) != 1 || r.Reason == "" {
		t.Errorf("%+v", r)
	}
	// Resumed by another process: running again, then finished.
	if err := l.StartRun(r.ID, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	events(t, dir, t0.Add(time.Minute), run.Event{Type: run.EventStarted, Resumed: true}, stepEvent(3, 2.8), run.Event{Type: run.EventFinished, Step: 3})
	r, _ = l.EndRun(r.ID, "")
	if r.Status != StatusFinished || r.Step != 3 || r.Resumes != 1 {
		t.Errorf("%+v", r)
	}
}

// TestLibrary_EndRun_WithoutFinalEvent ensures a run that ends before its engine wrote a final
// event (it refused its data, say) is recorded as failed with the reason given.
func TestLibrary_EndRun_WithoutFinalEvent(t *testing.T) {
	l := openTemp(t, nil)
	r, _ := l.RecordRun(NewRun{Dir: runFolder(t, t.TempDir(), "r"), PID: os.Getpid()})
	r, err := l.EndRun(r.ID, "capitals.jsonl: 3 bad rows")
	if err != nil || r.Status != StatusFailed || r.Reason != "capitals.jsonl: 3 bad rows" {
		t.Errorf("%+v %v", r, err)
	}
}

// TestLibrary_Refresh_ReplacedEventsFile ensures an events file shorter than what was indexed is
// read again from the start, its old series forgotten.
func TestLibrary_Refresh_ReplacedEventsFile(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	events(t, dir, t0, stepEvent(1, 3), stepEvent(2, 2.9), stepEvent(3, 2.8))
	l.RefreshRun(r.ID)
	os.Remove(filepath.Join(dir, run.EventsFile))
	events(t, dir, t0.Add(time.Hour), stepEvent(1, 5))
	r, _ = l.RefreshRun(r.ID)
	pts, _ := l.Series(r.ID, Range{})
	if len(pts) != 1 || pts[0].Loss != 5 || r.Step != 1 {
		t.Errorf("%+v %+v", r, pts)
	}
}

// TestLibrary_Refresh_BadLines ensures a complete line that is not an event is counted and
// skipped, never stopping the indexing of the lines after it.
func TestLibrary_Refresh_BadLines(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	events(t, dir, t0, stepEvent(1, 3))
	f, _ := os.OpenFile(filepath.Join(dir, run.EventsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n")
	f.Close()
	events(t, dir, t0, stepEvent(2, 2))
	r, _ = l.RefreshRun(r.ID)
	if r.BadLines != 1 || r.Step != 2 {
		t.Errorf("%+v", r)
	}
}

// TestLibrary_Refresh_AdoptsFolders ensures a run folder in the library's runs folder that no
// record names is adopted from its run.yaml.
func TestLibrary_Refresh_AdoptsFolders(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, filepath.Join(l.Dir(), RunsDir), "orphan")
	events(t, dir, t0, run.Event{Type: run.EventStarted}, stepEvent(1, 3), run.Event{Type: run.EventFinished, Step: 1})
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	r, err := l.FindRun("orphan")
	if err != nil || r.Status != StatusFinished || r.BaseModel != "/m" || r.Data != "/d.jsonl" {
		t.Errorf("%+v %v", r, err)
	}
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	if runs, _ := l.Runs(); len(runs) != 1 {
		t.Errorf("%d runs", len(runs))
	}
}

// TestLibrary_RemoveRun ensures removing a run forgets its series and exports, and deletes its
// folder only when asked and only when it holds a run.yaml.
func TestLibrary_RemoveRun(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir})
	events(t, dir, t0, stepEvent(1, 3))
	l.RefreshRun(r.ID)
	if _, err := l.AddExport(Export{Run: r.ID, Kind: "peft", Path: filepath.Join(dir, "adapter"), Step: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveRun(r.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Error("the folder went without being asked to")
	}
	_, err := l.Series(r.ID, Range{})
	wantErr(t, err, ErrNotFound)
	if ex, _ := l.Exports(r.ID); len(ex) != 0 {
		t.Errorf("exports %+v", ex)
	}
	// A folder that is not a run is never deleted.
	plain := t.TempDir()
	r2, _ := l.RecordRun(NewRun{Dir: plain})
	if err := l.RemoveRun(r2.ID, true); err == nil {
		t.Error("deleted a folder without run.yaml")
	}
	r3, _ := l.RecordRun(NewRun{Dir: dir})
	if err := l.RemoveRun(r3.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("folder still there: %v", err)
	}
	if err := l.Check(); err != nil {
		t.Error(err)
	}
}

// TestLibrary_Exports ensures exports are listed per run in order, and refused for unknown runs.
func TestLibrary_Exports(t *testing.T) {
	l := openTemp(t, nil)
	a, _ := l.RecordRun(NewRun{Dir: runFolder(t, t.TempDir(), "a")})
	b, _ := l.RecordRun(NewRun{Dir: runFolder(t, t.TempDir(), "b")})
	for i, k := range []string{"peft", "gguf"} {
		l.AddExport(Export{Run: a.ID, Kind: k, Path: "/out/" + k, Step: i})
	}
	l.AddExport(Export{Run: b.ID, Kind: "merged", Path: "/out/m"})
	ex, err := l.Exports(a.ID)
	if err != nil || len(ex) != 2 || ex[0].Kind != "peft" || ex[1].Kind != "gguf" {
		t.Errorf("%+v %v", ex, err)
	}
	_, err = l.AddExport(Export{Run: 42, Kind: "peft", Path: "/x"})
	wantErr(t, err, ErrNotFound)
	_, err = l.AddExport(Export{Run: a.ID, Kind: "peft", Path: "relative"})
	if err == nil {
		t.Error("a relative path was accepted")
	}
}

// TestLibrary_Concurrent ensures goroutines recording, refreshing and reading at once (run with
// -race) leave a consistent library, with the database held open or taken per operation.
func TestLibrary_Concurrent(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			l := openTemp(t, &Options{KeepOpen: keep, Timeout: 10 * time.Second})
			parent := t.TempDir()
			errs := make(chan error, 8)
			for g := 0; g < 4; g++ {
				go func() {
					var err error
					for i := 0; i < 5 && err == nil; i++ {
						dir := runFolder(t, parent, "g"+strconv.Itoa(g)+"-"+strconv.Itoa(i))
						events(t, dir, t0, stepEvent(1, 1), stepEvent(2, 0.5))
						var r Run
						if r, err = l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()}); err == nil {
							_, err = l.RefreshRun(r.ID)
						}
					}
					errs <- err
				}()
				go func() {
					var err error
					for i := 0; i < 10 && err == nil; i++ {
						if err = l.Refresh(); err == nil {
							_, err = l.Runs()
						}
					}
					errs <- err
				}()
			}
			for i := 0; i < 8; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			runs, _ := l.Runs()
			for _, r := range runs {
				if r.Step != 2 {
					t.Errorf("%s: step %d", r.Name, r.Step)
				}
				if pts, _ := l.Series(r.ID, Range{}); len(pts) != 2 {
					t.Errorf("%s: %d points", r.Name, len(pts))
				}
			}
			if len(runs) != 20 {
				t.Errorf("%d runs", len(runs))
			}
			if err := l.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
