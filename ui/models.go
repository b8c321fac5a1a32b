package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// ModelStore is what the models screen needs of the library. *storage.Library has it.
type ModelStore interface {
	Models() ([]storage.Model, error)
	AddModel(dir string, opt storage.ModelOptions) (storage.Model, error)
	RemoveModel(name string, force bool) error
}

// Models is the models screen: the imported models in a list (architecture, parameters, size,
// 4-bit or not), the selected one's details, import from a folder, and delete.
type Models struct {
	store  ModelStore
	runner Runner
	win    fyne.Window

	models   []storage.Model
	selected string // the selected model's name, or ""

	list     *widget.List
	details  *fyne.Container
	copy     *widget.Check
	importB  *widget.Button
	deleteB  *widget.Button
	progress *widget.ProgressBar
	content  fyne.CanvasObject
}

// NewModels builds the screen and starts loading the list.
func NewModels(store ModelStore, runner Runner, win fyne.Window) *Models {
	s := &Models{store: store, runner: runner, win: win}
	s.list = widget.NewList(func() int { return len(s.models) }, newTwoLineRow, s.updateRow)
	s.list.OnSelected = func(id widget.ListItemID) { s.show(s.models[id].Name) }
	s.list.OnUnselected = func(widget.ListItemID) { s.show("") }

	s.copy = widget.NewCheck("Copy into the library", nil)
	s.importB = widget.NewButtonWithIcon("Import model folder…", theme.FolderOpenIcon(), s.ChooseFolder)
	s.importB.Importance = widget.HighImportance
	s.deleteB = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), s.confirmDelete)
	s.deleteB.Importance = widget.DangerImportance
	s.progress = widget.NewProgressBar()
	s.progress.Hide()
	s.details = container.NewStack()

	top := container.NewVBox(container.NewHBox(s.importB, s.copy), s.progress)
	left := container.NewBorder(top, nil, nil, nil, s.list)
	right := container.NewBorder(nil, container.NewHBox(s.deleteB), nil, nil, container.NewVScroll(s.details))
	split := container.NewHSplit(left, right)
	split.Offset = 0.45
	s.content = split
	s.show("")
	s.Reload()
	return s
}

// Content is the screen's widget tree.
func (s *Models) Content() fyne.CanvasObject { return s.content }

// Reload reads the models from the library again.
func (s *Models) Reload() {
	load(s.runner, s.win, s.store.Models, func(models []storage.Model) {
		keep := s.selected
		s.models = models
		s.list.UnselectAll()
		s.list.Refresh()
		s.Select(keep)
	})
}

// Select shows the model with this name ("" selects none).
func (s *Models) Select(name string) {
	for i, m := range s.models {
		if m.Name == name {
			s.list.Select(i)
			return
		}
	}
	s.list.UnselectAll()
	s.show("")
}

// ChooseFolder asks for a model folder, then imports it.
func (s *Models) ChooseFolder() {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		if dir != nil {
			s.Import(dir.Path())
		}
	}, s.win)
}

// Import validates and records the model folder dir, copied when the box is ticked, then selects it.
func (s *Models) Import(dir string) {
	s.importB.Disable()
	s.progress.SetValue(0)
	s.progress.Show()
	var m storage.Model
	var err error
	opt := storage.ModelOptions{Copy: s.copy.Checked, Progress: func(done, total int64) {
		if total > 0 {
			s.runner.Update(func() { s.progress.SetValue(float64(done) / float64(total)) })
		}
	}}
	s.runner.Run(func() { m, err = s.store.AddModel(dir, opt) }, func() {
		s.importB.Enable()
		s.progress.Hide()
		if err != nil {
			dialog.ShowError(fmt.Errorf("importing %s: %w", dir, err), s.win)
			return
		}
		s.selected = m.Name
		s.Reload()
	})
}

// confirmDelete asks before removing the selected model.
func (s *Models) confirmDelete() {
	name := s.selected
	if name == "" {
		return
	}
	d := dialog.NewConfirm("Delete model", fmt.Sprintf("Delete %q from the library? A model used in place keeps its own folder; a copy is deleted.", name),
		func(ok bool) {
			if ok {
				s.Delete(name)
			}
		}, s.win)
	d.SetConfirmText("Delete")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// Delete removes the model; the library refuses while runs use it, and the screen says which.
func (s *Models) Delete(name string) {
	var err error
	s.runner.Run(func() { err = s.store.RemoveModel(name, false) }, func() {
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

// show fills the details panel with the named model, or a hint when none is selected.
func (s *Models) show(name string) {
	s.selected = name
	s.details.RemoveAll()
	m, ok := s.find(name)
	if !ok {
		s.deleteB.Disable()
		hint := "Select a model to see its details."
		if len(s.models) == 0 {
			hint = "No models yet. Import a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)."
		}
		s.details.Add(placeholder(hint))
		return
	}
	s.deleteB.Enable()
	s.details.Add(container.NewVBox(widget.NewLabelWithStyle(m.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), fieldGrid(modelFields(m))))
}

func (s *Models) find(name string) (storage.Model, bool) {
	for _, m := range s.models {
		if m.Name == name && name != "" {
			return m, true
		}
	}
	return storage.Model{}, false
}

func (s *Models) updateRow(id widget.ListItemID, row fyne.CanvasObject) {
	m := s.models[id]
	setTwoLineRow(row, m.Name, fmt.Sprintf("%s · %s parameters · %s · %s", m.Architecture, Params(m.Parameters), Bytes(m.Bytes()), fourBit(m)))
}

// fourBit says whether the checkpoint is 4-bit already.
func fourBit(m storage.Model) string {
	if m.Quantization != "" {
		return "4-bit"
	}
	return "16-bit"
}

// modelFields are the details of a model.
func modelFields(m storage.Model) []field {
	quant := "no: quantized to NF4 when a run starts (cached)"
	if m.Quantization != "" {
		quant = "yes: " + m.Quantization
	}
	where := "used in place: " + m.Source
	if m.Copied {
		where = "copied into the library from " + m.Source
	}
	chat := "none of its own (a built-in template is used)"
	if m.ChatTemplate {
		chat = "the tokenizer's own"
	}
	var nf4 []string
	for _, b := range m.NF4 {
		dq := ""
		if b.DoubleQuant {
			dq = ", double quant"
		}
		nf4 = append(nf4, fmt.Sprintf("blocksize %d%s: %s", b.Blocksize, dq, Bytes(b.Bytes)))
	}
	if len(nf4) == 0 {
		nf4 = []string{"none yet"}
	}
	return []field{
		{"Architecture", m.Architecture},
		{"Parameters", fmt.Sprintf("%s (%d)", Params(m.Parameters), m.Parameters)},
		{"Size", fmt.Sprintf("%s in %d %s", Bytes(m.Bytes()), len(m.Files), plural(len(m.Files), "file", "files"))},
		{"Pre-quantized 4-bit", quant},
		{"Layers", fmt.Sprint(m.Layers)},
		{"Hidden size", fmt.Sprintf("%d (MLP %d)", m.HiddenSize, m.IntermediateSize)},
		{"Attention heads", fmt.Sprintf("%d (%d key/value)", m.Heads, m.KVHeads)},
		{"Vocabulary", fmt.Sprintf("%d (tokenizer %d)", m.VocabSize, m.TokenizerVocab)},
		{"Context", fmt.Sprintf("%d tokens", m.Context)},
		{"Chat template", chat},
		{"Files", where},
		{"Training reads", m.Path},
		{"NF4 cache", strings.Join(nf4, "\n")},
		{"Added", m.Added.Local().Format("2006-01-02 15:04")},
	}
}

// newTwoLineRow is a list row: a bold title over a line of facts.
func newTwoLineRow() fyne.CanvasObject {
	title := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.Truncation = fyne.TextTruncateEllipsis
	facts := widget.NewLabel("")
	facts.Truncation = fyne.TextTruncateEllipsis
	return container.NewVBox(title, facts)
}

func setTwoLineRow(row fyne.CanvasObject, title, facts string) {
	objs := row.(*fyne.Container).Objects
	objs[0].(*widget.Label).SetText(title)
	objs[1].(*widget.Label).SetText(facts)
}
