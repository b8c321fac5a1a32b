package ui

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
)

// Runner runs a screen's slow work (a library call that hashes or copies files, tokenizing a
// dataset) away from the UI goroutine, then its continuation on the UI goroutine. Work never
// touches a widget; it hands changes over with Update, and then runs on the UI goroutine.
type Runner interface {
	Run(work func(), then func())
	Update(fn func())                 // called from work: run fn on the UI goroutine (progress)
	After(d time.Duration, fn func()) // run fn on the UI goroutine once d has passed
}

// Background is the app's Runner: work in a goroutine, handed over with fyne.Do.
type Background struct{}

// Run implements Runner.
func (Background) Run(work func(), then func()) {
	go func() {
		work()
		fyne.Do(then)
	}()
}

// Update implements Runner.
func (Background) Update(fn func()) { fyne.Do(fn) }

// After implements Runner.
func (Background) After(d time.Duration, fn func()) { time.AfterFunc(d, func() { fyne.Do(fn) }) }

// load runs fetch off the UI goroutine, then show with what it read on the UI goroutine, or the
// error in a dialog over win: how a screen reads the library.
func load[T any](r Runner, win fyne.Window, fetch func() (T, error), show func(T)) {
	var v T
	var err error
	r.Run(func() { v, err = fetch() }, func() {
		if err != nil {
			dialog.ShowError(err, win)
			return
		}
		show(v)
	})
}

// Inline runs work and then at once on the calling goroutine, so that a screen's action has
// finished when the call returns. Tests use it; it must only be called on the UI goroutine.
type Inline struct{}

// Run implements Runner.
func (Inline) Run(work func(), then func()) {
	work()
	then()
}

// Update implements Runner.
func (Inline) Update(fn func()) { fn() }

// Queued runs work in goroutines and queues their continuations and updates until Drain runs
// them on the caller's goroutine, as the UI's event loop would. Tests use it to drive screens whose
// work really runs in the background (engine children) without touching widgets from other
// goroutines. Its queue has no room: a goroutine handing something over waits until it is drained.
type Queued struct{ queue chan func() }

// NewQueued is an empty queue.
func NewQueued() *Queued { return &Queued{queue: make(chan func())} }

// Run implements Runner.
func (q *Queued) Run(work func(), then func()) {
	go func() {
		work()
		q.queue <- then
	}()
}

// Update implements Runner.
func (q *Queued) Update(fn func()) { q.queue <- fn }

// Drain runs what is handed over, waiting for more, until done reports true or timeout passes,
// and reports whether done did.
func (q *Queued) Drain(timeout time.Duration, done func() bool) bool {
	deadline := time.After(timeout)
	for !done() {
		select {
		case fn := <-q.queue:
			fn()
		case <-deadline:
			return false
		}
	}
	return true
}

// After implements Runner: fn is queued once d has passed.
func (q *Queued) After(d time.Duration, fn func()) {
	go func() {
		time.Sleep(d)
		q.queue <- fn
	}()
}

// After implements Runner: at once, without waiting.
func (Inline) After(_ time.Duration, fn func()) { fn() }
