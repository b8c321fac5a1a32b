package ui

import (
	"testing"
	"time"
)

// TestThrottle_AtMostTwiceASecond ensures a stream of pokes, 1,000 a second for 3 seconds on a
// fake clock, calls fn at most once per half second: the first at once, the others at the ends of
// the intervals, and the last poke is never lost.
func TestThrottle_AtMostTwiceASecond(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var due []time.Time
	var scheduled []func()
	var calls []time.Time
	th := &throttle{every: redrawEvery, now: func() time.Time { return now }, fn: func() { calls = append(calls, now) },
		after: func(d time.Duration, fn func()) { due, scheduled = append(due, now.Add(d)), append(scheduled, fn) }}
	runDue := func() {
		for len(due) > 0 && !now.Before(due[0]) {
			fn := scheduled[0]
			due, scheduled = due[1:], scheduled[1:]
			fn()
		}
	}
	for range 3000 {
		th.poke()
		now = now.Add(time.Millisecond)
		runDue()
	}
	now = now.Add(time.Second)
	runDue()
	if len(calls) < 6 || len(calls) > 7 {
		t.Fatalf("%d calls for 3 s of pokes, want 6 or 7", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < redrawEvery {
			t.Errorf("calls %d and %d are %v apart", i-1, i, gap)
		}
	}
	if last := calls[len(calls)-1]; last.Before(now.Add(-time.Second - redrawEvery)) {
		t.Errorf("the last call at %v misses the last pokes", last)
	}
	if len(scheduled) != 0 {
		t.Errorf("%d calls still scheduled", len(scheduled))
	}
}
