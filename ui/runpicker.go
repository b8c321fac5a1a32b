package ui

import (
	"fmt"
	"path/filepath"
	"slices"

	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// runPicker is a menu of the library's runs that a screen works on: those its filter keeps.
type runPicker struct {
	menu    *widget.Select
	runs    []storage.Run
	keep    func(storage.Run) bool
	changed func() // called when the choice changes, or the chosen run is read again
}

func newRunPicker(placeholder string, keep func(storage.Run) bool, changed func()) *runPicker {
	p := &runPicker{keep: keep, changed: changed}
	p.menu = widget.NewSelect(nil, func(string) { p.changed() })
	p.menu.PlaceHolder = placeholder
	return p
}

// set offers the runs the filter keeps, with the chosen run still chosen when it is there.
func (p *runPicker) set(runs []storage.Run) {
	chosen, _ := p.chosen()
	p.runs = p.runs[:0]
	var titles []string
	for _, r := range runs {
		if p.keep(r) {
			p.runs = append(p.runs, r)
			titles = append(titles, runChoice(r))
		}
	}
	p.menu.SetOptions(titles)
	p.choose(chosen.ID)
}

// choose chooses the run with this id; another id (0) chooses the latest run.
func (p *runPicker) choose(id uint64) {
	if len(p.runs) == 0 {
		p.menu.ClearSelected()
		p.changed()
		return
	}
	i := slices.IndexFunc(p.runs, func(r storage.Run) bool { return r.ID == id })
	if i < 0 {
		i = len(p.runs) - 1
	}
	if p.menu.SelectedIndex() == i {
		p.changed() // the same run, read again
		return
	}
	p.menu.SetSelectedIndex(i)
}

// chosen is the run chosen, if any.
func (p *runPicker) chosen() (storage.Run, bool) {
	i := p.menu.SelectedIndex()
	if i < 0 || i >= len(p.runs) {
		return storage.Run{}, false
	}
	return p.runs[i], true
}

// hasCheckpoint keeps the runs that have a checkpoint to use.
func hasCheckpoint(r storage.Run) bool { return len(r.Checkpoints) > 0 }

// runName is the run's name, or its folder's when it has none.
func runName(r storage.Run) string {
	if r.Name != "" {
		return r.Name
	}
	return filepath.Base(r.Dir)
}

// runChoice is a run as a menu lists it.
func runChoice(r storage.Run) string {
	return fmt.Sprintf("%s · %s · step %d/%d", runName(r), r.Status, r.Step, r.TotalSteps)
}
