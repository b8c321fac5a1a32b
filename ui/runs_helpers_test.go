package ui_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	chart "github.com/wcharczuk/go-chart/v2"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// recorded reads an event stream of a real run under testdata (see testdata/README.md).
func recorded(t *testing.T, name string) []run.Event {
	t.Helper()
	events, err := run.ReadEvents(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// runStore is the runs screen's store on a real library: the app's.
func runStore(lib *storage.Library) app.Runs { return app.Runs{Library: app.Library{Library: lib}} }

// newRun records a run in lib with this configuration and planned peak, its folder holding events
// (written as the engine writes them), and indexes them.
func newRun(t *testing.T, lib *storage.Library, nr storage.NewRun, events ...run.Event) storage.Run {
	t.Helper()
	if nr.Dir == "" {
		nr.Dir = filepath.Join(t.TempDir(), "run")
	}
	if err := os.MkdirAll(nr.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nr.PID = os.Getpid()
	r, err := lib.RecordRun(nr)
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, nr.Dir, events)
	if r, err = lib.RefreshRun(r.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

func writeEvents(t *testing.T, dir string, events []run.Event) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, run.EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ev := range events {
		line, _ := json.Marshal(ev)
		f.Write(append(line, '\n'))
	}
}

// stamp gives events the protocol version and times one second apart from start.
func stamp(start time.Time, events ...run.Event) []run.Event {
	for i := range events {
		events[i].V = run.ProtocolVersion
		events[i].Time = start.Add(time.Duration(i) * time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return events
}

// control records what the screens ask of runs; Delete removes the run from the library.
type control struct {
	lib     *storage.Library
	stopped []uint64
	killed  []uint64
	resumed map[uint64]int // run → the length asked (0: its own)
	deleted map[uint64]bool
}

func newControl(lib *storage.Library) *control {
	return &control{lib: lib, resumed: map[uint64]int{}, deleted: map[uint64]bool{}}
}

func (c *control) Stop(id uint64) error { c.stopped = append(c.stopped, id); return nil }
func (c *control) Kill(id uint64) error { c.killed = append(c.killed, id); return nil }
func (c *control) Resume(id uint64, maxSteps int) error {
	c.resumed[id] = maxSteps
	return nil
}
func (c *control) Delete(id uint64, withFolder bool) error {
	c.deleted[id] = withFolder
	return c.lib.RemoveRun(id, withFolder)
}

// queued is a Runner whose work waits until flush: what comes meanwhile comes while it works.
type queued struct {
	ui.Inline
	jobs []func()
}

func (q *queued) Run(work, then func()) { q.jobs = append(q.jobs, func() { work(); then() }) }

func (q *queued) flush() {
	for len(q.jobs) > 0 {
		job := q.jobs[0]
		q.jobs = q.jobs[1:]
		job()
	}
}

// series is the line named name of a chart drawn; ok is false when it has none.
func series(c chart.Chart, name string) (s chart.ContinuousSeries, ok bool) {
	for _, x := range c.Series {
		if cs, is := x.(chart.ContinuousSeries); is && cs.Name == name {
			return cs, true
		}
	}
	return s, false
}

// seriesLen is the number of points of the line named name; -1 when there is none.
func seriesLen(c chart.Chart, name string) int {
	if s, ok := series(c, name); ok {
		return len(s.XValues)
	}
	return -1
}
