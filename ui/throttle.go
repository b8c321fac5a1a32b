package ui

import "time"

// redrawEvery is the shortest time between two redraws of a live screen: charts, progress and
// the runs table refresh at most twice a second however fast events come.
const redrawEvery = 500 * time.Millisecond

// throttle runs fn on the UI goroutine at most once per interval: a poke inside the interval is
// put off to its end, and the pokes meanwhile fold into that one call. It is used on the UI
// goroutine only.
type throttle struct {
	every time.Duration
	after func(time.Duration, func()) // schedules a call on the UI goroutine
	now   func() time.Time
	fn    func()

	last    time.Time // when fn last ran
	waiting bool      // a call is scheduled
}

func newThrottle(every time.Duration, runner Runner, fn func()) *throttle {
	return &throttle{every: every, after: runner.After, now: time.Now, fn: fn}
}

// poke asks for a call of fn: now when the last one is an interval old, else at the interval's end.
func (t *throttle) poke() {
	if t.waiting {
		return
	}
	wait := t.every - t.now().Sub(t.last)
	if wait <= 0 {
		t.fire()
		return
	}
	t.waiting = true
	t.after(wait, t.fire)
}

func (t *throttle) fire() {
	t.waiting = false
	t.last = t.now()
	t.fn()
}
