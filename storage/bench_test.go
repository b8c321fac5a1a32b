package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// benchPoints are n steps of metrics from step first on, one second apart.
func benchPoints(first, n int) []Point {
	pts := make([]Point, n)
	for i := range pts {
		s := first + i
		pts[i] = Point{Step: s, Time: t0.Add(time.Duration(s) * time.Second), Epoch: float64(s) / 1000, Loss: 2 / float64(s+1),
			LR: 2e-4, GradNorm: 0.4, Tokens: 4096, TokensPerS: 5000, MemoryBytes: 40 << 30}
	}
	return pts
}

// BenchmarkAppendPoints appends metric points to one run in transactions of 100, 1,000 and 10,000
// points, as index passes of a running run do; the figure is points/s, commits (each synced to
// disk) included.
func BenchmarkAppendPoints(b *testing.B) {
	for _, batch := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := openTemp(b, &Options{KeepOpen: true})
			r, _ := l.RecordRun(NewRun{Dir: b.TempDir()})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pts := benchPoints(i*batch+1, batch)
				if err := l.update(func(tx *bolt.Tx) error { return appendSeries(tx, r.ID, pts, nil) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkIndexEvents indexes a metrics.jsonl of 100,000 step events from scratch: reading,
// parsing the JSON lines and appending the points, in one transaction.
func BenchmarkIndexEvents(b *testing.B) {
	const n = 100_000
	dir := runFolder(b, b.TempDir(), "r")
	var evs []run.Event
	for s := 1; s <= n; s++ {
		evs = append(evs, stepEvent(s, 1/float64(s)))
	}
	events(b, dir, t0, evs...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := openTemp(b, &Options{KeepOpen: true})
		r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
		b.StartTimer()
		if r, err := l.RefreshRun(r.ID); err != nil || r.Step != n {
			b.Fatal(err, r.Step)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSeries100k reads one run's whole series of 100,000 points.
func BenchmarkSeries100k(b *testing.B) {
	const n = 100_000
	l := openTemp(b, &Options{KeepOpen: true})
	r, _ := l.RecordRun(NewRun{Dir: b.TempDir()})
	if err := l.update(func(tx *bolt.Tx) error { return appendSeries(tx, r.ID, benchPoints(1, n), nil) }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts, err := l.Series(r.ID, Range{})
		if err != nil || len(pts) != n {
			b.Fatal(err, len(pts))
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkSeries100kByTime reads the last tenth of a 100,000-point series by time, through the
// time index.
func BenchmarkSeries100kByTime(b *testing.B) {
	const n = 100_000
	l := openTemp(b, &Options{KeepOpen: true})
	r, _ := l.RecordRun(NewRun{Dir: b.TempDir()})
	l.update(func(tx *bolt.Tx) error { return appendSeries(tx, r.ID, benchPoints(1, n), nil) })
	since := t0.Add(90_001 * time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if pts, err := l.Series(r.ID, Range{Since: since}); err != nil || len(pts) != n/10 {
			b.Fatal(err, len(pts))
		}
	}
}

// BenchmarkRuns10k lists a library of 10,000 runs.
func BenchmarkRuns10k(b *testing.B) {
	const n = 10_000
	l := openTemp(b, &Options{KeepOpen: true})
	loss := 1.2345
	err := l.update(func(tx *bolt.Tx) error {
		for i := 1; i <= n; i++ {
			r := Run{ID: uint64(i), Name: fmt.Sprintf("run-%05d", i), Dir: filepath.Join("/runs", fmt.Sprintf("run-%05d", i)),
				Model: "llama-3-8b", Dataset: "guanaco", BaseModel: "/models/llama-3-8b", Data: "/data/guanaco.jsonl",
				Status: StatusFinished, Created: t0, Started: t0, Ended: t0.Add(time.Hour), Backend: "cuda",
				Step: 1000, TotalSteps: 1000, Epoch: 1, Loss: &loss, EvalLoss: &loss, BestStep: 900, TokensPerS: 5000,
				PeakMemory: 40 << 30, PlanBytes: 41 << 30, Checkpoints: []int{800, 900, 1000}, Indexed: 300000}
			if err := putRun(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if runs, err := l.Runs(); err != nil || len(runs) != n {
			b.Fatal(err, len(runs))
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "runs/s")
}

// BenchmarkOperation is the cost of one short read when the library is not kept open: opening
// the database (lock, holder note, map), one transaction, closing it.
func BenchmarkOperation(b *testing.B) {
	l := openTemp(b, nil)
	for i := 0; i < b.N; i++ {
		if _, err := l.Models(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadBase puts a model's base on the CPU backend in NF4 (blocksize 64, double
// quantization), by quantizing its bfloat16 weights as a run without the library does, and by
// loading the library's cached NF4 base: for the tiny chat model of the tests (41K parameters) and
// a 50M-parameter one.
func BenchmarkLoadBase(b *testing.B) {
	for _, m := range []struct {
		name string
		dir  func(b *testing.B) string
	}{{"tiny", func(b *testing.B) string { return chatModel(b) }}, {"50M", func(b *testing.B) string { return bigModel(b, 1024, 4) }}} {
		src := m.dir(b)
		l := openTemp(b, nil)
		if _, err := l.AddModel(src, ModelOptions{Name: m.name}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cached, _, err := l.NF4(m.name, NF4Options{Blocksize: 64, DoubleQuant: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: building the cache took %v", m.name, time.Since(start))
		for _, c := range []struct{ name, dir string }{{"quantize", src}, {"cached", cached}} {
			b.Run(m.name+"/"+c.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := model.Load(cpu.New[float32](), c.dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
