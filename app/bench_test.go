package app

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// ingestRate is how many step events a second the benchmark feeds the app.
const ingestRate = 1000

// BenchmarkBridge_Ingest1000StepsPerSecond feeds the app, wired as Run wires it, b.N step events
// of the run open on the runs screen at 1,000 a second (and the library's record of the run ten
// times a second, as the supervisor sends it) through the bridge, while a probe measures the
// round trip of a fyne.Do to the UI goroutine every 10 ms. It reports the probe's p50, p99 and
// worst latency, the rate reached and the share of the time the UI goroutine was busy; the run
// view redraws its charts (off the UI goroutine) and progress at most twice a second throughout.
//
//	go test ./app/ -run '^$' -bench Ingest -benchtime 10000x
func BenchmarkBridge_Ingest1000StepsPerSecond(b *testing.B) {
	a := newUILoop(b)
	lib, err := storage.Open(filepath.Join(b.TempDir(), "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lib.Close() })
	rec, err := lib.RecordRun(storage.NewRun{Dir: filepath.Join(b.TempDir(), "run"), Model: "tiny", Dataset: "capitals",
		Plan: &storage.Plan{TotalBytes: 40 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	var bridge *Bridge
	var main *ui.Main
	fyne.DoAndWait(func() {
		w := test.NewTempWindow(b, container.NewStack())
		main = newMain(w, Library{lib}, nil, Engine{}, ui.Background{})
		w.SetContent(main.Content())
		bridge = NewBridge(main, w, "qlora")
		main.Runs.Open(rec.ID)
	})
	t0 := time.Now().Add(-time.Hour)
	stamp := func(ev run.Event, i int) *run.Event {
		ev.V, ev.Time = run.ProtocolVersion, t0.Add(time.Duration(i)*time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
		return &ev
	}
	bridge.Run(Update{RunID: rec.ID, Event: stamp(run.Event{Type: run.EventStarted, TotalStep: b.N, Backend: "cuda-bf16"}, 0)})

	stop := make(chan struct{})
	var latencies []time.Duration
	var probes sync.WaitGroup
	probes.Add(1)
	go func() { // the probe: a fyne.Do round trip every 10 ms
		defer probes.Done()
		reply := make(chan time.Duration, 1)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			sent := time.Now()
			fyne.Do(func() { reply <- time.Since(sent) })
			latencies = append(latencies, <-reply)
		}
	}()

	busy0 := a.driver.busy.Load()
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / ingestRate)); wait > 0 {
			time.Sleep(wait)
		}
		bridge.Run(Update{RunID: rec.ID, Event: stamp(run.Event{Type: run.EventStep, Step: i, Loss: run.Float(2 + 1/float64(i)),
			LR: 2e-4, TokensPerS: 4096, MemoryBytes: 30<<30 + int64(i%1000)<<20}, i)})
		if i%(ingestRate/10) == 0 {
			r := rec
			r.Status, r.Step, r.TotalSteps, r.Started = storage.StatusRunning, i, b.N, t0
			bridge.Run(Update{RunID: rec.ID, Run: &r})
		}
	}
	fyne.DoAndWait(func() {}) // every event has reached the UI
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	probes.Wait()

	// The view shows the last events within half a second, as it redraws at most twice a second.
	want := fmt.Sprintf("Running: step %d of %d", b.N, b.N)
	var shown string
	var drawn int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		fyne.DoAndWait(func() {
			shown, drawn = main.Runs.View().ProgressText(), pointsOf(main.Runs.View().LossChart(), "training loss")
		})
		if strings.HasPrefix(shown, want) && drawn == min(b.N, 1000) {
			break
		}
	}
	if !strings.HasPrefix(shown, want) || drawn != min(b.N, 1000) {
		b.Fatalf("the run view shows %q and %d points, want %q… and %d", shown, drawn, want, min(b.N, 1000))
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	if n := len(latencies); n > 0 {
		b.ReportMetric(ms(latencies[n/2]), "p50-ms")
		b.ReportMetric(ms(latencies[min(n-1, n*99/100)]), "p99-ms")
		b.ReportMetric(ms(latencies[n-1]), "max-ms")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(100*float64(a.driver.busy.Load()-busy0)/float64(elapsed), "ui-busy-%")
}
