package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// RunStore is what the runs screen reads: the library's runs, their series and configuration,
// and the events of their folders.
type RunStore interface {
	Runs() ([]storage.Run, error)
	Run(id uint64) (storage.Run, error)
	RunConfig(id uint64) (storage.RunConfig, error)
	Series(id uint64, r storage.Range) ([]storage.Point, error)
	EvalSeries(id uint64, r storage.Range) ([]storage.EvalPoint, error)
	// RunEvents reads the events of the run's folder other than steps, in order: its log and
	// its samples.
	RunEvents(id uint64) ([]run.Event, error)
}

// RunControl is what the runs screen does to runs.
type RunControl interface {
	Stop(id uint64) error // a checkpoint, then the end
	Kill(id uint64) error // the end at once
	// Resume continues a run from its last checkpoint; maxSteps > 0 sets its new length.
	Resume(id uint64, maxSteps int) error
	// Delete removes a run from the library, and its folder (checkpoints and exports) when
	// withFolder; a run that is going is refused.
	Delete(id uint64, withFolder bool) error
}

// Runs is the runs screen: every run in a table (status, model, dataset, preset, best eval loss,
// duration, peak memory, date) that filters and sorts; a run opened in its live view; two or
// more compared; resume, extend and delete.
type Runs struct {
	store   RunStore
	control RunControl
	runner  Runner
	win     fyne.Window

	all      []storage.Run
	rows     []storage.Run // all, filtered and sorted, as the table shows them
	sortCol  int
	sortDesc bool
	filter   string
	selected uint64 // the selected run, 0 for none
	checked  map[uint64]bool
	now      func() time.Time

	view    *RunView // the run opened, nil when none
	compare *Compare // the comparison shown, nil when none
	redraw  *throttle

	table    *widget.Table
	entry    *widget.Entry
	count    *widget.Label
	openB    *widget.Button
	compareB *widget.Button
	resumeB  *widget.Button
	deleteB  *widget.Button
	list     fyne.CanvasObject
	detail   *fyne.Container
	content  fyne.CanvasObject
}

// NewRuns builds the screen and starts loading the runs.
func NewRuns(store RunStore, control RunControl, runner Runner, win fyne.Window) *Runs {
	s := &Runs{store: store, control: control, runner: runner, win: win, checked: map[uint64]bool{}, now: time.Now,
		sortCol: columnIndex(ColDate), sortDesc: true}
	s.redraw = newThrottle(redrawEvery, runner, s.apply)
	s.table = s.newTable()
	s.entry = widget.NewEntry()
	s.entry.SetPlaceHolder("Filter: name, model, dataset, preset or status")
	s.entry.OnChanged = s.Filter
	s.count = widget.NewLabel("")
	s.openB = widget.NewButtonWithIcon("Open", theme.VisibilityIcon(), func() { s.Open(s.selected) })
	s.openB.Importance = widget.HighImportance
	s.compareB = widget.NewButtonWithIcon("Compare ticked", theme.ContentCopyIcon(), func() { s.Compare(s.Checked()...) })
	s.resumeB = widget.NewButtonWithIcon("Resume…", theme.MediaReplayIcon(), s.askResume)
	s.deleteB = widget.NewButtonWithIcon("Delete…", theme.DeleteIcon(), s.confirmDelete)
	s.deleteB.Importance = widget.DangerImportance
	reload := widget.NewButtonWithIcon("", theme.ViewRefreshIcon(), s.Reload)

	top := container.NewBorder(nil, nil, nil, container.NewHBox(s.count, reload), s.entry)
	actions := container.NewHBox(s.openB, s.compareB, s.resumeB, s.deleteB)
	s.list = container.NewBorder(top, actions, nil, nil, s.table)
	s.detail = container.NewStack()
	s.detail.Hide()
	s.content = container.NewStack(s.list, s.detail)
	fyne.CurrentApp().Settings().AddListener(func(fyne.Settings) {
		if s.view != nil {
			s.view.Redraw()
		}
		if s.compare != nil {
			s.compare.Redraw()
		}
	})
	s.apply()
	s.Reload()
	return s
}

// Content is the screen's widget tree.
func (s *Runs) Content() fyne.CanvasObject { return s.content }

// Reload reads the runs from the library again.
func (s *Runs) Reload() {
	load(s.runner, s.win, s.store.Runs, func(runs []storage.Run) {
		s.all = runs
		s.apply()
	})
}

// Record takes the library's newer record of a run (from the supervisor): the table follows
// within half a second, and the run's view at once.
func (s *Runs) Record(r storage.Run) {
	i := slices.IndexFunc(s.all, func(o storage.Run) bool { return o.ID == r.ID })
	if i < 0 {
		s.all = append(s.all, r)
	} else {
		s.all[i] = r
	}
	if s.view != nil {
		s.view.SetRecord(r)
	}
	s.redraw.poke()
}

// Event takes an event of run id from the engine, for its view when it is open.
func (s *Runs) Event(id uint64, ev run.Event) {
	if s.view != nil && s.view.ID() == id {
		s.view.Add(ev)
	}
}

// Open shows the live view of run id: its charts, progress, log, samples and configuration.
func (s *Runs) Open(id uint64) {
	if id == 0 {
		return
	}
	s.compare = nil
	s.view = NewRunView(id, s.store, s.control, s.runner, s.win)
	s.showDetail(s.view.Content())
}

// Compare shows two or more runs side by side.
func (s *Runs) Compare(ids ...uint64) {
	if len(ids) < 2 {
		return
	}
	s.view = nil
	s.compare = NewCompare(ids, s.store, s.runner, s.win)
	s.showDetail(s.compare.Content())
}

// View is the run view on show, nil when none.
func (s *Runs) View() *RunView { return s.view }

// Comparison is the comparison on show, nil when none.
func (s *Runs) Comparison() *Compare { return s.compare }

// Back returns from a run or a comparison to the table.
func (s *Runs) Back() {
	s.view, s.compare = nil, nil
	s.detail.RemoveAll()
	s.detail.Hide()
	s.list.Show()
	s.Reload()
}

func (s *Runs) showDetail(o fyne.CanvasObject) {
	back := widget.NewButtonWithIcon("All runs", theme.NavigateBackIcon(), s.Back)
	s.detail.RemoveAll()
	s.detail.Add(container.NewBorder(container.NewHBox(back), nil, nil, nil, o))
	s.list.Hide()
	s.detail.Show()
}

// Filter shows the runs whose name, model, dataset, preset or status contain every word of text.
func (s *Runs) Filter(text string) {
	s.filter = text
	if s.entry.Text != text {
		s.entry.SetText(text) // calls Filter again, with the same text
		return
	}
	s.apply()
}

// SortBy orders the table by the column titled col (ColStatus, ...).
func (s *Runs) SortBy(col string, descending bool) {
	if i := columnIndex(col); i >= 0 {
		s.sortCol, s.sortDesc = i, descending
		s.apply()
	}
}

// Rows are the runs as the table shows them, filtered and sorted.
func (s *Runs) Rows() []storage.Run { return s.rows }

// Select selects run id in the table (0 selects none).
func (s *Runs) Select(id uint64) {
	for i, r := range s.rows {
		if r.ID == id {
			s.table.Select(widget.TableCellID{Row: i, Col: 1})
			return
		}
	}
	s.table.UnselectAll()
	s.selected = 0
	s.updateActions()
}

// Tick marks run id for comparison, or unmarks it.
func (s *Runs) Tick(id uint64, on bool) {
	if on {
		s.checked[id] = true
	} else {
		delete(s.checked, id)
	}
	s.table.Refresh()
	s.updateActions()
}

// Checked are the runs ticked for comparison, in the table's order.
func (s *Runs) Checked() []uint64 {
	var ids []uint64
	for _, r := range s.rows {
		if s.checked[r.ID] {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// apply filters and sorts the runs into the table's rows.
func (s *Runs) apply() {
	words := strings.Fields(strings.ToLower(s.filter))
	s.rows = make([]storage.Run, 0, len(s.all))
	for _, r := range s.all {
		hay := strings.ToLower(strings.Join([]string{r.Name, r.Model, r.Dataset, r.Preset, r.Status}, " "))
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(hay, w) }) {
			s.rows = append(s.rows, r)
		}
	}
	col, now := runColumns[s.sortCol], s.now()
	slices.SortStableFunc(s.rows, func(a, b storage.Run) int {
		c := col.compare(a, b, now)
		if s.sortDesc {
			c = -c
		}
		return c
	})
	s.count.SetText(fmt.Sprintf("%d of %d %s", len(s.rows), len(s.all), plural(len(s.all), "run", "runs")))
	s.table.Refresh()
	s.updateActions()
}

// selectedRun is the selected run's row, when it is shown.
func (s *Runs) selectedRun() (storage.Run, bool) {
	i := slices.IndexFunc(s.rows, func(r storage.Run) bool { return r.ID == s.selected && s.selected != 0 })
	if i < 0 {
		return storage.Run{}, false
	}
	return s.rows[i], true
}

func (s *Runs) updateActions() {
	r, ok := s.selectedRun()
	enable(s.openB, ok)
	enable(s.resumeB, ok && r.Status != storage.StatusRunning && len(r.Checkpoints) > 0)
	enable(s.deleteB, ok && r.Status != storage.StatusRunning)
	enable(s.compareB, len(s.Checked()) >= 2)
}

// askResume offers to resume or extend the selected run, then opens it.
func (s *Runs) askResume() {
	if r, ok := s.selectedRun(); ok {
		askResume(r, s.control, s.runner, s.win, func() { s.Open(r.ID) })
	}
}

// confirmDelete asks before removing the selected run, and whether its folder goes too.
func (s *Runs) confirmDelete() {
	r, ok := s.selectedRun()
	if !ok {
		return
	}
	folder := widget.NewCheck("Also delete its folder: "+r.Dir, nil)
	msg := widget.NewLabel(fmt.Sprintf("Delete the run %q from the library? Its checkpoints and exports stay in its folder unless it goes too.", r.Name))
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Delete run", "Delete", "Cancel", container.NewVBox(msg, folder), func(yes bool) {
		if yes {
			s.Delete(r.ID, folder.Checked)
		}
	}, s.win)
	d.Resize(fyne.NewSize(560, 220))
	d.Show()
}

// Delete removes run id from the library (and its folder when withFolder).
func (s *Runs) Delete(id uint64, withFolder bool) {
	var err error
	s.runner.Run(func() { err = s.control.Delete(id, withFolder) }, func() {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		delete(s.checked, id)
		if s.selected == id {
			s.selected = 0
		}
		s.Reload()
	})
}

// askResume asks how far to train run r (its length, or more to extend it) and resumes it from
// its last checkpoint; then runs after it has started.
func askResume(r storage.Run, control RunControl, runner Runner, win fyne.Window, then func()) {
	last := 0
	if n := len(r.Checkpoints); n > 0 {
		last = r.Checkpoints[n-1]
	}
	until := widget.NewEntry()
	until.SetText(fmt.Sprint(max(r.TotalSteps, r.Step+1)))
	until.Validator = func(text string) error {
		var n int
		if _, err := fmt.Sscan(text, &n); err != nil || n <= r.Step {
			return fmt.Errorf("a number of steps above %d", r.Step)
		}
		return nil
	}
	note := widget.NewLabel(fmt.Sprintf("%s continues from its last checkpoint, step %d. More steps than its %d extend it; the learning-rate schedule is stretched to the new length.",
		r.Name, last, r.TotalSteps))
	note.Wrapping = fyne.TextWrapWord
	items := []*widget.FormItem{widget.NewFormItem("", note), widget.NewFormItem("Train until step", until)}
	d := dialog.NewForm("Resume run", "Resume", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		var n int
		fmt.Sscan(until.Text, &n)
		if n == r.TotalSteps {
			n = 0 // its own length
		}
		var err error
		runner.Run(func() { err = control.Resume(r.ID, n) }, func() {
			if err != nil {
				dialog.ShowError(err, win)
				return
			}
			then()
		})
	}, win)
	d.Resize(fyne.NewSize(560, 260))
	d.Show()
}
