package ui

import (
	"context"
	"errors"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// DemoRunner runs the demo fine-tune (the app runs `qlora demo` as a child) and remembers that
// the user declined it.
type DemoRunner interface {
	// RunDemo runs the demo, calling line (from its own goroutine) with each line it prints.
	// Cancelling ctx stops it.
	RunDemo(ctx context.Context, line func(string)) error
	DeclineDemo() error
}

// demoLines is how many of the demo's last lines the dialog keeps.
const demoLines = 200

// DemoOffer is what a first launch with an empty library shows: an offer to run the demo
// fine-tune, then the demo's output as it runs.
type DemoOffer struct {
	demo   DemoRunner
	runner Runner
	win    fyne.Window
	ended  func(err error) // called on the UI goroutine when the demo has ended

	lines   []string
	cancel  context.CancelFunc // the demo going on, nil when none
	output  *widget.Label
	scroll  *container.Scroll
	status  *widget.Label
	button  *widget.Button
	running *dialog.CustomDialog
}

// NewDemoOffer prepares the offer; ended hears how the demo ended, once it has.
func NewDemoOffer(demo DemoRunner, runner Runner, win fyne.Window, ended func(err error)) *DemoOffer {
	return &DemoOffer{demo: demo, runner: runner, win: win, ended: ended}
}

// Show asks whether to run the demo.
func (d *DemoOffer) Show() {
	msg := widget.NewLabel("The library is empty. Run the demo fine-tune?\n\n" +
		"It imports a small demo model (4M parameters, trained by this project) and a dataset of questions " +
		"about capital cities, fine-tunes the model with QLoRA on the CPU in under a minute, and shows its " +
		"answers to questions it never saw, before and after. The model, the dataset and the run stay in the " +
		"library, to look at, prompt in the Playground and export.")
	msg.Wrapping = fyne.TextWrapWord
	c := dialog.NewCustomConfirm("Welcome to QLoRA Studio", "Run the demo", "No thanks",
		container.NewGridWrap(fyne.NewSize(520, 200), msg), func(ok bool) {
			if ok {
				d.Accept()
			} else {
				d.Decline()
			}
		}, d.win)
	c.Show()
}

// Decline remembers the refusal, so that the offer is not made again.
func (d *DemoOffer) Decline() {
	var err error
	d.runner.Run(func() { err = d.demo.DeclineDemo() }, func() {
		if err != nil {
			dialog.ShowError(err, d.win)
		}
	})
}

// Accept runs the demo in a dialog that shows its output; Stop ends it early.
func (d *DemoOffer) Accept() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.lines = nil
	d.output = widget.NewLabel("")
	d.output.TextStyle.Monospace = true
	d.scroll = container.NewVScroll(d.output)
	d.status = widget.NewLabel("Running the demo…")
	d.button = widget.NewButton("Stop", d.Stop)
	busy := widget.NewProgressBarInfinite()
	body := container.NewBorder(container.NewVBox(d.status, busy), container.NewCenter(d.button), nil, nil,
		container.NewGridWrap(fyne.NewSize(760, 360), d.scroll))
	d.running = dialog.NewCustomWithoutButtons("The demo fine-tune", body, d.win)
	d.running.Show()
	line := func(s string) { d.runner.Update(func() { d.add(s) }) }
	var err error
	d.runner.Run(func() { err = d.demo.RunDemo(ctx, line) }, func() {
		cancel()
		d.cancel = nil
		busy.Stop()
		busy.Hide()
		d.finished(err)
	})
}

// Stop ends the demo early.
func (d *DemoOffer) Stop() {
	if d.cancel != nil {
		d.cancel()
		d.status.SetText("Stopping…")
	}
}

// Running says whether the demo is going on.
func (d *DemoOffer) Running() bool { return d.cancel != nil }

// Output is the demo's output so far (its last lines).
func (d *DemoOffer) Output() string { return strings.Join(d.lines, "\n") }

// Status says what the demo is doing or how it ended.
func (d *DemoOffer) Status() string { return d.status.Text }

// add shows one more line of the demo's output.
func (d *DemoOffer) add(line string) {
	d.lines = append(d.lines, line)
	if len(d.lines) > demoLines {
		d.lines = d.lines[len(d.lines)-demoLines:]
	}
	d.output.SetText(d.Output())
	d.scroll.ScrollToBottom()
}

// finished says how the demo ended and turns Stop into Close.
func (d *DemoOffer) finished(err error) {
	switch {
	case errors.Is(err, context.Canceled):
		d.status.SetText("The demo was stopped.")
	case err != nil:
		d.status.SetText("The demo failed: " + err.Error())
	default:
		d.status.SetText("The demo is done: its model, dataset and run are in the library. Prompt both models in the Playground.")
	}
	d.button.SetText("Close")
	d.button.OnTapped = d.running.Hide
	d.ended(err)
}
