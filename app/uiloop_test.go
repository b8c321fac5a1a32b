package app

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// loopApp is Fyne's test app with a UI goroutine of its own, as a desktop driver has: fyne.Do
// queues the call for that one goroutine, which runs the calls one after another. (The test
// driver runs each call at once on the caller's goroutine, so that callers on several goroutines
// would touch widgets together.) Desktop notifications are kept.
type loopApp struct {
	fyne.App
	driver *loopDriver

	mu    sync.Mutex
	notes []fyne.Notification
}

type loopDriver struct {
	fyne.Driver
	queue chan func()
	stop  chan struct{}
	busy  atomic.Int64 // nanoseconds the UI goroutine has spent running calls
}

// newUILoop makes a loopApp the current app until the test ends.
func newUILoop(t testing.TB) *loopApp {
	base := test.NewTempApp(t)
	a := &loopApp{App: base, driver: &loopDriver{Driver: base.Driver(), queue: make(chan func(), 1<<16), stop: make(chan struct{})}}
	fyne.SetCurrentApp(a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case fn := <-a.driver.queue:
				start := time.Now()
				fn()
				a.driver.busy.Add(int64(time.Since(start)))
			case <-a.driver.stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(a.driver.stop)
		<-done
	})
	return a
}

// Driver implements fyne.App.
func (a *loopApp) Driver() fyne.Driver { return a.driver }

// SendNotification implements fyne.App: the notification is kept.
func (a *loopApp) SendNotification(n *fyne.Notification) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.notes = append(a.notes, *n)
}

func (a *loopApp) notifications() []fyne.Notification {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]fyne.Notification(nil), a.notes...)
}

// DoFromGoroutine implements fyne.Driver: fn joins the UI goroutine's queue (and is dropped once
// the test has ended).
func (d *loopDriver) DoFromGoroutine(fn func(), wait bool) {
	done := make(chan struct{})
	call := fn
	if wait {
		call = func() {
			defer close(done)
			fn()
		}
	}
	select {
	case d.queue <- call:
	case <-d.stop:
		return
	}
	if wait {
		select {
		case <-done:
		case <-d.stop:
		}
	}
}
