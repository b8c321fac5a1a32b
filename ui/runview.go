package ui

import (
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	chart "github.com/wcharczuk/go-chart/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// RunView shows one run, live while it trains: loss and learning rate by step, GPU memory and
// utilisation against the planned peak, a progress bar with the step, tokens/s and ETA, the event
// log, the samples of the latest evaluation, its configuration, and Stop, Kill and Resume. Events
// only add to its data; what is on screen is redrawn at most twice a second, the charts drawn
// off the UI goroutine, so that no stream of events can hold the window up.
type RunView struct {
	id      uint64
	store   RunStore
	control RunControl
	runner  Runner
	win     fyne.Window

	data    *runData
	loading bool
	pending []run.Event // events that came while the history was read
	redraw  *throttle
	drawing bool // a drawing of the charts is under way
	again   bool // and the data changed meanwhile

	title    *widget.Label
	status   *widget.Label
	reason   *widget.Label
	progress *widget.ProgressBar
	loss     *plotView
	memory   *plotView
	log      *widget.List
	shownLog []string
	samples  *widget.Label
	config   *widget.Label
	stopB    *widget.Button
	killB    *widget.Button
	resumeB  *widget.Button
	content  fyne.CanvasObject
}

// NewRunView builds the view of run id and starts reading its history; events given to Add
// meanwhile are kept and shown after it.
func NewRunView(id uint64, store RunStore, control RunControl, runner Runner, win fyne.Window) *RunView {
	v := &RunView{id: id, store: store, control: control, runner: runner, win: win, data: newRunData(storage.Run{ID: id})}
	v.redraw = newThrottle(redrawEvery, runner, v.refresh)
	v.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.status = widget.NewLabel("")
	v.reason = widget.NewLabel("")
	v.reason.Importance = widget.DangerImportance
	v.reason.Wrapping = fyne.TextWrapWord
	v.progress = widget.NewProgressBar()
	v.loss = newPlotView("Loss and learning rate")
	v.memory = newPlotView("Memory in use and GPU utilisation")
	v.log = widget.NewList(func() int { return len(v.shownLog) }, func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(v.shownLog[i]) })
	v.samples = widget.NewLabel("")
	v.samples.Wrapping = fyne.TextWrapWord
	v.samples.Selectable = true
	v.config = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	v.config.Selectable = true
	v.stopB = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), v.stop)
	v.killB = widget.NewButtonWithIcon("Kill", theme.CancelIcon(), v.confirmKill)
	v.killB.Importance = widget.DangerImportance
	v.resumeB = widget.NewButtonWithIcon("Resume…", theme.MediaReplayIcon(), func() {
		askResume(v.data.rec, v.control, v.runner, v.win, func() {})
	})

	buttons := container.NewHBox(v.stopB, v.killB, v.resumeB)
	head := container.NewVBox(container.NewBorder(nil, nil, nil, buttons, v.title), v.progress, v.status, v.reason)
	charts := container.NewGridWithColumns(2, v.loss.content, v.memory.content)
	tabs := container.NewAppTabs(
		container.NewTabItem("Event log", v.log),
		container.NewTabItem("Samples", container.NewVScroll(v.samples)),
		container.NewTabItem("Configuration", container.NewVScroll(v.config)),
	)
	split := container.NewVSplit(charts, tabs)
	split.Offset = 0.6
	v.content = container.NewBorder(head, nil, nil, nil, split)
	v.load()
	return v
}

// Content is the view's widget tree.
func (v *RunView) Content() fyne.CanvasObject { return v.content }

// ID is the run shown.
func (v *RunView) ID() uint64 { return v.id }

// runHistory is what the library and the run folder hold of a run when the view opens.
type runHistory struct {
	rec    storage.Run
	cfg    storage.RunConfig
	points []storage.Point
	evals  []storage.EvalPoint
	events []run.Event
}

func readHistory(store RunStore, id uint64) (h runHistory, err error) {
	if h.rec, err = store.Run(id); err != nil {
		return h, err
	}
	if h.cfg, err = store.RunConfig(id); err != nil {
		return h, err
	}
	if h.points, err = store.Series(id, storage.Range{}); err != nil {
		return h, err
	}
	if h.evals, err = store.EvalSeries(id, storage.Range{}); err != nil {
		return h, err
	}
	h.events, err = store.RunEvents(id)
	return h, err
}

// load reads the run's history, then adds the events that came meanwhile: steps and evaluations
// replace those of the same step, and the other events already read are left out.
func (v *RunView) load() {
	v.loading = true
	var h runHistory
	var err error
	v.runner.Run(func() { h, err = readHistory(v.store, v.id) }, func() {
		v.loading = false
		if err != nil {
			dialog.ShowError(fmt.Errorf("reading run %d: %w", v.id, err), v.win)
			h.rec = storage.Run{ID: v.id}
		}
		v.data.load(h.points, h.evals, h.events)
		v.data.setRecord(h.rec)
		v.config.SetText(strings.TrimSpace(h.cfg.YAML))
		seen := map[string]bool{}
		for _, ev := range h.events {
			seen[eventKey(ev)] = true
		}
		for _, ev := range v.pending {
			if !seen[eventKey(ev)] {
				v.data.add(ev)
			}
		}
		v.pending = nil
		v.redraw.poke()
	})
}

// eventKey tells events apart for the merge of the history with the events that came meanwhile.
func eventKey(ev run.Event) string {
	return ev.Type + "|" + ev.Time + "|" + strconv.Itoa(ev.Step) + "|" + ev.Path + "|" + ev.Prompt
}

// Add takes an event of the run from the engine. It must run on the UI goroutine; it only adds
// to the data, and the screen follows within half a second.
func (v *RunView) Add(ev run.Event) {
	if v.loading {
		v.pending = append(v.pending, ev)
		return
	}
	v.data.add(ev)
	v.redraw.poke()
}

// SetRecord takes the library's newer record of the run (its status, and the reason when the
// engine died without a final event).
func (v *RunView) SetRecord(r storage.Run) {
	if r.ID != v.id {
		return
	}
	v.data.setRecord(r)
	v.redraw.poke()
}

// Redraw draws everything again now (after a theme change).
func (v *RunView) Redraw() { v.refresh() }

// refresh brings the widgets up to date with the data and starts a drawing of the charts.
func (v *RunView) refresh() {
	d := v.data
	v.title.SetText(runTitle(d.rec))
	v.progress.SetValue(d.progress())
	v.status.SetText(d.progressText())
	v.reason.SetText(d.rec.Reason)
	if d.rec.Reason == "" {
		v.reason.Hide()
	} else {
		v.reason.Show()
	}
	running := d.rec.Status == storage.StatusRunning
	enable(v.stopB, running)
	enable(v.killB, running)
	enable(v.resumeB, !running && len(d.rec.Checkpoints) > 0)
	if len(v.shownLog) != len(d.log) || (len(d.log) > 0 && v.shownLog[len(v.shownLog)-1] != d.log[len(d.log)-1]) {
		v.shownLog = append(v.shownLog[:0], d.log...)
		v.log.Refresh()
		v.log.ScrollToBottom()
	}
	v.samples.SetText(samplesText(d.samples))
	v.drawCharts()
}

// drawCharts draws the charts from a copy of the data off the UI goroutine, one drawing at a time.
func (v *RunView) drawCharts() {
	if v.drawing {
		v.again = true
		return
	}
	v.drawing = true
	loss, memory := v.data.plots(currentLineColors())
	drawInto(v.runner, []plot{loss, memory}, []*plotView{v.loss, v.memory}, func() {
		v.drawing = false
		if v.again {
			v.again = false
			v.redraw.poke()
		}
	})
}

// runTitle names a run with what it trains.
func runTitle(r storage.Run) string {
	what := []string{r.Name}
	if r.Model != "" || r.Dataset != "" {
		what = append(what, fmt.Sprintf("%s on %s", orDash(r.Model), orDash(r.Dataset)))
	}
	if r.Preset != "" {
		what = append(what, "preset "+r.Preset)
	}
	if r.Backend != "" {
		what = append(what, r.Backend)
	}
	return strings.Join(what, " · ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// samplesText lists an evaluation's generations.
func samplesText(samples []run.Event) string {
	if len(samples) == 0 {
		return "No samples yet: they are generated at each evaluation (eval_steps, eval_samples)."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "At step %d:\n", samples[0].Step)
	for _, s := range samples {
		fmt.Fprintf(&b, "\n%s\n→ %s\n", strings.TrimSpace(s.Prompt), strings.TrimSpace(s.Completion))
	}
	return b.String()
}

// stop asks the run to stop: it writes a checkpoint first.
func (v *RunView) stop() {
	if err := v.control.Stop(v.id); err != nil {
		dialog.ShowError(err, v.win)
	}
}

// confirmKill asks before ending the run at once.
func (v *RunView) confirmKill() {
	last := "it has no checkpoint yet"
	if n := len(v.data.rec.Checkpoints); n > 0 {
		last = fmt.Sprintf("it can resume from its last checkpoint, step %d", v.data.rec.Checkpoints[n-1])
	}
	d := dialog.NewConfirm("Kill the run?", "Kill ends the engine at once, without a checkpoint of where it is: "+last+". Stop writes a checkpoint first.",
		func(ok bool) {
			if !ok {
				return
			}
			if err := v.control.Kill(v.id); err != nil {
				dialog.ShowError(err, v.win)
			}
		}, v.win)
	d.SetConfirmText("Kill")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// The figures the view shows, for tests.

// ProgressText is the line under the progress bar.
func (v *RunView) ProgressText() string { return v.status.Text }

// Progress is the share of the steps done the bar shows.
func (v *RunView) Progress() float64 { return v.progress.Value }

// Reason is why the run failed or stopped, as shown; "" when it did not.
func (v *RunView) Reason() string { return v.reason.Text }

// Log is the event log as shown.
func (v *RunView) Log() []string { return v.shownLog }

// SamplesText is the samples panel's text.
func (v *RunView) SamplesText() string { return v.samples.Text }

// ConfigText is the configuration panel's text.
func (v *RunView) ConfigText() string { return v.config.Text }

// LossChart is the loss chart last drawn.
func (v *RunView) LossChart() chart.Chart { return v.loss.chart }

// MemoryChart is the memory chart last drawn.
func (v *RunView) MemoryChart() chart.Chart { return v.memory.chart }
