package ui

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// The runs table's columns by title, as SortBy takes them.
const (
	ColStatus     = "Status"
	ColName       = "Name"
	ColModel      = "Model"
	ColDataset    = "Dataset"
	ColPreset     = "Preset"
	ColEvalLoss   = "Best eval loss"
	ColDuration   = "Duration"
	ColPeakMemory = "Peak memory"
	ColDate       = "Date"
)

// runColumn is a column of the runs table: its title, width, text and order.
type runColumn struct {
	title   string
	width   float32
	text    func(r storage.Run, now time.Time) string
	compare func(a, b storage.Run, now time.Time) int
}

// runColumns are the table's columns after the first, which ticks runs for comparison.
var runColumns = []runColumn{
	{ColStatus, 110, func(r storage.Run, _ time.Time) string { return r.Status }, byText(func(r storage.Run) string { return r.Status })},
	{ColName, 220, func(r storage.Run, _ time.Time) string { return r.Name }, byText(func(r storage.Run) string { return r.Name })},
	{ColModel, 140, func(r storage.Run, _ time.Time) string { return orDash(r.Model) }, byText(func(r storage.Run) string { return r.Model })},
	{ColDataset, 140, func(r storage.Run, _ time.Time) string { return orDash(r.Dataset) }, byText(func(r storage.Run) string { return r.Dataset })},
	{ColPreset, 110, func(r storage.Run, _ time.Time) string { return orDash(r.Preset) }, byText(func(r storage.Run) string { return r.Preset })},
	{ColEvalLoss, 120, func(r storage.Run, _ time.Time) string {
		if r.EvalLoss == nil {
			return "—"
		}
		return fmt.Sprintf("%.4f", *r.EvalLoss)
	}, func(a, b storage.Run, _ time.Time) int { return cmp.Compare(evalLoss(a), evalLoss(b)) }},
	{ColDuration, 100, func(r storage.Run, now time.Time) string {
		if d, ok := runDuration(r, now); ok {
			return Duration(d)
		}
		return "—"
	}, func(a, b storage.Run, now time.Time) int {
		da, _ := runDuration(a, now)
		db, _ := runDuration(b, now)
		return cmp.Compare(da, db)
	}},
	{ColPeakMemory, 110, func(r storage.Run, _ time.Time) string {
		if r.PeakMemory == 0 {
			return "—"
		}
		return Bytes(r.PeakMemory)
	}, func(a, b storage.Run, _ time.Time) int { return cmp.Compare(a.PeakMemory, b.PeakMemory) }},
	{ColDate, 140, func(r storage.Run, _ time.Time) string { return r.Created.Local().Format("2006-01-02 15:04") },
		func(a, b storage.Run, _ time.Time) int { return a.Created.Compare(b.Created) }},
}

// tickWidth is the width of the first column, whose boxes tick runs for comparison.
const tickWidth = 80

func byText(of func(storage.Run) string) func(a, b storage.Run, _ time.Time) int {
	return func(a, b storage.Run, _ time.Time) int { return cmp.Compare(of(a), of(b)) }
}

// evalLoss is a run's best evaluation loss; runs that did not evaluate sort after every other.
func evalLoss(r storage.Run) float64 {
	if r.EvalLoss == nil {
		return math.Inf(1)
	}
	return *r.EvalLoss
}

// runDuration is the wall time from a run's start to its end, or to now while it runs.
func runDuration(r storage.Run, now time.Time) (time.Duration, bool) {
	end := r.Ended
	if r.Status == storage.StatusRunning {
		end = now
	}
	if r.Started.IsZero() || end.IsZero() {
		return 0, false
	}
	return end.Sub(r.Started), true
}

func columnIndex(title string) int {
	for i, c := range runColumns {
		if c.title == title {
			return i
		}
	}
	return -1
}

// newTable is the runs table: a header whose titles sort (again to reverse), a box to tick each
// run for comparison, and a row per run.
func (s *Runs) newTable() *widget.Table {
	t := widget.NewTable(func() (int, int) { return len(s.rows), len(runColumns) + 1 }, newRunCell, s.updateCell)
	t.ShowHeaderRow = true
	t.CreateHeader = func() fyne.CanvasObject { return widget.NewButton("", nil) }
	t.UpdateHeader = s.updateHeader
	t.SetColumnWidth(0, tickWidth)
	for i, c := range runColumns {
		t.SetColumnWidth(i+1, c.width)
	}
	t.OnSelected = func(id widget.TableCellID) {
		if id.Row >= 0 && id.Row < len(s.rows) {
			s.selected = s.rows[id.Row].ID
		}
		s.updateActions()
	}
	return t
}

func (s *Runs) updateHeader(id widget.TableCellID, o fyne.CanvasObject) {
	b := o.(*widget.Button)
	b.Importance = widget.LowImportance
	if id.Col == 0 {
		b.SetText("Compare")
		b.OnTapped = nil
		return
	}
	col := id.Col - 1
	title := runColumns[col].title
	if col == s.sortCol {
		title += map[bool]string{false: " ▲", true: " ▼"}[s.sortDesc]
	}
	b.SetText(title)
	b.OnTapped = func() { s.SortBy(runColumns[col].title, col == s.sortCol && !s.sortDesc) }
}

// newRunCell is a table cell: a label, or in the first column a box.
func newRunCell() fyne.CanvasObject {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return container.NewStack(l, widget.NewCheck("", nil))
}

func (s *Runs) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	objs := o.(*fyne.Container).Objects
	label, check := objs[0].(*widget.Label), objs[1].(*widget.Check)
	if id.Row >= len(s.rows) {
		return
	}
	r := s.rows[id.Row]
	if id.Col == 0 {
		label.Hide()
		check.Show()
		check.OnChanged = nil
		check.SetChecked(s.checked[r.ID])
		check.OnChanged = func(on bool) { s.Tick(r.ID, on) }
		return
	}
	check.Hide()
	label.Show()
	label.SetText(runColumns[id.Col-1].text(r, s.now()))
}
