package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/assets"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// The app's identity, as FyneApp.toml gives it to `fyne package` (a test keeps the two equal;
// the build number there is the fyne tool's, which counts it up with each release package).
const (
	ID      = "io.github.qlora-studio.qlora-studio"
	Name    = "QLoRA Studio"
	Version = "0.1.0"
)

// themeSetting is the library setting that keeps the theme chosen (ui.ThemeChoices).
const themeSetting = "ui.theme"

// stopGrace is how long quitting waits for runs to write their checkpoint and stop before it
// kills them.
const stopGrace = 2 * time.Minute

// Run opens the library, finds the engine, shows the window and runs until it is closed.
func Run() error {
	icon := fyne.NewStaticResource("icon.png", assets.Icon)
	fyneapp.SetMetadata(fyne.AppMetadata{ID: ID, Name: Name, Version: Version, Build: 1, Icon: icon,
		Migrations: map[string]bool{"fyneDo": true}})
	a := fyneapp.NewWithID(ID)
	a.SetIcon(icon)
	w := a.NewWindow(Name)
	w.Resize(fyne.NewSize(1200, 800))

	lib, err := storage.Open("", &storage.Options{KeepOpen: true, Holder: "qlora-studio (the desktop app)"})
	if err != nil {
		showFatal(a, w, fmt.Errorf("the library cannot be opened: %w", err))
		return err
	}
	defer lib.Close()
	choice, _, _ := lib.Setting(themeSetting)
	a.Settings().SetTheme(ui.NewTheme(choice))

	library := Library{lib}
	engine, engineErr := FindEngine()
	engineText := engine.Path
	if engineErr != nil {
		engineText = engineErr.Error()
	}
	var bridge *Bridge // set before any run can start or be adopted
	sup := NewSupervisor(library, engine, func(u Update) { bridge.Run(u) })
	main := newMain(w, library, sup, engine, ui.Background{})
	bridge = NewBridge(main, w, engineText)

	w.SetMainMenu(mainMenu(a, w, main, lib, choice, bridge))
	w.SetContent(main.Content())
	w.SetCloseIntercept(func() { quit(a, w, sup) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchGPU(ctx, bridge)
	go func() {
		if _, err := sup.Adopt(); err != nil {
			bridge.Problem(fmt.Errorf("reading the runs left by the last session: %w", err))
		}
		offerDemo(Demo{DemoLibrary: lib, Engine: engine}, main, w, bridge)
	}()
	toured := make(chan error, 1)
	if os.Getenv(tourEnv) == "1" {
		go func() { toured <- tour(a, main, lib, os.Stdin, os.Stdout) }()
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if _, ok := <-signals; ok {
			sup.Shutdown(stopGrace)
			fyne.Do(a.Quit)
		}
	}()

	w.ShowAndRun()
	signal.Stop(signals)
	sup.Shutdown(stopGrace) // runs still going when the window went without asking
	select {
	case err := <-toured:
		return err
	default:
		return nil
	}
}

// mainMenu is the window's menu: imports and the cluster in File, the theme (choice, kept in the
// library) in View.
func mainMenu(a fyne.App, w fyne.Window, main *ui.Main, lib *storage.Library, choice string, bridge *Bridge) *fyne.MainMenu {
	cluster := Cluster{lib}
	return fyne.NewMainMenu(
		fyne.NewMenu("File",
			fyne.NewMenuItem("Import model folder…", func() { main.Show(ui.TabModels); main.Models.ChooseFolder() }),
			fyne.NewMenuItem("Import dataset file…", func() { main.Show(ui.TabDatasets); main.Datasets.ChooseFile() }),
			fyne.NewMenuItemSeparator(),
			fyne.NewMenuItem("Run on a cluster…", func() { ui.ShowHandoff(cluster, ui.Background{}, w) }),
			fyne.NewMenuItem("Import a run…", func() { ui.ShowImport(cluster, ui.Background{}, w) })),
		ui.ThemeMenu(choiceOrSystem(choice), func(c string) {
			a.Settings().SetTheme(ui.NewTheme(c))
			go func() {
				if err := lib.SetSetting(themeSetting, c); err != nil {
					bridge.Problem(err)
				}
			}()
		}))
}

// quit closes the app; with runs training, it asks first, then stops them (each writes a
// checkpoint and can be resumed) and waits for them.
func quit(a fyne.App, w fyne.Window, sup *Supervisor) {
	n := len(sup.Started())
	if n == 0 {
		a.Quit()
		return
	}
	msg := fmt.Sprintf("%d runs are training. Quitting stops them: each writes a checkpoint first and can be resumed later.", n)
	if n == 1 {
		msg = "A run is training. Quitting stops it: it writes a checkpoint first and can be resumed later."
	}
	d := dialog.NewConfirm("Quit while training?", msg, func(ok bool) {
		if !ok {
			return
		}
		wait := dialog.NewCustomWithoutButtons("Stopping", widget.NewProgressBarInfinite(), w)
		wait.Show()
		go func() {
			sup.Shutdown(stopGrace)
			fyne.Do(a.Quit)
		}()
	}, w)
	d.SetConfirmText("Stop and quit")
	d.Show()
}

// newMain builds the window's screens on the library, the supervisor and the engine, and shows a
// run started from the new-run form with showRun.
func newMain(w fyne.Window, library Library, sup *Supervisor, engine Engine, runner ui.Runner) *ui.Main {
	runs := Runs{Library: library, Supervisor: sup}
	main := ui.NewMain(ui.Deps{Models: library.Library, Datasets: library, Inspector: library, Library: library,
		Engine: Trainer{Library: library, Supervisor: sup}, Runs: runs, Control: runs, Runner: runner, Window: w,
		Exporter: Exporter{ExportLibrary: library.Library, Engine: engine}, Generator: Playground{PlaygroundLibrary: library, Engine: engine},
		GPUCheck: engine})
	main.Train.OnStarted = func(runID uint64) { showRun(main, runID) }
	main.Train.OnCluster = func(yaml []byte, name string) {
		ui.ShowHandoffConfig(Cluster{library.Library}, name, yaml, runner, w)
	}
	return main
}

// showRun brings a run just started to the front: its live view on the Runs tab (the one place
// that connects the new-run form to the run view).
func showRun(main *ui.Main, runID uint64) {
	main.Show(ui.TabRuns)
	main.Runs.Open(runID)
}

// showFatal shows an error that keeps the app from working, and a way out.
func showFatal(a fyne.App, w fyne.Window, err error) {
	var busy *storage.BusyError
	text := err.Error()
	if errors.As(err, &busy) {
		text += "\n\nClose the other program that uses the library, then start QLoRA Studio again."
	}
	msg := widget.NewLabel(text)
	msg.Wrapping = fyne.TextWrapWord
	w.SetContent(container.NewBorder(nil, container.NewCenter(widget.NewButton("Quit", a.Quit)), nil, nil, msg))
	w.Resize(fyne.NewSize(640, 240))
	w.ShowAndRun()
}

func choiceOrSystem(choice string) string {
	for _, c := range ui.ThemeChoices {
		if c == choice {
			return c
		}
	}
	return ui.ThemeSystem
}
