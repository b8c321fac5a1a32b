package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// Refresh brings every run up to date with its folder: the metrics its events file gained since
// the last time (read from the byte offset indexed so far), its checkpoints, and its status. A run
// whose process is gone without a final event is adopted as crashed. Run folders in the library's
// runs folder that no record names are adopted too.
func (l *Library) Refresh() error {
	runs, err := l.Runs()
	if err != nil {
		return err
	}
	for _, r := range runs {
		if !needsIndex(r) {
			continue
		}
		if _, err := l.RefreshRun(r.ID); err != nil {
			return err
		}
	}
	return l.adoptFolders(runs)
}

// needsIndex says whether a run's folder may hold news: it is running, or its events file is not
// the size indexed.
func needsIndex(r Run) bool {
	if r.Status == StatusRunning {
		return true
	}
	st, err := os.Stat(filepath.Join(r.Dir, run.EventsFile))
	return err == nil && st.Size() != r.Indexed
}

// adoptFolders records the run folders under the library's runs folder that no record names.
func (l *Library) adoptFolders(known []Run) error {
	entries, err := os.ReadDir(filepath.Join(l.dir, RunsDir))
	if err != nil {
		return nil // no runs folder: nothing to adopt
	}
	dirs := map[string]bool{}
	for _, r := range known {
		dirs[r.Dir] = true
	}
	for _, e := range entries {
		dir := filepath.Join(l.dir, RunsDir, e.Name())
		if !e.IsDir() || dirs[dir] {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, run.ConfigFile)); err != nil {
			continue
		}
		if _, err := l.AdoptRun(dir); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
	}
	return nil
}

// RefreshRun brings one run up to date with its folder; see Refresh.
func (l *Library) RefreshRun(id uint64) (Run, error) {
	var out Run
	err := l.with(func(db *bolt.DB) error {
		var r Run
		if err := db.View(func(tx *bolt.Tx) (err error) {
			r, err = getRun(tx, id)
			return err
		}); err != nil {
			return err
		}
		batch, err := readEvents(filepath.Join(r.Dir, run.EventsFile), r.Indexed)
		if err != nil {
			return err
		}
		checkpoints, _ := run.Checkpoints(r.Dir)
		crashed := r.Status == StatusRunning && r.PID != os.Getpid() && !alive(r.PID, r.Host)
		if batch.end == r.Indexed && !batch.reset && !crashed && slices.Equal(checkpoints, r.Checkpoints) {
			out = r // nothing new: no write, so that listing runs while they train stays cheap
			return nil
		}
		return db.Update(func(tx *bolt.Tx) error {
			cur, err := getRun(tx, id)
			if err != nil {
				return err
			}
			if cur.Indexed != r.Indexed {
				out = cur // indexed meanwhile by another goroutine of this process
				return nil
			}
			if batch.reset {
				if err := resetSeries(tx, &cur); err != nil {
					return err
				}
			}
			if err := appendSeries(tx, id, batch.points, batch.evals); err != nil {
				return err
			}
			batch.apply(&cur)
			cur.Checkpoints = checkpoints
			if cur.Status == StatusRunning && cur.PID != os.Getpid() && !alive(cur.PID, cur.Host) {
				adoptCrashed(&cur)
			}
			out = cur
			return putRun(tx, cur)
		})
	})
	return out, err
}

// adoptCrashed settles a run whose process died without a final event: it ended at its last event.
func adoptCrashed(r *Run) {
	if r.PID > 0 {
		r.Reason = fmt.Sprintf("process %d ended without a final event (killed, or out of memory); resume it from its last checkpoint", r.PID)
	} else {
		r.Reason = "its events end without a final event; resume it from its last checkpoint"
	}
	r.Status, r.PID, r.Ended = StatusCrashed, 0, r.LastEvent
	if r.Ended.IsZero() {
		r.Ended = time.Now().UTC()
	}
}

// resetSeries forgets a run's indexed metrics: its events file is shorter than what was indexed,
// so it was replaced, and is read again from the start.
func resetSeries(tx *bolt.Tx, r *Run) error {
	if tx.Bucket(bucketMetrics).Bucket(u64(r.ID)) != nil {
		if err := tx.Bucket(bucketMetrics).DeleteBucket(u64(r.ID)); err != nil {
			return err
		}
	}
	r.Indexed, r.BadLines, r.Step, r.Epoch, r.Loss, r.EvalLoss, r.BestStep, r.PeakMemory, r.Resumes = 0, 0, 0, 0, nil, nil, 0, 0, 0
	return nil
}

// eventBatch is what a stretch of an events file adds to a run.
type eventBatch struct {
	reset    bool  // the file is shorter than the offset: read from the start
	end      int64 // the offset after the last complete line read
	points   []Point
	evals    []EvalPoint
	events   []run.Event // the lifecycle events (started, finished, stopped, failed), in order
	best     *EvalPoint
	badLines int
	last     time.Time // the time of the last event read
}

// readEvents reads the complete lines of an events file from offset. A last line without its
// newline (being written, or torn by a kill) is left for the next time.
func readEvents(path string, offset int64) (eventBatch, error) {
	b := eventBatch{end: offset}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return b, nil // not started yet, or the folder is gone: nothing new
	}
	if err != nil {
		return b, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return b, err
	}
	if st.Size() < offset {
		b.reset, offset, b.end = true, 0, 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return b, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return b, fmt.Errorf("%s: %w", path, err)
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	b.end = offset + int64(complete)
	b.parseParallel(data[:complete])
	return b, nil
}

// parseParallel parses complete lines on every core, in stretches that split at line ends, and
// merges the results in file order. JSON decoding is what indexing a long run costs.
func (b *eventBatch) parseParallel(data []byte) {
	const minStretch = 1 << 20
	n := min(runtime.GOMAXPROCS(0), len(data)/minStretch+1)
	if n <= 1 {
		b.parse(data)
		return
	}
	parts := make([]eventBatch, n)
	var wg sync.WaitGroup
	for i := range parts {
		end := len(data)
		if i < n-1 {
			end = bytes.IndexByte(data[len(data)/(n-i):], '\n') + len(data)/(n-i) + 1
		}
		stretch := data[:end]
		data = data[end:]
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i].parse(stretch)
		}()
	}
	wg.Wait()
	for _, p := range parts {
		b.points = append(b.points, p.points...)
		b.evals = append(b.evals, p.evals...)
		b.events = append(b.events, p.events...)
		b.badLines += p.badLines
		if p.best != nil {
			b.best = p.best
		}
		if !p.last.IsZero() {
			b.last = p.last
		}
	}
}

// parse reads complete lines of events.
func (b *eventBatch) parse(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data[:i]
		data = data[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev run.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			b.badLines++
			continue
		}
		b.add(ev)
	}
}

// add takes one event into the batch.
func (b *eventBatch) add(ev run.Event) {
	t, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err == nil {
		b.last = t
	}
	switch ev.Type {
	case run.EventStep:
		b.points = append(b.points, Point{Step: ev.Step, Time: t, Epoch: ev.Epoch, Loss: optional(ev.Loss), LR: ev.LR,
			GradNorm: optional(ev.GradNorm), Tokens: int64(ev.Tokens), TokensPerS: ev.TokensPerS, MemoryBytes: ev.MemoryBytes,
			GPUUtil: optionalPercent(ev.GPUUtil)})
	case run.EventEval:
		p := EvalPoint{Step: ev.Step, Time: t, Epoch: ev.Epoch, Loss: optional(ev.EvalLoss), Perplexity: ev.Perplexity, Best: ev.Best}
		b.evals = append(b.evals, p)
		if ev.Best {
			b.best = &p
		}
	case run.EventStarted, run.EventFinished, run.EventStopped, run.EventFailed:
		b.events = append(b.events, ev)
	}
}

// apply updates a run's summary with the batch.
func (b *eventBatch) apply(r *Run) {
	r.Indexed = b.end
	r.BadLines += b.badLines
	if !b.last.IsZero() {
		r.LastEvent = b.last
	}
	for _, p := range b.points {
		r.Step, r.Epoch, r.TokensPerS = p.Step, p.Epoch, p.TokensPerS
		if !math.IsNaN(p.Loss) {
			loss := p.Loss
			r.Loss = &loss
		}
		r.PeakMemory = max(r.PeakMemory, p.MemoryBytes)
	}
	if b.best != nil && !math.IsNaN(b.best.Loss) {
		loss := b.best.Loss
		r.EvalLoss, r.BestStep = &loss, b.best.Step
	}
	for _, ev := range b.events {
		t, _ := time.Parse(time.RFC3339Nano, ev.Time)
		switch ev.Type {
		case run.EventStarted:
			if r.Started.IsZero() {
				r.Started = t
			}
			if ev.Resumed {
				r.Resumes++
			}
			r.Status, r.Reason, r.Ended, r.Backend = StatusRunning, "", time.Time{}, ev.Backend
			if ev.TotalStep > 0 {
				r.TotalSteps = ev.TotalStep
			}
		case run.EventFinished, run.EventStopped, run.EventFailed:
			r.Status, r.Reason, r.Ended = ev.Type, ev.Reason, t
			if ev.Step > 0 {
				r.Step = ev.Step
			}
		}
	}
}

// optional is a pointer's value, or NaN for nil.
func optional(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// optionalPercent is a percentage's value, or NaN for nil.
func optionalPercent(v *int) float64 {
	if v == nil {
		return math.NaN()
	}
	return float64(*v)
}
