package app

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// tourEnv, set to 1, makes the app show each screen in turn for scripts/screenshots.sh, which
// takes the pictures (the window's own capture reads back nothing under Xvfb's software GL).
const tourEnv = "QLORA_TOUR"

// settle is how long a screen gets to load what it shows (the library's lists, a generation, in
// the background) before it is announced.
const settle = 3 * time.Second

// stop is one picture of the tour: a tab, with what fill puts on it (or nothing).
type stop struct {
	name, tab string
	fill      func()
}

// tour shows each screen in turn with the library's first model and dataset and its latest run
// in it, writes "screen NAME" on out once it has settled, and goes on when a line comes on in;
// after the last screen, or when in closes, it quits the app. It runs on its own goroutine.
func tour(a fyne.App, main *ui.Main, lib *storage.Library, in io.Reader, out io.Writer) error {
	defer fyne.Do(a.Quit)
	next := bufio.NewScanner(in)
	time.Sleep(settle) // the window's first frame, the lists read
	for _, s := range stops(main, lib) {
		fyne.DoAndWait(func() { main.Show(s.tab) })
		time.Sleep(settle / 3) // the screen's lists read again
		if s.fill != nil {
			fyne.DoAndWait(s.fill)
		}
		time.Sleep(settle)
		if _, err := fmt.Fprintf(out, "screen %s\n", s.name); err != nil {
			return err
		}
		if !next.Scan() {
			return next.Err()
		}
	}
	return nil
}

// stops are the tour's pictures: every tab, each named after it in lower case, and the run view
// beside the runs table. With a model, a dataset and a run in the library, they show the first
// model and dataset, the form filled from the demo preset for them, the latest run, and in the
// playground a question the demo fine-tune never saw.
func stops(main *ui.Main, lib *storage.Library) []stop {
	var out []stop
	for _, t := range main.Tabs.Items {
		out = append(out, stop{name: strings.ToLower(t.Text), tab: t.Text})
	}
	models, _ := lib.Models()
	datasets, _ := lib.Datasets()
	runs, _ := lib.Runs()
	if len(models) == 0 || len(datasets) == 0 || len(runs) == 0 {
		return out
	}
	model, dataset, latest := models[0].Name, datasets[0].Name, runs[len(runs)-1].ID
	fills := map[string]func(){
		ui.TabModels:   func() { main.Models.Select(model) },
		ui.TabDatasets: func() { main.Datasets.Select(dataset) },
		ui.TabTrain: func() {
			main.Train.SelectPreset("demo")
			main.Train.SelectModel(model)
			main.Train.SelectDataset(dataset)
		},
		ui.TabRuns: main.Runs.Back,
		ui.TabPlayground: func() {
			main.Playground.SetPrompt("Question: What is the capital of Venezuela?\nAnswer:")
			main.Playground.SetSampling(ui.Sampling{MaxTokens: 16, TopP: 1})
			main.Playground.Generate()
		},
	}
	var staged []stop
	for _, s := range out {
		s.fill = fills[s.tab]
		staged = append(staged, s)
		if s.tab == ui.TabRuns {
			staged = append(staged, stop{name: "run", tab: ui.TabRuns, fill: func() { main.Runs.Open(latest) }})
		}
	}
	return staged
}
