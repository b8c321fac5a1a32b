package ui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// DatasetStore is what the datasets screen needs of the library.
type DatasetStore interface {
	Datasets() ([]storage.Dataset, error)
	Models() ([]storage.Model, error)
	// AddDataset imports a file; rows that cannot be used refuse it with a *BadRowsError unless
	// opt.SkipBad.
	AddDataset(file string, opt storage.DatasetOptions) (storage.Dataset, error)
	// MeasureDataset records a dataset's token statistics with a model's tokenizer.
	MeasureDataset(name string, m storage.Measure) (storage.TokenStats, error)
	RemoveDataset(name string, force bool) error
	// SetDatasetShape overrides the detected shape ("" or "auto" returns to detection).
	SetDatasetShape(name, shape string) error
}

// DatasetInspector reads and measures a dataset for the preview.
type DatasetInspector interface {
	Shapes() []string // every shape a dataset may have, in the order detection prefers them
	InspectDataset(req Inspection) (*DatasetReport, error)
}

// maxLengths are the max_seq_length choices offered for measuring.
var maxLengths = []string{"256", "512", "1024", "2048", "4096", "8192"}

// examplesShown is how many samples the preview renders.
const examplesShown = 5

// Datasets is the datasets screen: the imported datasets in a list, and for the selected one its
// shape (detected, or overridden), a preview of rendered samples with the trained-on part
// highlighted, the token-length histogram against the max length, and the bad rows.
type Datasets struct {
	store     DatasetStore
	inspector DatasetInspector
	runner    Runner
	win       fyne.Window

	datasets []storage.Dataset
	selected string
	report   *DatasetReport
	asked    Inspection // the inspection report answers

	list      *widget.List
	importB   *widget.Button
	deleteB   *widget.Button
	busy      *widget.ProgressBarInfinite
	title     *widget.Label
	facts     *fyne.Container
	shape     *widget.Select
	shapeNote *widget.Label
	model     *widget.Select
	maxLength *widget.Select
	examples  *widget.RichText
	histogram *Histogram
	badRows   *widget.Label
	detail    *fyne.Container // the selected dataset's panel
	empty     *widget.Label   // shown instead when none is selected
	content   fyne.CanvasObject
}

// NewDatasets builds the screen and starts loading the list.
func NewDatasets(store DatasetStore, inspector DatasetInspector, runner Runner, win fyne.Window) *Datasets {
	s := &Datasets{store: store, inspector: inspector, runner: runner, win: win}
	s.list = widget.NewList(func() int { return len(s.datasets) }, newTwoLineRow, s.updateRow)
	s.list.OnSelected = func(id widget.ListItemID) { s.show(s.datasets[id].Name) }
	s.list.OnUnselected = func(widget.ListItemID) { s.show("") }
	s.importB = widget.NewButtonWithIcon("Import dataset file…", theme.FileIcon(), s.ChooseFile)
	s.importB.Importance = widget.HighImportance
	s.deleteB = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), s.confirmDelete)
	s.deleteB.Importance = widget.DangerImportance
	s.busy = widget.NewProgressBarInfinite()
	s.busy.Hide()

	s.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.facts = container.NewStack()
	s.shape = widget.NewSelect(inspector.Shapes(), nil)
	s.shapeNote = widget.NewLabel("")
	s.model = widget.NewSelect(nil, nil)
	s.model.PlaceHolder = "(no model)"
	s.maxLength = widget.NewSelect(maxLengths, nil)
	s.maxLength.SetSelected("2048")
	s.examples = widget.NewRichText()
	s.examples.Wrapping = fyne.TextWrapWord
	s.histogram = NewHistogram()
	s.badRows = widget.NewLabel("")
	s.badRows.Wrapping = fyne.TextWrapWord
	s.badRows.Selectable = true
	// Set the callbacks after the initial values, so that building the screen inspects nothing.
	s.shape.OnChanged = s.overrideShape
	s.model.OnChanged = func(string) { s.inspect() }
	s.maxLength.OnChanged = func(string) { s.inspect() }

	controls := container.NewHBox(widget.NewLabel("Shape"), s.shape, s.shapeNote, widget.NewLabel("Tokenizer of"), s.model,
		widget.NewLabel("max_seq_length"), s.maxLength)
	tabs := container.NewAppTabs(
		container.NewTabItem("Preview", container.NewVScroll(s.examples)),
		container.NewTabItem("Token lengths", s.histogram.Content()),
		container.NewTabItem("Bad rows", container.NewVScroll(s.badRows)),
	)
	head := container.NewVBox(s.title, s.facts, controls, s.busy)
	s.detail = container.NewBorder(head, container.NewHBox(s.deleteB), nil, nil, tabs)
	s.empty = placeholder("")
	left := container.NewBorder(s.importB, nil, nil, nil, s.list)
	split := container.NewHSplit(left, container.NewStack(s.detail, s.empty))
	split.Offset = 0.3
	s.content = split
	fyne.CurrentApp().Settings().AddListener(func(fyne.Settings) { s.histogram.Redraw() })
	s.show("")
	s.Reload()
	return s
}

// Content is the screen's widget tree.
func (s *Datasets) Content() fyne.CanvasObject { return s.content }

// Report is the report on show, nil when none.
func (s *Datasets) Report() *DatasetReport { return s.report }

// Histogram is the token-length histogram.
func (s *Datasets) Histogram() *Histogram { return s.histogram }

// Reload reads the datasets and the models to measure with from the library again.
func (s *Datasets) Reload() {
	var datasets []storage.Dataset
	var models []storage.Model
	var err error
	s.runner.Run(func() {
		if datasets, err = s.store.Datasets(); err == nil {
			models, err = s.store.Models()
		}
	}, func() {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		keep := s.selected
		s.datasets = datasets
		s.setModels(models)
		s.list.UnselectAll()
		s.list.Refresh()
		s.Select(keep)
	})
}

// setModels offers the models' tokenizers, keeping the choice when it is still there.
func (s *Datasets) setModels(models []storage.Model) {
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	cb := s.model.OnChanged
	s.model.OnChanged = nil
	s.model.SetOptions(names)
	if !slices.Contains(names, s.model.Selected) {
		s.model.ClearSelected()
		if len(names) > 0 {
			s.model.SetSelected(names[0])
		}
	}
	s.model.OnChanged = cb
}

// Select shows the dataset with this name ("" selects none).
func (s *Datasets) Select(name string) {
	for i, d := range s.datasets {
		if d.Name == name {
			s.list.Select(i)
			return
		}
	}
	s.list.UnselectAll()
	s.show("")
}

// SelectModel measures with this model's tokenizer.
func (s *Datasets) SelectModel(name string) { s.model.SetSelected(name) }

// SetMaxLength measures at this max_seq_length.
func (s *Datasets) SetMaxLength(n int) { s.maxLength.SetSelected(strconv.Itoa(n)) }

// SetShape overrides the shape of the selected dataset.
func (s *Datasets) SetShape(shape string) { s.shape.SetSelected(shape) }

// ChooseFile asks for a dataset file, then imports it.
func (s *Datasets) ChooseFile() {
	dialog.ShowFileOpen(func(f fyne.URIReadCloser, err error) {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		if f != nil {
			path := f.URI().Path()
			f.Close()
			s.Import(path, false)
		}
	}, s.win)
}

// Import validates and records a dataset file, then selects it. A file with bad rows is refused
// with the rows listed, and may then be imported with its good rows. The library records its
// token statistics with the chosen model's tokenizer; a dataset that tokenizer cannot render
// (a chat file for a model without a chat template) is imported all the same, and its preview
// says why.
func (s *Datasets) Import(file string, skipBad bool) {
	model, maxLength := s.model.Selected, s.maxLen()
	s.setBusy(true)
	var d storage.Dataset
	var err error
	s.runner.Run(func() {
		d, err = s.store.AddDataset(file, storage.DatasetOptions{SkipBad: skipBad})
		if err == nil && model != "" {
			s.store.MeasureDataset(d.Name, storage.Measure{Model: model, MaxLength: maxLength})
		}
	}, func() {
		s.setBusy(false)
		var bad *BadRowsError
		switch {
		case errors.As(err, &bad):
			s.offerGoodRows(file, bad)
		case err != nil:
			dialog.ShowError(fmt.Errorf("importing %s: %w", file, err), s.win)
		default:
			s.selected = d.Name
			s.Reload()
		}
	})
}

// offerGoodRows lists a file's bad rows and offers to import the good ones.
func (s *Datasets) offerGoodRows(file string, bad *BadRowsError) {
	msg := fmt.Sprintf("%d %s of %s cannot be used:\n\n%s", bad.Count, plural(bad.Count, "row", "rows"), file, strings.Join(bad.Rows, "\n"))
	if more := bad.Count - len(bad.Rows); more > 0 {
		msg += fmt.Sprintf("\n… and %d more", more)
	}
	text := widget.NewLabel(msg)
	text.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Bad rows", "Import the good rows", "Cancel", container.NewVScroll(text), func(ok bool) {
		if ok {
			s.Import(file, true)
		}
	}, s.win)
	d.Resize(fyne.NewSize(640, 420))
	d.Show()
}

func (s *Datasets) confirmDelete() {
	name := s.selected
	if name == "" {
		return
	}
	d := dialog.NewConfirm("Delete dataset", fmt.Sprintf("Delete %q and its copy in the library? The file it was imported from stays.", name),
		func(ok bool) {
			if ok {
				s.Delete(name)
			}
		}, s.win)
	d.SetConfirmText("Delete")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// Delete removes the dataset; the library refuses while runs use it, and the screen says which.
func (s *Datasets) Delete(name string) {
	var err error
	s.runner.Run(func() { err = s.store.RemoveDataset(name, false) }, func() {
		if err != nil {
			showRemoveError(err, s.win)
			return
		}
		if s.selected == name {
			s.selected = ""
		}
		s.Reload()
	})
}

// overrideShape records a shape chosen by hand and measures the dataset in it.
func (s *Datasets) overrideShape(shape string) {
	d, ok := s.find(s.selected)
	if !ok || shape == d.Shape {
		return
	}
	if shape == s.reportDetected() {
		shape = "" // back to detection
	}
	var err error
	s.runner.Run(func() { err = s.store.SetDatasetShape(d.Name, shape) }, func() {
		if err != nil {
			dialog.ShowError(err, s.win)
		}
		s.Reload()
	})
}

func (s *Datasets) reportDetected() string {
	if s.report == nil {
		return ""
	}
	return s.report.DetectedShape
}

// show fills the panel with the named dataset and inspects it.
func (s *Datasets) show(name string) {
	s.selected = name
	d, ok := s.find(name)
	if !ok {
		s.detail.Hide()
		s.empty.SetText("Select a dataset to see its samples, token lengths and bad rows.")
		if len(s.datasets) == 0 {
			s.empty.SetText("No datasets yet. Import a JSONL, JSON, CSV or Parquet file in one of these shapes: " + strings.Join(s.inspector.Shapes(), ", ") + ".")
		}
		s.empty.Show()
		s.report = nil
		return
	}
	s.empty.Hide()
	s.detail.Show()
	s.title.SetText(d.Name)
	s.facts.RemoveAll()
	s.facts.Add(fieldGrid(datasetFields(d)))
	s.detail.Refresh()
	cb := s.shape.OnChanged
	s.shape.OnChanged = nil
	s.shape.SetSelected(d.Shape)
	s.shape.OnChanged = cb
	s.inspect()
}

// inspect measures the selected dataset with the chosen tokenizer and length, in the background.
func (s *Datasets) inspect() {
	d, ok := s.find(s.selected)
	if !ok {
		return
	}
	req := Inspection{File: d.Path, FileType: d.Format, Model: s.model.Selected, MaxLength: s.maxLen(), Examples: examplesShown}
	if d.ShapeGiven {
		req.Shape = d.Shape
	}
	s.asked = req
	s.setBusy(true)
	var r *DatasetReport
	var err error
	s.runner.Run(func() { r, err = s.inspector.InspectDataset(req) }, func() {
		if s.asked != req {
			return // the selection changed meanwhile; a newer inspection is on its way
		}
		s.setBusy(false)
		if err != nil {
			r = nil
			s.examples.Segments = []widget.RichTextSegment{&widget.TextSegment{Style: widget.RichTextStyleParagraph, Text: "Cannot read it: " + err.Error()}}
			s.examples.Refresh()
		}
		s.showReport(r, d)
	})
}

// showReport puts a report on show.
func (s *Datasets) showReport(r *DatasetReport, d storage.Dataset) {
	s.report = r
	if r == nil {
		s.histogram.Show(nil)
		s.badRows.SetText("")
		return
	}
	s.shapeNote.SetText("detected")
	if d.ShapeGiven {
		s.shapeNote.SetText("set by hand; detection says " + r.DetectedShape)
	}
	s.facts.RemoveAll()
	s.facts.Add(fieldGrid(append(datasetFields(d), reportFacts(r)...)))
	s.detail.Refresh() // the facts' height changed: lay the panel out again
	s.examples.Segments = examplesText(r)
	s.examples.Refresh()
	s.histogram.Show(r)
	s.badRows.SetText(badRowsText(r))
}

func (s *Datasets) setBusy(busy bool) {
	if busy {
		s.busy.Show()
		s.busy.Start()
		s.importB.Disable()
		return
	}
	s.busy.Stop()
	s.busy.Hide()
	s.importB.Enable()
}

func (s *Datasets) maxLen() int {
	n, _ := strconv.Atoi(s.maxLength.Selected)
	return n
}

func (s *Datasets) find(name string) (storage.Dataset, bool) {
	for _, d := range s.datasets {
		if d.Name == name && name != "" {
			return d, true
		}
	}
	return storage.Dataset{}, false
}

func (s *Datasets) updateRow(id widget.ListItemID, row fyne.CanvasObject) {
	d := s.datasets[id]
	facts := fmt.Sprintf("%s · %s · %d rows", d.Shape, d.Format, d.Rows)
	if d.BadRows > 0 {
		facts += fmt.Sprintf(" · %d bad", d.BadRows)
	}
	setTwoLineRow(row, d.Name, facts)
}

// datasetFields are the facts of a dataset's record.
func datasetFields(d storage.Dataset) []field {
	return []field{
		{"File", fmt.Sprintf("%s, %s (imported from %s)", d.Format, Bytes(d.File.Size), d.Source)},
		{"Added", d.Added.Local().Format("2006-01-02 15:04")},
	}
}
