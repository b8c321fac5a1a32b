package ui

import (
	"time"

	"fyne.io/fyne/v2"
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

// After implements Runner: at once, without waiting.
func (Inline) After(_ time.Duration, fn func()) { fn() }
