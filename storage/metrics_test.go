package storage

import (
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// v1Point is a step's point as builds before version 2 wrote it: the version byte 1 and eight
// fields, little-endian, with no GPU utilisation.
func v1Point(at time.Time, loss float64, memory int64) []byte {
	b := make([]byte, 1+8*8)
	b[0] = 1
	le := binary.LittleEndian
	le.PutUint64(b[1:], uint64(at.UnixMilli()))
	le.PutUint64(b[9:], math.Float64bits(0.25)) // epoch
	le.PutUint64(b[17:], math.Float64bits(loss))
	le.PutUint64(b[25:], math.Float64bits(1e-4)) // learning rate
	le.PutUint64(b[33:], math.Float64bits(0.5))  // gradient norm
	le.PutUint64(b[41:], 100)                    // tokens
	le.PutUint64(b[49:], math.Float64bits(1000)) // tokens per second
	le.PutUint64(b[57:], uint64(memory))
	return b
}

// putPoints stores raw point values of run id under their steps, in the database file itself.
func putPoints(t *testing.T, path string, id uint64, values map[int][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		steps := tx.Bucket(bucketMetrics).Bucket(u64(id)).Bucket(seriesSteps)
		for step, v := range values {
			if err := steps.Put(u64(uint64(step)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withUtil is a step event reporting the GPU's utilisation.
func withUtil(step int, loss float64, percent int) run.Event {
	ev := stepEvent(step, loss)
	ev.GPUUtil = &percent
	return ev
}

// TestLibrary_Series_Version1Points ensures a library whose points an older build wrote (version
// 1, no utilisation) opens and reads as it is, their utilisation unknown, and that the run, resumed
// by this build, adds version-2 points with theirs: a repeated step replaces its version-1 point in
// the series and in the time index, a step that reports none keeps it unknown.
func TestLibrary_Series_Version1Points(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, _ := l.RecordRun(NewRun{Dir: dir, PID: os.Getpid()})
	events(t, dir, t0, run.Event{Type: run.EventStarted}, stepEvent(1, 3), stepEvent(2, 2.9))
	if _, err := l.RefreshRun(r.ID); err != nil {
		t.Fatal(err)
	}
	l.Close()
	putPoints(t, l.Path(), r.ID, map[int][]byte{1: v1Point(t0.Add(time.Second), 3, 1<<20), 2: v1Point(t0.Add(2*time.Second), 2.9, 2<<20)})

	l, err := Open(l.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pts, err := l.Series(r.ID, Range{})
	want := Point{Step: 1, Time: t0.Add(time.Second), Epoch: 0.25, Loss: 3, LR: 1e-4, GradNorm: 0.5, Tokens: 100, TokensPerS: 1000, MemoryBytes: 1 << 20}
	if err != nil || len(pts) != 2 || !math.IsNaN(pts[0].GPUUtil) || !math.IsNaN(pts[1].GPUUtil) {
		t.Fatalf("version-1 points %+v, %v", pts, err)
	}
	if pts[0].GPUUtil = 0; pts[0] != want {
		t.Errorf("version-1 point %+v, want %+v", pts[0], want)
	}

	events(t, dir, t0.Add(time.Minute), run.Event{Type: run.EventStarted, Resumed: true}, withUtil(2, 2.8, 0), withUtil(3, 2.7, 91), stepEvent(4, 2.6))
	if _, err := l.RefreshRun(r.ID); err != nil {
		t.Fatal(err)
	}
	for _, rg := range []Range{{}, {Since: t0}} {
		pts, err := l.Series(r.ID, rg)
		if err != nil || len(pts) != 4 {
			t.Fatalf("range %+v: points %+v, %v", rg, pts, err)
		}
		if !math.IsNaN(pts[0].GPUUtil) || pts[1].GPUUtil != 0 || pts[1].Loss != 2.8 || pts[2].GPUUtil != 91 || !math.IsNaN(pts[3].GPUUtil) {
			t.Errorf("range %+v: points %+v, want utilisation unknown, 0, 91, unknown", rg, pts)
		}
	}
}

// TestLibrary_Series_CorruptPoint ensures a point of the wrong size for its version, or of an
// unknown version, is refused as corrupt, naming its step.
func TestLibrary_Series_CorruptPoint(t *testing.T) {
	for _, c := range []struct {
		name  string
		value []byte
	}{
		{"version 2, short", append([]byte{2}, make([]byte, 8*8)...)},
		{"version 1, long", append(v1Point(t0, 3, 1), make([]byte, 8)...)},
		{"version 3", append([]byte{3}, make([]byte, 9*8)...)},
		{"empty", []byte{}},
	} {
		l := openTemp(t, nil)
		dir := runFolder(t, t.TempDir(), "r")
		r, _ := l.RecordRun(NewRun{Dir: dir})
		events(t, dir, t0, stepEvent(1, 3))
		l.RefreshRun(r.ID)
		l.Close()
		putPoints(t, l.Path(), r.ID, map[int][]byte{5: c.value})
		l, err := Open(l.Dir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Series(r.ID, Range{})
		if err == nil || !strings.Contains(err.Error(), "step 5") {
			t.Errorf("%s: error %v, want one naming step 5", c.name, err)
		}
		wantErr(t, err, ErrCorrupt)
		l.Close()
	}
}
