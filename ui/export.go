package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// ExportFormat is an export format as the export screen offers it.
type ExportFormat struct {
	ID      string   // as `qlora export --format` names it
	Title   string   // as the screen shows it
	DTypes  []string // the dtypes it accepts
	Default string   // the dtype it writes when none is chosen; "" for the base model's own
}

// ExportRequest is one export to write.
type ExportRequest struct {
	Run    uint64
	Step   int    // the checkpoint; 0 takes the run's best, else its last
	Format string // an ExportFormat's ID
	DType  string // "" for the format's default
	Out    string // the folder to create; it must not exist
}

// Exporter is what the export screen needs: the library's runs and their exports, and a way to
// write an export that ends recorded on its run (the app runs the engine as a child for it).
type Exporter interface {
	Runs() ([]storage.Run, error)
	Exports(run uint64) ([]storage.Export, error)
	ExportFormats() []ExportFormat
	// Export writes req, calling progress (from its own goroutine) with the tensors done and in
	// all. Cancelling ctx stops it with nothing written, and it returns an error that is ctx's.
	Export(ctx context.Context, req ExportRequest, progress func(done, total int)) (storage.Export, error)
}

// baseDType is how the dtype menu names a format's default when it is the base model's dtype.
const baseDType = "the base model's"

// Export is the export screen: a finished run (or one of its checkpoints), a format, a dtype and
// a destination; Export with a progress bar and Cancel; the run's exports listed below.
type Export struct {
	store  Exporter
	runner Runner
	win    fyne.Window

	formats  []ExportFormat
	autoDest string             // the destination the screen chose, replaced when the choices change
	cancel   context.CancelFunc // the export going on, nil when none

	run                       *runPicker // the runs with a checkpoint that no engine writes to
	checkpoint, format, dtype *widget.Select
	dest                      *widget.Entry
	chooseB, startB, cancelB  *widget.Button
	progress                  *widget.ProgressBar
	status                    *widget.Label
	exports                   *fyne.Container
	content                   fyne.CanvasObject
}

// NewExport builds the screen and starts loading the runs.
func NewExport(store Exporter, runner Runner, win fyne.Window) *Export {
	s := &Export{store: store, runner: runner, win: win, formats: store.ExportFormats()}
	titles := make([]string, len(s.formats))
	for i, f := range s.formats {
		titles[i] = f.Title
	}
	s.run = newRunPicker("(no finished run)", func(r storage.Run) bool {
		return hasCheckpoint(r) && r.Status != storage.StatusRunning
	}, s.runChanged)
	s.checkpoint = widget.NewSelect(nil, func(string) { s.choicesChanged() })
	s.format = widget.NewSelect(titles, func(string) { s.formatChanged() })
	s.dtype = widget.NewSelect(nil, func(string) { s.choicesChanged() })
	s.dest = widget.NewEntry()
	s.dest.SetPlaceHolder("the folder to create")
	s.chooseB = widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), s.chooseParent)
	s.startB = widget.NewButtonWithIcon("Export", theme.DownloadIcon(), s.Start)
	s.startB.Importance = widget.HighImportance
	s.cancelB = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), s.Cancel)
	s.progress = widget.NewProgressBar()
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.exports = container.NewVBox()

	form := container.New(layout.NewFormLayout(),
		formKey("Run"), s.run.menu,
		formKey("Checkpoint"), s.checkpoint,
		formKey("Format"), s.format,
		formKey("Dtype"), s.dtype,
		formKey("Destination"), container.NewBorder(nil, nil, nil, s.chooseB, s.dest))
	head := container.NewVBox(form, container.NewHBox(s.startB, s.cancelB), s.progress, s.status, widget.NewSeparator(),
		widget.NewLabelWithStyle("Exports of this run", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	s.content = container.NewBorder(head, nil, nil, nil, container.NewVScroll(s.exports))
	s.format.SetSelectedIndex(0)
	s.setBusy(false)
	s.Reload()
	return s
}

// Content is the screen's widget tree.
func (s *Export) Content() fyne.CanvasObject { return s.content }

// Reload reads the runs from the library again, keeping the one chosen.
func (s *Export) Reload() { load(s.runner, s.win, s.store.Runs, s.run.set) }

// SelectRun chooses the run with this id; another id (0) chooses the latest run.
func (s *Export) SelectRun(id uint64) { s.run.choose(id) }

// SetCheckpoint chooses the checkpoint of this step; 0 chooses the run's best, else its last.
func (s *Export) SetCheckpoint(step int) {
	r, _ := s.selectedRun()
	s.checkpoint.SetSelectedIndex(slices.Index(r.Checkpoints, step) + 1)
}

// SetFormat chooses the format with this ID (peft, merged, bnb4, gguf).
func (s *Export) SetFormat(id string) {
	if i := slices.IndexFunc(s.formats, func(f ExportFormat) bool { return f.ID == id }); i >= 0 {
		s.format.SetSelectedIndex(i)
	}
}

// SetDType chooses the dtype; "" chooses the format's default.
func (s *Export) SetDType(name string) {
	if name == "" {
		s.dtype.SetSelectedIndex(0)
		return
	}
	s.dtype.SetSelected(name)
}

// DTypes are the dtypes offered for the format chosen.
func (s *Export) DTypes() []string { return s.dtype.Options }

// SetDestination sets the folder to create.
func (s *Export) SetDestination(dir string) { s.dest.SetText(dir) }

// Destination is the folder the export will create.
func (s *Export) Destination() string { return s.dest.Text }

// Progress is the progress bar's value, from 0 to 1.
func (s *Export) Progress() float64 { return s.progress.Value }

// Status is the line that says what the export is doing or what became of it.
func (s *Export) Status() string { return s.status.Text }

// Busy says whether an export is going on.
func (s *Export) Busy() bool { return s.cancel != nil }

// Start writes the export chosen; the screen is busy until it ends.
func (s *Export) Start() {
	r, ok := s.selectedRun()
	if !ok || s.cancel != nil {
		return
	}
	req := ExportRequest{Run: r.ID, Step: s.step(r), Format: s.selectedFormat().ID, DType: s.selectedDType(), Out: s.dest.Text}
	if req.Out == "" {
		dialog.ShowInformation("No destination", "Name the folder to create for the export.", s.win)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.setBusy(true)
	s.progress.SetValue(0)
	s.status.SetText(fmt.Sprintf("Exporting %s to %s…", s.selectedFormat().Title, req.Out))
	var exp storage.Export
	var err error
	progress := func(done, total int) {
		if total > 0 {
			s.runner.Update(func() { s.progress.SetValue(float64(done) / float64(total)) })
		}
	}
	s.runner.Run(func() { exp, err = s.store.Export(ctx, req, progress) }, func() {
		cancel()
		s.cancel = nil
		s.setBusy(false)
		s.finished(req, exp, err)
	})
}

// Cancel stops the export going on; it leaves nothing at the destination.
func (s *Export) Cancel() {
	if s.cancel != nil {
		s.cancel()
		s.status.SetText("Cancelling…")
	}
}

// finished says what became of an export, and lists it on its run when it was written.
func (s *Export) finished(req ExportRequest, exp storage.Export, err error) {
	switch {
	case errors.Is(err, context.Canceled):
		s.progress.SetValue(0)
		s.status.SetText("Cancelled: nothing was written to " + req.Out + ".")
	case err != nil:
		s.status.SetText("The export failed: " + err.Error())
		dialog.ShowError(err, s.win)
	default:
		s.progress.SetValue(1)
		s.status.SetText(fmt.Sprintf("Wrote %s (%s) to %s.", exp.Kind, Bytes(exp.Bytes), exp.Path))
		s.choicesChanged() // the destination is taken now
	}
	if r, ok := s.selectedRun(); ok && r.ID == req.Run {
		s.showExports(r.ID)
	}
}

// runChanged offers the run's checkpoints, the one chosen kept when it is still there, and lists
// the run's exports.
func (s *Export) runChanged() {
	defer s.setBusy(s.Busy())
	r, ok := s.selectedRun()
	if !ok {
		s.checkpoint.SetOptions(nil)
		s.exports.RemoveAll()
		return
	}
	options := []string{checkpointChoice(r, 0)}
	for _, step := range r.Checkpoints {
		options = append(options, checkpointChoice(r, step))
	}
	keep := s.checkpoint.Selected
	s.checkpoint.SetOptions(options)
	if i := slices.Index(options, keep); i > 0 {
		s.checkpoint.SetSelectedIndex(i)
	} else {
		s.checkpoint.SetSelectedIndex(0)
	}
	s.showExports(r.ID)
}

// formatChanged offers the dtypes the format accepts, its default first.
func (s *Export) formatChanged() {
	f := s.selectedFormat()
	options := []string{cmp.Or(f.Default, baseDType)}
	for _, d := range f.DTypes {
		if d != f.Default {
			options = append(options, d)
		}
	}
	s.dtype.SetOptions(options)
	s.dtype.SetSelectedIndex(0)
}

// choicesChanged proposes a fresh destination for the choices, unless the user typed one.
func (s *Export) choicesChanged() {
	r, ok := s.selectedRun()
	if !ok || s.dest.Text != s.autoDest {
		return
	}
	name := s.selectedFormat().ID
	if d := s.selectedDType(); d != "" {
		name += "-" + d
	}
	if step := s.step(r); step > 0 {
		name += fmt.Sprintf("-step-%d", step)
	}
	s.autoDest = freeFolder(filepath.Join(r.Dir, "exports", name))
	s.dest.SetText(s.autoDest)
}

// chooseParent asks for the folder to create the export in, keeping the destination's name.
func (s *Export) chooseParent() {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		if dir != nil {
			s.dest.SetText(filepath.Join(dir.Path(), filepath.Base(cmp.Or(s.dest.Text, "export"))))
		}
	}, s.win)
}

// showExports lists the run's exports, newest first.
func (s *Export) showExports(id uint64) {
	var list []storage.Export
	var err error
	s.runner.Run(func() { list, err = s.store.Exports(id) }, func() {
		s.exports.RemoveAll()
		if err != nil {
			s.exports.Add(placeholder("The exports cannot be read: " + err.Error()))
			return
		}
		if len(list) == 0 {
			s.exports.Add(placeholder("None yet."))
		}
		for _, e := range slices.Backward(list) {
			line := widget.NewLabel(fmt.Sprintf("%s · step %d · %s · %s\n%s", e.Kind, e.Step, Bytes(e.Bytes),
				e.Created.Local().Format("2006-01-02 15:04"), e.Path))
			line.Selectable = true
			s.exports.Add(line)
		}
	})
}

// setBusy enables what can be used: the choices and Export while idle with a run chosen, Cancel
// while an export goes on.
func (s *Export) setBusy(busy bool) {
	_, ok := s.selectedRun()
	for _, w := range []fyne.Disableable{s.run.menu, s.checkpoint, s.format, s.dtype, s.dest, s.chooseB, s.startB} {
		if busy || (!ok && w != s.run.menu) {
			w.Disable()
		} else {
			w.Enable()
		}
	}
	if busy {
		s.cancelB.Enable()
	} else {
		s.cancelB.Disable()
	}
}

func (s *Export) selectedRun() (storage.Run, bool) { return s.run.chosen() }

func (s *Export) selectedFormat() ExportFormat {
	if i := s.format.SelectedIndex(); i >= 0 {
		return s.formats[i]
	}
	return ExportFormat{}
}

// selectedDType is the dtype chosen, "" for the format's default.
func (s *Export) selectedDType() string {
	if s.dtype.SelectedIndex() <= 0 {
		return ""
	}
	return s.dtype.Selected
}

// step is the checkpoint chosen: 0 for the run's best, else its last.
func (s *Export) step(r storage.Run) int {
	if i := s.checkpoint.SelectedIndex(); i > 0 && i <= len(r.Checkpoints) {
		return r.Checkpoints[i-1]
	}
	return 0
}

// checkpointChoice is a checkpoint as the menu lists it; step 0 is the run's best, else its last.
func checkpointChoice(r storage.Run, step int) string {
	switch {
	case step > 0:
		return fmt.Sprintf("Step %d", step)
	case r.BestStep > 0 && slices.Contains(r.Checkpoints, r.BestStep):
		return fmt.Sprintf("The best (step %d)", r.BestStep)
	}
	return fmt.Sprintf("The last (step %d)", r.Checkpoints[len(r.Checkpoints)-1])
}

// freeFolder is dir, or dir-2, dir-3, ... when it exists.
func freeFolder(dir string) string {
	name := dir
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", dir, i)
	}
}

// formKey is the bold name of a form's row.
func formKey(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
}
