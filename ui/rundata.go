package ui

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"fyne.io/fyne/v2/theme"
	chart "github.com/wcharczuk/go-chart/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// The run's figures by step, as the charts draw them. Values a step did not report are NaN.
type (
	stepPoint struct {
		step             int
		loss, lr, tokens float64 // tokens: tokens per second
		memory           int64
		util             float64 // the GPU's utilisation in percent
	}
	evalPoint struct {
		step int
		loss float64
	}
	// pacePoint is when a step ended, for the ETA.
	pacePoint struct {
		step int
		at   time.Time
	}
)

// paceWindow is how many recent steps the ETA is measured over.
const paceWindow = 20

// logLines is how many lines the event log keeps (the oldest go first).
const logLines = 1000

// runData is what the run view shows of one run, built from its history (the library's series
// and its folder's events) and then from its events as they come. It lives on the UI goroutine.
type runData struct {
	rec     storage.Run // the library's record: name, status, reason, plan
	steps   []stepPoint
	evals   []evalPoint
	samples []run.Event // the latest evaluation's generations
	log     []string
	pace    []pacePoint // this execution's recent steps
	total   int         // the steps the run is set to train
	endedAt time.Time   // the time of the final event of the last execution, zero while it runs
}

func newRunData(r storage.Run) *runData { return &runData{rec: r, total: r.TotalSteps} }

// load takes a run's history: its series and its events other than steps, in order.
func (d *runData) load(points []storage.Point, evals []storage.EvalPoint, events []run.Event) {
	var started time.Time // the last execution's start: the pace is measured within it
	for _, ev := range events {
		if ev.Type == run.EventStarted {
			started = eventTime(ev)
		}
	}
	for _, p := range points {
		d.addStep(stepPoint{step: p.Step, loss: p.Loss, lr: p.LR, tokens: p.TokensPerS, memory: p.MemoryBytes, util: p.GPUUtil},
			p.Time, !p.Time.Before(started))
	}
	for _, p := range evals {
		d.addEval(evalPoint{step: p.Step, loss: p.Loss})
	}
	for _, ev := range events {
		d.addOther(ev)
	}
}

// add takes one event from the engine.
func (d *runData) add(ev run.Event) {
	switch ev.Type {
	case run.EventStep:
		d.addStep(stepPoint{step: ev.Step, loss: orNaN(ev.Loss), lr: ev.LR, tokens: ev.TokensPerS, memory: ev.MemoryBytes,
			util: percentOrNaN(ev.GPUUtil)}, eventTime(ev), true)
	case run.EventEval:
		d.addEval(evalPoint{step: ev.Step, loss: orNaN(ev.EvalLoss)})
		d.addOther(ev)
	default:
		d.addOther(ev)
	}
}

// addStep appends a step; a step at or before the last (a resume repeating the steps after its
// checkpoint) replaces those from it on, as the latest event for a step wins.
func (d *runData) addStep(p stepPoint, at time.Time, timed bool) {
	if n := len(d.steps); n > 0 && p.step <= d.steps[n-1].step {
		d.steps = cutFrom(d.steps, p.step, func(q stepPoint) int { return q.step })
	}
	d.steps = append(d.steps, p)
	if timed && !at.IsZero() {
		d.pace = append(d.pace, pacePoint{p.step, at})
		if len(d.pace) > paceWindow {
			d.pace = d.pace[1:]
		}
	}
}

func (d *runData) addEval(p evalPoint) {
	if n := len(d.evals); n > 0 && p.step <= d.evals[n-1].step {
		d.evals = cutFrom(d.evals, p.step, func(q evalPoint) int { return q.step })
	}
	d.evals = append(d.evals, p)
}

// cutFrom drops the points at step and after (points are in step order).
func cutFrom[P any](points []P, step int, stepOf func(P) int) []P {
	i := len(points)
	for i > 0 && stepOf(points[i-1]) >= step {
		i--
	}
	return points[:i]
}

// addOther takes an event that is not a step: the log, the samples, the run's state.
func (d *runData) addOther(ev run.Event) {
	switch ev.Type {
	case run.EventStep:
		return
	case run.EventStarted:
		d.pace, d.endedAt = nil, time.Time{} // a new execution: its own pace
		if ev.TotalStep > 0 {
			d.total = ev.TotalStep
		}
		d.rec.Status, d.rec.Reason = storage.StatusRunning, ""
	case run.EventSample:
		if len(d.samples) > 0 && d.samples[0].Step != ev.Step {
			d.samples = nil
		}
		d.samples = append(d.samples, ev)
	case run.EventFinished, run.EventStopped, run.EventFailed:
		d.rec.Status, d.rec.Reason = ev.Type, ev.Reason
		d.pace, d.endedAt = nil, eventTime(ev)
	}
	if line := logLine(ev); line != "" {
		d.log = append(d.log, line)
		if len(d.log) > logLines {
			d.log = d.log[len(d.log)-logLines:]
		}
	}
}

// setRecord takes the library's record of the run: its status settles how the run ended when
// the engine died without saying (killed, crashed), with the supervisor's reason. A record that
// still says running although a final event came after the last event it indexed is behind the
// events, and keeps the status they gave.
func (d *runData) setRecord(r storage.Run) {
	status, reason := d.rec.Status, d.rec.Reason
	d.rec = r
	d.total = max(d.total, r.TotalSteps)
	switch {
	case r.Status != storage.StatusRunning:
		d.pace = nil
	case !d.endedAt.IsZero() && d.endedAt.After(r.LastEvent):
		d.rec.Status, d.rec.Reason = status, reason
	}
}

// step is the last step done.
func (d *runData) step() int {
	if len(d.steps) == 0 {
		return d.rec.Step
	}
	return d.steps[len(d.steps)-1].step
}

// eta is the time the remaining steps take at this execution's recent pace; false while unknown.
func (d *runData) eta() (time.Duration, bool) {
	if d.rec.Status != storage.StatusRunning || len(d.pace) < 2 || d.total <= 0 {
		return 0, false
	}
	first, last := d.pace[0], d.pace[len(d.pace)-1]
	if last.step <= first.step {
		return 0, false
	}
	perStep := last.at.Sub(first.at) / time.Duration(last.step-first.step)
	return perStep * time.Duration(max(d.total-last.step, 0)), true
}

// progress is the share of the steps done, in [0,1].
func (d *runData) progress() float64 {
	if d.total <= 0 {
		return 0
	}
	return min(float64(d.step())/float64(d.total), 1)
}

// progressText says where the run is: the step, the pace and the ETA while it runs, how it ended
// after.
func (d *runData) progressText() string {
	at := fmt.Sprintf("step %d of %d", d.step(), d.total)
	switch d.rec.Status {
	case storage.StatusRunning:
		s := "Running: " + at
		if n := len(d.steps); n > 0 && d.steps[n-1].tokens > 0 {
			s += fmt.Sprintf(" · %.0f tokens/s", d.steps[n-1].tokens)
		}
		if eta, ok := d.eta(); ok {
			s += " · ETA " + Duration(eta)
		}
		return s
	case "":
		return "Waiting for the run's first event…"
	}
	s := fmt.Sprintf("%s at %s", statusWord(d.rec.Status), at)
	if !d.rec.Started.IsZero() && !d.rec.Ended.IsZero() {
		s += " after " + Duration(d.rec.Ended.Sub(d.rec.Started))
	}
	return s
}

// statusWord is a status as a sentence starts it.
func statusWord(status string) string {
	if status == "" {
		return ""
	}
	return string(status[0]-'a'+'A') + status[1:]
}

// logLine is an event as the log shows it; "" for those it leaves out.
func logLine(ev run.Event) string {
	at := ""
	if t := eventTime(ev); !t.IsZero() {
		at = t.Local().Format("15:04:05") + "  "
	}
	best := ""
	if ev.Best {
		best = " (best)"
	}
	switch ev.Type {
	case run.EventStarted:
		what := "started"
		if ev.Resumed {
			what = "resumed"
		}
		return fmt.Sprintf("%s%s on %s: %d steps, %s trainable parameters", at, what, ev.Backend, ev.TotalStep, Params(ev.Trainable))
	case run.EventEval:
		return fmt.Sprintf("%seval at step %d: loss %.4f, perplexity %.2f%s", at, ev.Step, orNaN(ev.EvalLoss), ev.Perplexity, best)
	case run.EventCheckpoint:
		return fmt.Sprintf("%scheckpoint at step %d%s: %s", at, ev.Step, best, ev.Path)
	case run.EventFinished, run.EventStopped, run.EventFailed:
		s := fmt.Sprintf("%s%s at step %d", at, ev.Type, ev.Step)
		if ev.Reason != "" {
			s += ": " + ev.Reason
		}
		if ev.BestEval > 0 {
			s += fmt.Sprintf(" (best eval loss %.4f)", ev.BestEval)
		}
		return s
	}
	return ""
}

// eventTime is when an event was written; zero when it does not say.
func eventTime(ev run.Event) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, ev.Time)
	return t
}

func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

func percentOrNaN(v *int) float64 {
	if v == nil {
		return math.NaN()
	}
	return float64(*v)
}

// lineColors are the theme's colours of a run's lines, read on the UI goroutine.
type lineColors struct{ loss, eval, lr, memory, plan, util color.Color }

func currentLineColors() lineColors {
	return lineColors{loss: themeColor(theme.ColorNamePrimary), eval: themeColor(theme.ColorNameWarning),
		lr: themeColor(theme.ColorNamePlaceHolder), memory: themeColor(theme.ColorNamePrimary),
		plan: themeColor(ColorNameTruncated), util: themeColor(theme.ColorNameSuccess)}
}

// plots are the run's charts, from a copy of its data: loss (training and evaluation) and the
// learning rate by step; memory in use against the planned peak, and the GPU's utilisation.
func (d *runData) plots(c lineColors) (loss, memory plot) {
	var steps, losses, lrs, mem, evalSteps, evalLosses, utilSteps, utils []float64
	var most int64
	for _, p := range d.steps {
		most = max(most, p.memory)
	}
	unit, unitName := memoryUnit(max(most, d.rec.PlanBytes))
	var memSteps []float64
	for _, p := range d.steps {
		x := float64(p.step)
		if !math.IsNaN(p.loss) && !math.IsInf(p.loss, 0) {
			steps, losses = append(steps, x), append(losses, p.loss)
		}
		lrs = append(lrs, p.lr)
		if p.memory > 0 {
			memSteps, mem = append(memSteps, x), append(mem, float64(p.memory)/unit)
		}
		if !math.IsNaN(p.util) {
			utilSteps, utils = append(utilSteps, x), append(utils, p.util)
		}
	}
	for _, p := range d.evals {
		if !math.IsNaN(p.loss) && !math.IsInf(p.loss, 0) {
			evalSteps, evalLosses = append(evalSteps, float64(p.step)), append(evalLosses, p.loss)
		}
	}
	allSteps := make([]float64, len(d.steps))
	for i, p := range d.steps {
		allSteps[i] = float64(p.step)
	}
	loss = plot{yName: "loss", y2Name: "learning rate", y2Format: func(v float64) string { return fmt.Sprintf("%.1e", v) },
		lines: []line{
			{name: "training loss", x: steps, y: losses, color: c.loss},
			{name: "evaluation loss", x: evalSteps, y: evalLosses, color: c.eval, dots: true},
			{name: "learning rate", x: allSteps, y: lrs, color: c.lr, secondary: true, dashed: true},
		}}
	memory = plot{yName: "memory (" + unitName + ")", fromZero: true, lines: []line{{name: "memory in use", x: memSteps, y: mem, color: c.memory}}}
	if d.rec.PlanBytes > 0 && len(allSteps) > 0 {
		plan := float64(d.rec.PlanBytes) / unit
		memory.lines = append(memory.lines, line{name: "planned peak", x: []float64{allSteps[0], allSteps[len(allSteps)-1]},
			y: []float64{plan, plan}, color: c.plan, dashed: true})
	}
	if len(utils) > 0 {
		memory.y2Name, memory.y2Range = "GPU utilisation (%)", &chart.ContinuousRange{Min: 0, Max: 100}
		memory.lines = append(memory.lines, line{name: "GPU utilisation", x: utilSteps, y: utils, color: c.util, secondary: true})
	}
	return loss, memory
}

// memoryUnit is the unit memory of this size reads best in: GiB from 1 GiB, else MiB.
func memoryUnit(most int64) (float64, string) {
	if most >= 1<<30 {
		return 1 << 30, "GiB"
	}
	return 1 << 20, "MiB"
}
