package app

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// demoSetting is the library setting that keeps the answer "No thanks" to the first launch's
// offer of the demo.
const demoSetting = "first-launch.demo"

// DemoLibrary is what the first launch needs of the library. *storage.Library has it.
type DemoLibrary interface {
	Dir() string
	Models() ([]storage.Model, error)
	Runs() ([]storage.Run, error)
	Setting(key string) (string, bool, error)
	SetSetting(key, value string) error
	Lend(fn func() error) error
}

// Demo is the first launch's demo fine-tune: `qlora demo --library DIR` as a child, which imports
// the demo model and dataset into the library, fine-tunes, and prints the held-out score before
// and after.
type Demo struct {
	DemoLibrary
	Engine Engine
}

// ShouldOffer says whether to offer the demo: the library holds no model and no run, and the
// offer was not declined before.
func (d Demo) ShouldOffer() (bool, error) {
	if _, declined, err := d.Setting(demoSetting); err != nil || declined {
		return false, err
	}
	models, err := d.Models()
	if err != nil {
		return false, err
	}
	runs, err := d.Runs()
	return len(models) == 0 && len(runs) == 0, err
}

// DeclineDemo remembers "No thanks".
func (d Demo) DeclineDemo() error { return d.SetSetting(demoSetting, "declined") }

// RunDemo runs the demo with the library lent to it (the demo records its model, dataset and run
// itself), handing over every line it prints, its progress on stderr and its results on stdout.
func (d Demo) RunDemo(ctx context.Context, line func(string)) error {
	return d.Lend(func() error {
		return d.Engine.run(ctx, engineCommand{args: []string{"demo", "--library", d.Dir()}, stdout: line, stderr: line})
	})
}

// offerDemo offers the demo when the library is empty and an engine can run it; once the demo
// has ended, the screens read the library again and the playground comes to the front. It runs
// off the UI goroutine.
func offerDemo(d Demo, main *ui.Main, w fyne.Window, bridge *Bridge) {
	if d.Engine.Path == "" {
		return
	}
	ok, err := d.ShouldOffer()
	if err != nil {
		bridge.Problem(fmt.Errorf("reading the library: %w", err))
	}
	if !ok {
		return
	}
	fyne.Do(func() {
		ui.NewDemoOffer(d, ui.Background{}, w, func(err error) {
			main.Reload()
			if err == nil {
				main.Show(ui.TabPlayground)
			}
		}).Show()
	})
}
