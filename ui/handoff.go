package ui

import (
	"errors"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	fynestorage "fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"
)

// Cluster is what the cluster dialogs talk to: the library's runs and models, handing a run to
// axolotl, and importing a run trained elsewhere. The app implements it.
type Cluster interface {
	RunNames() ([]string, error)
	ModelNames() ([]string, error)
	HandOff(HandoffRequest) (string, error)  // returns what was written, to show
	ImportRun(ImportRequest) (string, error) // returns the run imported, to show
}

// HandoffRequest is a run of the library, or a run.yaml not yet run, to hand to axolotl.
type HandoffRequest struct {
	Run       string // the run's name
	Config    []byte // the run.yaml to hand off instead of a library run (the new-run form's)
	Out       string // the new folder to write
	BaseModel string // base_model as the cluster names it; "" keeps the run's
}

// ImportRequest is an adapter folder trained elsewhere, to become a run of the library.
type ImportRequest struct {
	Adapter string // the adapter folder (axolotl's output_dir, or any PEFT adapter)
	Config  string // the axolotl YAML it was trained with, or ""
	Model   string // the library model it adapts, or "" for the base its files name
}

// ownBase is the model choice that keeps the base model the imported files name.
const ownBase = "(the one its files name)"

// HandoffDialog asks for a run, a new folder and the base model as the cluster names it, then
// hands the run to axolotl and says what was written.
type HandoffDialog struct {
	Run       *widget.Select
	Out       *widget.Entry
	BaseModel *widget.Entry
	config    []byte // the run.yaml handed off, when not a library run
	cluster   Cluster
	runner    Runner
	win       fyne.Window
}

// ShowHandoff opens the "Run on a cluster" dialog; its runs load in the background.
func ShowHandoff(c Cluster, r Runner, w fyne.Window) *HandoffDialog {
	d := newHandoff(c, r, w, widget.NewSelect(nil, nil), nil)
	var names []string
	var err error
	r.Run(func() { names, err = c.RunNames() }, func() {
		if err != nil {
			dialog.ShowError(err, w)
		}
		d.Run.SetOptions(names)
	})
	return d
}

// ShowHandoffConfig opens the "Run on a cluster" dialog for a run.yaml not yet run (the new-run
// form's), named name.
func ShowHandoffConfig(c Cluster, name string, yaml []byte, r Runner, w fyne.Window) *HandoffDialog {
	run := widget.NewSelect([]string{name}, nil)
	run.SetSelected(name)
	run.Disable()
	return newHandoff(c, r, w, run, yaml)
}

// newHandoff shows the dialog with run as its choice of run; yaml, when given, is what is handed
// off under that name.
func newHandoff(c Cluster, r Runner, w fyne.Window, run *widget.Select, yaml []byte) *HandoffDialog {
	d := &HandoffDialog{Run: run, Out: widget.NewEntry(), BaseModel: widget.NewEntry(), config: yaml, cluster: c, runner: r, win: w}
	d.BaseModel.SetPlaceHolder("the run's; or a Hugging Face id, or a path on the cluster")
	choose := widget.NewButton("Choose…", func() {
		chooseFolder(w, func(dir string) { d.Out.SetText(filepath.Join(dir, d.Run.Selected+"-axolotl")) })
	})
	items := []*widget.FormItem{
		widget.NewFormItem("Run", d.Run),
		widget.NewFormItem("New folder", container.NewBorder(nil, nil, nil, choose, d.Out)),
		widget.NewFormItem("Base model there", d.BaseModel),
	}
	dialog.ShowForm("Run on a cluster (axolotl)", "Write", "Cancel", items, func(ok bool) {
		if ok {
			d.Submit()
		}
	}, w)
	return d
}

// Submit hands the chosen run off and shows the result.
func (d *HandoffDialog) Submit() {
	req := HandoffRequest{Run: d.Run.Selected, Config: d.config, Out: d.Out.Text, BaseModel: d.BaseModel.Text}
	if req.Run == "" || req.Out == "" {
		dialog.ShowError(errors.New("choose a run and a new folder"), d.win)
		return
	}
	runThenShow(d.runner, d.win, "Handed off", func() (string, error) { return d.cluster.HandOff(req) })
}

// ImportDialog asks for an adapter folder, the axolotl YAML it was trained with and the model it
// adapts, then imports it as a run of the library.
type ImportDialog struct {
	Adapter *widget.Entry
	Config  *widget.Entry
	Model   *widget.Select
	cluster Cluster
	runner  Runner
	win     fyne.Window
}

// ShowImport opens the "Import a run" dialog; the library's models load in the background.
func ShowImport(c Cluster, r Runner, w fyne.Window) *ImportDialog {
	d := &ImportDialog{Adapter: widget.NewEntry(), Config: widget.NewEntry(), Model: widget.NewSelect([]string{ownBase}, nil),
		cluster: c, runner: r, win: w}
	d.Model.SetSelected(ownBase)
	d.Config.SetPlaceHolder("optional: the axolotl YAML it was trained with")
	adapter := widget.NewButton("Choose…", func() { chooseFolder(w, d.Adapter.SetText) })
	config := widget.NewButton("Choose…", func() { chooseYAML(w, d.Config.SetText) })
	items := []*widget.FormItem{
		widget.NewFormItem("Adapter folder", container.NewBorder(nil, nil, nil, adapter, d.Adapter)),
		widget.NewFormItem("Trained with", container.NewBorder(nil, nil, nil, config, d.Config)),
		widget.NewFormItem("Base model", d.Model),
	}
	dialog.ShowForm("Import a run trained elsewhere", "Import", "Cancel", items, func(ok bool) {
		if ok {
			d.Submit()
		}
	}, w)
	var names []string
	var err error
	r.Run(func() { names, err = c.ModelNames() }, func() {
		if err != nil {
			dialog.ShowError(err, w)
		}
		d.Model.SetOptions(append([]string{ownBase}, names...))
	})
	return d
}

// Submit imports the adapter folder and shows the run it became.
func (d *ImportDialog) Submit() {
	req := ImportRequest{Adapter: d.Adapter.Text, Config: d.Config.Text}
	if d.Model.Selected != ownBase {
		req.Model = d.Model.Selected
	}
	if req.Adapter == "" {
		dialog.ShowError(errors.New("choose the adapter folder"), d.win)
		return
	}
	runThenShow(d.runner, d.win, "Imported", func() (string, error) { return d.cluster.ImportRun(req) })
}

// runThenShow does work in the background, then shows its result under title, or its error.
func runThenShow(r Runner, w fyne.Window, title string, work func() (string, error)) {
	var text string
	var err error
	r.Run(func() { text, err = work() }, func() {
		if err != nil {
			dialog.ShowError(err, w)
			return
		}
		dialog.ShowInformation(title, text, w)
	})
}

func chooseFolder(w fyne.Window, then func(string)) {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			dialog.ShowError(err, w)
		} else if dir != nil {
			then(dir.Path())
		}
	}, w)
}

func chooseYAML(w fyne.Window, then func(string)) {
	d := dialog.NewFileOpen(func(f fyne.URIReadCloser, err error) {
		if err != nil {
			dialog.ShowError(err, w)
		} else if f != nil {
			f.Close()
			then(f.URI().Path())
		}
	}, w)
	d.SetFilter(fynestorage.NewExtensionFileFilter([]string{".yaml", ".yml"}))
	d.Show()
}
