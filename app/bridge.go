package app

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// Bridge hands what happens off the UI goroutine (the supervisor's updates, GPU readings) to the
// UI, with fyne.Do: the one place where engine news crosses over. Its listeners run on the UI
// goroutine, so they may touch widgets; they are added on the UI goroutine before news flows.
type Bridge struct {
	main    *ui.Main
	win     fyne.Window
	engine  string
	running map[uint64]bool // runs going, as the updates tell; touched on the UI goroutine only

	runListeners []func(Update)
}

// NewBridge hands news to the window's screens; engine describes the engine for the status bar.
func NewBridge(main *ui.Main, win fyne.Window, engine string) *Bridge {
	b := &Bridge{main: main, win: win, engine: engine, running: map[uint64]bool{}}
	main.SetEngine(b.engineLine())
	return b
}

// OnRun adds a listener for run updates.
func (b *Bridge) OnRun(fn func(Update)) { b.runListeners = append(b.runListeners, fn) }

// Run hands a supervisor update to the UI: the runs screen and the status bar follow it, and a
// run that ends is announced with a desktop notification. It may be called from any goroutine.
func (b *Bridge) Run(u Update) {
	fyne.Do(func() {
		if u.Run != nil {
			if u.Run.Status == storage.StatusRunning {
				b.running[u.RunID] = true
			} else if b.running[u.RunID] {
				delete(b.running, u.RunID)
				fyne.CurrentApp().SendNotification(endNotification(*u.Run))
			}
			b.main.SetEngine(b.engineLine())
			b.main.Runs.Record(*u.Run)
		}
		if u.Event != nil {
			b.main.Runs.Event(u.RunID, *u.Event)
		}
		for _, fn := range b.runListeners {
			fn(u)
		}
	})
}

// endNotification says how a run ended: where, and its best evaluation or why it stopped.
func endNotification(r storage.Run) *fyne.Notification {
	title := fmt.Sprintf("Run %s %s", r.Name, r.Status)
	text := fmt.Sprintf("At step %d of %d", r.Step, r.TotalSteps)
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		text += " after " + ui.Duration(r.Ended.Sub(r.Started))
	}
	if r.EvalLoss != nil {
		text += fmt.Sprintf(", best eval loss %.4f", *r.EvalLoss)
	}
	if r.Reason != "" {
		text += ": " + r.Reason
	}
	return fyne.NewNotification(title, text+".")
}

// Problem shows an error from background work that no screen waits for. It may be called from
// any goroutine.
func (b *Bridge) Problem(err error) {
	fyne.Do(func() { dialog.ShowError(err, b.win) })
}

// GPU hands a reading of the GPUs (or why there is none) to the UI. It may be called from any
// goroutine.
func (b *Bridge) GPU(r *gpuinfo.Report, err error) {
	reading := gpuReading(r, err)
	fyne.Do(func() { b.main.UpdateGPU(reading) })
}

func (b *Bridge) engineLine() string {
	line := "Engine: " + b.engine
	switch n := len(b.running); n {
	case 0:
	case 1:
		line += " · 1 run training"
	default:
		line += fmt.Sprintf(" · %d runs training", n)
	}
	return line
}

// gpuReading is a reading as the GPU panel shows it.
func gpuReading(r *gpuinfo.Report, err error) ui.GPUReading {
	var out ui.GPUReading
	switch {
	case err != nil:
		out.Problem = err.Error()
	case r == nil || len(r.Devices) == 0:
		out.Problem = "the NVIDIA driver sees no GPU"
	}
	if r == nil {
		return out
	}
	out.Driver, out.CUDA = r.Driver, r.CUDA
	for _, d := range r.Devices {
		out.Devices = append(out.Devices, ui.GPUDevice{Index: d.Index, Name: d.Name, MemoryUsed: d.MemoryUsed,
			MemoryTotal: d.MemoryTotal, Utilization: d.UtilizationGPU, TemperatureC: d.TemperatureC, PowerW: d.PowerW,
			PowerLimitW: d.PowerLimitW})
	}
	return out
}

// gpuEvery is how often the GPU panel is updated.
const gpuEvery = 3 * time.Second

// watchGPU reads the GPUs (go-nvml, through cuda/gpuinfo) every few seconds and hands each
// reading to the bridge, until ctx ends.
func watchGPU(ctx context.Context, b *Bridge) {
	t := time.NewTicker(gpuEvery)
	defer t.Stop()
	for {
		b.GPU(gpuinfo.Query())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
