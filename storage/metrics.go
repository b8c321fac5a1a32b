package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Point is one training step's metrics. Fields a step did not report are NaN (floats) or 0.
type Point struct {
	Step        int
	Time        time.Time // to the millisecond, as the events file has it
	Epoch       float64
	Loss        float64
	LR          float64
	GradNorm    float64
	Tokens      int64 // target tokens counted in the step
	TokensPerS  float64
	MemoryBytes int64
	// GPUUtil is the percent of NVML's last sample period the GPU was busy: NaN when unknown (on
	// the CPU, and in points indexed before the events reported it).
	GPUUtil float64
}

// EvalPoint is one evaluation's metrics.
type EvalPoint struct {
	Step       int
	Time       time.Time
	Epoch      float64
	Loss       float64
	Perplexity float64
	Best       bool
}

// Range selects points by step and by time; zero values leave that end open. Both bounds are
// inclusive.
type Range struct {
	FromStep, ToStep int
	Since, Until     time.Time
}

// A run's series live in the bucket metrics/<id>, in three buckets:
//
//	s: step (8 bytes, big-endian) → Point, encoded by encodePoint
//	e: step → EvalPoint, encoded by encodeEvalPoint
//	t: time (8 bytes, ms, sign-flipped big-endian) + kind ('s' or 'e') + step → empty: the time index
//
// A resumed run repeats the steps after its checkpoint: the later point replaces the earlier one,
// and its time key goes with it.
var (
	seriesSteps = []byte("s")
	seriesEvals = []byte("e")
	seriesTime  = []byte("t")
)

// A point's encoding is a version byte and its fields, little-endian. Version 2 appends the GPU's
// utilisation to version 1's fields. Points are never rewritten: decodePoint reads both versions, a
// version-1 point's utilisation unknown, so a library indexed by an older build keeps every point as
// it is, with no migration, and a run indexed on both sides of the change mixes them.
const (
	pointV1       = 1
	pointV1Size   = 1 + 8*8
	pointVersion  = 2
	pointSize     = pointV1Size + 8
	evalVersion   = 1
	evalPointSize = 1 + 8*4 + 1
	timeKeySize   = 8 + 1 + 8
)

// encodePoint writes p into b (pointSize bytes) in the latest version.
func encodePoint(b []byte, p Point) {
	b[0] = pointVersion
	le := binary.LittleEndian
	le.PutUint64(b[1:], uint64(p.Time.UnixMilli()))
	le.PutUint64(b[9:], math.Float64bits(p.Epoch))
	le.PutUint64(b[17:], math.Float64bits(p.Loss))
	le.PutUint64(b[25:], math.Float64bits(p.LR))
	le.PutUint64(b[33:], math.Float64bits(p.GradNorm))
	le.PutUint64(b[41:], uint64(p.Tokens))
	le.PutUint64(b[49:], math.Float64bits(p.TokensPerS))
	le.PutUint64(b[57:], uint64(p.MemoryBytes))
	le.PutUint64(b[65:], math.Float64bits(p.GPUUtil))
}

// decodePoint reads a point stored under step, of either version.
func decodePoint(step uint64, b []byte) (Point, error) {
	v1 := len(b) == pointV1Size && b[0] == pointV1
	if !v1 && (len(b) != pointSize || b[0] != pointVersion) {
		return Point{}, fmt.Errorf("%w: metric point of step %d: %d bytes, version %d", ErrCorrupt, step, len(b), firstByte(b))
	}
	if step > math.MaxInt32 {
		return Point{}, fmt.Errorf("%w: metric point of step %d", ErrCorrupt, step)
	}
	le := binary.LittleEndian
	util := math.NaN()
	if !v1 {
		util = math.Float64frombits(le.Uint64(b[65:]))
	}
	return Point{
		Step:        int(step),
		Time:        time.UnixMilli(int64(le.Uint64(b[1:]))).UTC(),
		Epoch:       math.Float64frombits(le.Uint64(b[9:])),
		Loss:        math.Float64frombits(le.Uint64(b[17:])),
		LR:          math.Float64frombits(le.Uint64(b[25:])),
		GradNorm:    math.Float64frombits(le.Uint64(b[33:])),
		Tokens:      int64(le.Uint64(b[41:])),
		TokensPerS:  math.Float64frombits(le.Uint64(b[49:])),
		MemoryBytes: int64(le.Uint64(b[57:])),
		GPUUtil:     util,
	}, nil
}

func encodeEvalPoint(b []byte, p EvalPoint) {
	b[0] = evalVersion
	le := binary.LittleEndian
	le.PutUint64(b[1:], uint64(p.Time.UnixMilli()))
	le.PutUint64(b[9:], math.Float64bits(p.Epoch))
	le.PutUint64(b[17:], math.Float64bits(p.Loss))
	le.PutUint64(b[25:], math.Float64bits(p.Perplexity))
	b[33] = 0
	if p.Best {
		b[33] = 1
	}
}

func decodeEvalPoint(step uint64, b []byte) (EvalPoint, error) {
	if len(b) != evalPointSize || b[0] != evalVersion || b[33] > 1 || step > math.MaxInt32 {
		return EvalPoint{}, fmt.Errorf("%w: eval point of step %d: %d bytes, version %d", ErrCorrupt, step, len(b), firstByte(b))
	}
	le := binary.LittleEndian
	return EvalPoint{
		Step:       int(step),
		Time:       time.UnixMilli(int64(le.Uint64(b[1:]))).UTC(),
		Epoch:      math.Float64frombits(le.Uint64(b[9:])),
		Loss:       math.Float64frombits(le.Uint64(b[17:])),
		Perplexity: math.Float64frombits(le.Uint64(b[25:])),
		Best:       b[33] == 1,
	}, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// timeKey orders by time (flipping the sign bit so that times before 1970 sort first), then kind,
// then step.
func timeKey(b []byte, ms int64, kind byte, step uint64) {
	binary.BigEndian.PutUint64(b, uint64(ms)^(1<<63))
	b[8] = kind
	binary.BigEndian.PutUint64(b[9:], step)
}

// pointTime is the time stored in an encoded point (either kind), in ms.
func pointTime(b []byte) int64 {
	if len(b) < 9 {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(b[1:]))
}

// series is a run's metrics bucket and its three buckets, created when missing.
type series struct{ steps, evals, times *bolt.Bucket }

func openSeries(tx *bolt.Tx, id uint64) (series, error) {
	run, err := tx.Bucket(bucketMetrics).CreateBucketIfNotExists(u64(id))
	if err != nil {
		return series{}, err
	}
	var s series
	for _, x := range []struct {
		b    **bolt.Bucket
		name []byte
	}{{&s.steps, seriesSteps}, {&s.evals, seriesEvals}, {&s.times, seriesTime}} {
		if *x.b, err = run.CreateBucketIfNotExists(x.name); err != nil {
			return series{}, err
		}
		// Points arrive in step order: fuller pages make a smaller file and faster scans.
		(*x.b).FillPercent = 0.9
	}
	return s, nil
}

// appendSeries stores points and evaluation points of run id, replacing those of the same steps.
// Keys and values are carved from one allocation, which must outlive the transaction, as bbolt asks.
func appendSeries(tx *bolt.Tx, id uint64, points []Point, evals []EvalPoint) error {
	if len(points) == 0 && len(evals) == 0 {
		return nil
	}
	s, err := openSeries(tx, id)
	if err != nil {
		return err
	}
	buf := make([]byte, len(points)*(8+pointSize+timeKeySize)+len(evals)*(8+evalPointSize+timeKeySize))
	take := func(n int) []byte {
		b := buf[:n:n]
		buf = buf[n:]
		return b
	}
	// Only a step at or below a bucket's last one can replace a point (a resume's repeats), so only
	// those look for one.
	last := map[*bolt.Bucket]uint64{}
	for _, b := range []*bolt.Bucket{s.steps, s.evals} {
		if k, _ := b.Cursor().Last(); len(k) == 8 {
			last[b] = binary.BigEndian.Uint64(k)
		}
	}
	put := func(values *bolt.Bucket, kind byte, step uint64, enc []byte, ms int64) error {
		key := take(8)
		binary.BigEndian.PutUint64(key, step)
		lastStep, seen := last[values]
		if !seen || step > lastStep {
			last[values] = step
		} else if old := values.Get(key); old != nil {
			var stale [timeKeySize]byte
			timeKey(stale[:], pointTime(old), kind, step)
			if err := s.times.Delete(stale[:]); err != nil {
				return err
			}
		}
		if err := values.Put(key, enc); err != nil {
			return err
		}
		tk := take(timeKeySize)
		timeKey(tk, ms, kind, step)
		return s.times.Put(tk, nil)
	}
	for _, p := range points {
		if p.Step < 0 {
			return fmt.Errorf("metric point with step %d", p.Step)
		}
		enc := take(pointSize)
		encodePoint(enc, p)
		if err := put(s.steps, 's', uint64(p.Step), enc, p.Time.UnixMilli()); err != nil {
			return err
		}
	}
	for _, p := range evals {
		if p.Step < 0 {
			return fmt.Errorf("eval point with step %d", p.Step)
		}
		enc := take(evalPointSize)
		encodeEvalPoint(enc, p)
		if err := put(s.evals, 'e', uint64(p.Step), enc, p.Time.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// Series reads run id's step metrics in the range, in step order.
func (l *Library) Series(id uint64, r Range) ([]Point, error) {
	var out []Point
	err := l.view(func(tx *bolt.Tx) error {
		return scanSeries(tx, id, 's', r, func(step uint64, v []byte) error {
			p, err := decodePoint(step, v)
			if err == nil {
				out = append(out, p)
			}
			return err
		})
	})
	return out, err
}

// EvalSeries reads run id's evaluations in the range, in step order.
func (l *Library) EvalSeries(id uint64, r Range) ([]EvalPoint, error) {
	var out []EvalPoint
	err := l.view(func(tx *bolt.Tx) error {
		return scanSeries(tx, id, 'e', r, func(step uint64, v []byte) error {
			p, err := decodeEvalPoint(step, v)
			if err == nil {
				out = append(out, p)
			}
			return err
		})
	})
	return out, err
}

// scanSeries calls fn for each point of one kind in the range: by the step keys, or through the
// time index when the range bounds time (a run's points are in time order once a resume's repeats
// replace the steps they repeat, so both orders agree).
func scanSeries(tx *bolt.Tx, id uint64, kind byte, r Range, fn func(step uint64, v []byte) error) error {
	if tx.Bucket(bucketRuns).Get(u64(id)) == nil {
		return fmt.Errorf("%w: no run %d", ErrNotFound, id)
	}
	run := tx.Bucket(bucketMetrics).Bucket(u64(id))
	if run == nil {
		return nil
	}
	name := seriesSteps
	if kind == 'e' {
		name = seriesEvals
	}
	values := run.Bucket(name)
	if values == nil {
		return nil
	}
	inSteps := func(step uint64) bool {
		return step >= uint64(max(r.FromStep, 0)) && (r.ToStep <= 0 || step <= uint64(r.ToStep))
	}
	if r.Since.IsZero() && r.Until.IsZero() {
		c := values.Cursor()
		for k, v := c.Seek(u64(uint64(max(r.FromStep, 0)))); k != nil; k, v = c.Next() {
			step := binary.BigEndian.Uint64(k)
			if !inSteps(step) {
				break
			}
			if err := fn(step, v); err != nil {
				return err
			}
		}
		return nil
	}
	times := run.Bucket(seriesTime)
	if times == nil {
		return nil
	}
	var start [timeKeySize]byte
	if !r.Since.IsZero() {
		timeKey(start[:], r.Since.UnixMilli(), 0, 0)
	}
	until := int64(math.MaxInt64)
	if !r.Until.IsZero() {
		until = r.Until.UnixMilli()
	}
	c := times.Cursor()
	for k, _ := c.Seek(start[:]); k != nil; k, _ = c.Next() {
		if len(k) != timeKeySize {
			return fmt.Errorf("%w: time index key of %d bytes", ErrCorrupt, len(k))
		}
		if int64(binary.BigEndian.Uint64(k)^(1<<63)) > until {
			break
		}
		step := binary.BigEndian.Uint64(k[9:])
		if k[8] != kind || !inSteps(step) {
			continue
		}
		v := values.Get(k[9:])
		if v == nil {
			return fmt.Errorf("%w: the time index names step %d, which has no point", ErrCorrupt, step)
		}
		if err := fn(step, v); err != nil {
			return err
		}
	}
	return nil
}
