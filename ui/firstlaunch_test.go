package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/ui"
)

// fakeDemo prints lines and ends as the test says; it records a refusal.
type fakeDemo struct {
	run      func(ctx context.Context, line func(string)) error
	declined bool
}

func (f *fakeDemo) RunDemo(ctx context.Context, line func(string)) error { return f.run(ctx, line) }
func (f *fakeDemo) DeclineDemo() error                                   { f.declined = true; return nil }

// TestDemoOffer_NoThanks ensures the offer says what the demo does and that "No thanks" is
// remembered, with nothing run.
func TestDemoOffer_NoThanks(t *testing.T) {
	w := newWindow(t)
	f := &fakeDemo{run: func(context.Context, func(string)) error { t.Error("the demo ran"); return nil }}
	ui.NewDemoOffer(f, ui.Inline{}, w, func(error) { t.Error("the demo ended") }).Show()
	offer := overlay(t, w)
	if !shows(offer, "The library is empty. Run the demo fine-tune?") {
		t.Errorf("the offer says %q", texts(offer))
	}
	tapButton(t, offer, "No thanks")
	if !f.declined {
		t.Error("the refusal is not remembered")
	}
}

// TestDemoOffer_RunShowsOutput ensures "Run the demo" runs it off the UI goroutine, shows every
// line it prints as it comes, says when it is done, and tells the app, which reads the library again.
func TestDemoOffer_RunShowsOutput(t *testing.T) {
	w := newWindow(t)
	q := ui.NewQueued()
	printed := []string{"demo model demo-base: imported", "step 1/60  loss 9.7", "  after   60/60 (100%)"}
	f := &fakeDemo{run: func(ctx context.Context, line func(string)) error {
		for _, l := range printed {
			line(l)
		}
		return nil
	}}
	ended := false
	d := ui.NewDemoOffer(f, q, w, func(err error) { ended = err == nil })
	d.Show()
	tapButton(t, overlay(t, w), "Run the demo")
	if !d.Running() || !shows(overlay(t, w), "Stop") {
		t.Fatalf("the demo is not running: %q", texts(overlay(t, w)))
	}
	if !q.Drain(wait, func() bool { return ended }) {
		t.Fatal("the demo never ended")
	}
	if d.Output() != strings.Join(printed, "\n") || !shows(overlay(t, w), "  after   60/60 (100%)") {
		t.Errorf("output %q; the dialog shows %q", d.Output(), texts(overlay(t, w)))
	}
	if !strings.HasPrefix(d.Status(), "The demo is done") {
		t.Errorf("status %q", d.Status())
	}
	tapButton(t, overlay(t, w), "Close")
	if w.Canvas().Overlays().Top() != nil {
		t.Error("Close left the dialog")
	}
}

// TestDemoOffer_Stop ensures Stop cancels the demo and says it was stopped.
func TestDemoOffer_Stop(t *testing.T) {
	w := newWindow(t)
	q := ui.NewQueued()
	f := &fakeDemo{run: func(ctx context.Context, line func(string)) error {
		line("fine-tuning")
		<-ctx.Done()
		return ctx.Err()
	}}
	var got error
	ended := false
	d := ui.NewDemoOffer(f, q, w, func(err error) { got, ended = err, true })
	d.Accept()
	q.Drain(wait, func() bool { return d.Output() == "fine-tuning" })
	tapButton(t, overlay(t, w), "Stop")
	if !q.Drain(wait, func() bool { return ended }) || got != context.Canceled || d.Status() != "The demo was stopped." {
		t.Errorf("ended %v with %v; status %q", ended, got, d.Status())
	}
}
