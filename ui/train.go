package ui

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// TrainStore is what the new-run form needs of the library: the models and datasets to pick from,
// and the user's own presets.
type TrainStore interface {
	Models() ([]storage.Model, error)
	Datasets() ([]storage.Dataset, error)
	Presets() ([]storage.Preset, error)
	SavePreset(p storage.Preset) error
}

// TrainEngine plans and starts runs: the memory planner and the supervisor, as the form needs them.
type TrainEngine interface {
	// PlanMemory plans the configuration for the library model against memory bytes of GPU, as
	// `qlora plan` does.
	PlanMemory(model string, c run.Config, memory int64) (plan.Report, error)
	// RunYAML is the run.yaml a run of the request would be started with.
	RunYAML(r TrainRequest) ([]byte, error)
	// StartRun records the run, hands it to the supervisor and returns its id.
	StartRun(r TrainRequest) (uint64, error)
}

// TrainRequest is a run the form asks for: a library model and dataset, and the configuration.
type TrainRequest struct {
	Name    string // "" names the run after the model, the dataset and the time
	Model   string
	Dataset string
	Preset  string // the built-in preset the form was filled from, recorded with the run; or ""
	Config  run.Config
}

// presetChoice is one entry of the preset menu: a built-in preset or one of the user's.
type presetChoice struct {
	id, title string
	yours     bool
	yaml      []byte
}

func (p presetChoice) option() string {
	if p.yours {
		return fmt.Sprintf("%s (%s, yours)", p.title, p.id)
	}
	return fmt.Sprintf("%s (%s)", p.title, p.id)
}

// Train is the new-run form: a model and a dataset from the library, a preset, every knob of the
// run configuration grouped with its allowed range and any problem at the field, the memory plan
// against a GPU as the knobs change, and Start, enabled once the form is valid. The form can be
// saved as a preset of the user's and exported as run.yaml.
type Train struct {
	store  TrainStore
	engine TrainEngine
	runner Runner
	win    fyne.Window

	// OnStarted is called on the UI goroutine with the id of a run Start started.
	OnStarted func(runID uint64)
	// OnCluster is called on the UI goroutine with the run.yaml the form would start, and the
	// run's name, when "Run on a cluster…" is chosen; nil hides the button.
	OnCluster func(yaml []byte, name string)

	base    run.Config // the preset's configuration, which the knobs override
	knobs   []*knob
	presets []presetChoice
	filling bool // the knobs are being filled from a configuration: check once at the end
	planned int  // counts plans asked for, so that only the latest is shown

	model, dataset, preset *widget.Select
	name                   *widget.Entry
	other                  *widget.Label // problems of keys the form has no field for
	memory                 *MemoryPanel
	startB, saveB, exportB *widget.Button
	clusterB               *widget.Button
	content                fyne.CanvasObject
}

// NewTrain builds the form with the defaults and starts loading the library's choices.
func NewTrain(store TrainStore, engine TrainEngine, runner Runner, win fyne.Window) *Train {
	s := &Train{store: store, engine: engine, runner: runner, win: win, base: run.Defaults()}
	s.model = widget.NewSelect(nil, func(string) { s.check() })
	s.model.PlaceHolder = "(choose a model)"
	s.dataset = widget.NewSelect(nil, func(string) { s.check() })
	s.dataset.PlaceHolder = "(choose a dataset)"
	s.preset = widget.NewSelect(nil, s.applyPreset)
	s.preset.PlaceHolder = "(the defaults)"
	s.name = widget.NewEntry()
	s.name.SetPlaceHolder("named after the model, the dataset and the time")
	s.other = widget.NewLabel("")
	s.other.Importance = widget.DangerImportance
	s.other.Wrapping = fyne.TextWrapWord
	s.memory = newMemoryPanel(s.replan, func(key string, v int) { s.SetField(key, strconv.Itoa(v)) })
	s.startB = widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), s.Start)
	s.startB.Importance = widget.HighImportance
	s.saveB = widget.NewButtonWithIcon("Save as preset…", theme.DocumentSaveIcon(), s.askPreset)
	s.exportB = widget.NewButtonWithIcon("Export run.yaml…", theme.DownloadIcon(), s.askExport)
	s.clusterB = widget.NewButtonWithIcon("Run on a cluster…", theme.ComputerIcon(), s.Cluster)

	pickers := container.New(layout.NewFormLayout(), widget.NewLabel("Model"), s.model, widget.NewLabel("Dataset"), s.dataset,
		widget.NewLabel("Preset"), s.preset, widget.NewLabel("Run name"), s.name)
	buttons := container.NewHBox(s.saveB, s.exportB, s.clusterB, layout.NewSpacer(), s.startB)
	right := container.NewVScroll(container.NewPadded(s.memory.Content()))
	split := container.NewHSplit(container.NewVScroll(s.buildKnobs()), right)
	split.Offset = 0.55
	s.content = container.NewBorder(pickers, buttons, nil, nil, split)
	s.fill(s.base)
	s.Reload()
	return s
}

// buildKnobs makes every knob, each checking the form when it changes, in their groups' cards.
func (s *Train) buildKnobs() fyne.CanvasObject {
	groups := container.NewVBox()
	for _, g := range knobGroups() {
		for _, k := range g.knobs {
			k.onChange(func() {
				if !s.filling {
					s.check()
				}
			})
			s.knobs = append(s.knobs, k)
		}
		groups.Add(groupCard(g))
	}
	groups.Add(s.other)
	return groups
}

// Content is the screen's widget tree.
func (s *Train) Content() fyne.CanvasObject { return s.content }

// Memory is the memory panel.
func (s *Train) Memory() *MemoryPanel { return s.memory }

// Reload reads the models, datasets and the user's presets from the library again, keeping the
// choices that are still there.
func (s *Train) Reload() {
	var models []storage.Model
	var datasets []storage.Dataset
	var presets []presetChoice
	var err error
	s.runner.Run(func() { models, datasets, presets, err = s.load() }, func() {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		s.presets = presets
		options := make([]string, len(presets))
		for i, p := range presets {
			options[i] = p.option()
		}
		s.preset.SetOptions(options)
		setOptionsKeeping(s.model, namesOf(models, func(m storage.Model) string { return m.Name }))
		setOptionsKeeping(s.dataset, namesOf(datasets, func(d storage.Dataset) string { return d.Name }))
		s.check()
	})
}

// load reads the library's choices, the built-in presets first.
func (s *Train) load() ([]storage.Model, []storage.Dataset, []presetChoice, error) {
	models, err := s.store.Models()
	if err != nil {
		return nil, nil, nil, err
	}
	datasets, err := s.store.Datasets()
	if err != nil {
		return nil, nil, nil, err
	}
	builtin, err := run.Presets()
	if err != nil {
		return nil, nil, nil, err
	}
	yours, err := s.store.Presets()
	if err != nil {
		return nil, nil, nil, err
	}
	var presets []presetChoice
	for _, p := range builtin {
		presets = append(presets, presetChoice{id: p.ID, title: p.Title, yaml: p.YAML})
	}
	for _, p := range yours {
		presets = append(presets, presetChoice{id: p.Name, title: cmp.Or(p.Title, p.Name), yours: true, yaml: []byte(p.YAML)})
	}
	return models, datasets, presets, nil
}

// SelectModel picks the library model with this name.
func (s *Train) SelectModel(name string) { s.model.SetSelected(name) }

// SelectDataset picks the library dataset with this name.
func (s *Train) SelectDataset(name string) { s.dataset.SetSelected(name) }

// SelectPreset fills the form from the preset with this id (a built-in one, or the user's).
func (s *Train) SelectPreset(id string) {
	for _, p := range s.presets {
		if p.id == id {
			s.preset.SetSelected(p.option())
			return
		}
	}
}

// applyPreset fills the form from the preset chosen in the menu.
func (s *Train) applyPreset(option string) {
	for _, p := range s.presets {
		if p.option() != option {
			continue
		}
		c, err := run.Layers{Docs: []run.Doc{{Source: "preset " + p.id, YAML: p.yaml}}}.Resolve()
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		s.base = c
		s.fill(c)
	}
}

// fill shows a configuration in every knob, then checks the form once.
func (s *Train) fill(c run.Config) {
	s.filling = true
	for _, k := range s.knobs {
		k.fill(c)
	}
	s.filling = false
	s.check()
}

// Field is the value the knob of this key shows, as text: "true" or "false" for a box, the
// projections ticked joined by commas for the target modules; "" for a key without a knob.
func (s *Train) Field(key string) string {
	if k := s.knob(key); k != nil {
		return k.text()
	}
	return ""
}

// SetField changes the knob of this key as a person would: typing, ticking, choosing.
func (s *Train) SetField(key, text string) {
	if k := s.knob(key); k != nil {
		k.set(text)
	}
}

// Problem is the problem shown at the field of this key, "" when there is none.
func (s *Train) Problem(key string) string {
	if k := s.knob(key); k != nil && k.note.Importance == widget.DangerImportance {
		return k.note.Text
	}
	return ""
}

// CanStart is whether Start is enabled.
func (s *Train) CanStart() bool { return !s.startB.Disabled() }

// Config is the configuration the form shows, and whether it is valid.
func (s *Train) Config() (run.Config, bool) {
	c, problems := s.read()
	return c, len(problems) == 0
}

func (s *Train) knob(key string) *knob {
	for _, k := range s.knobs {
		if k.key == key {
			return k
		}
	}
	return nil
}

// read is the configuration the knobs show over the preset's, with the problem of each key that
// cannot be read or is out of range.
func (s *Train) read() (run.Config, map[string]string) {
	c := s.base
	problems := map[string]string{}
	for _, k := range s.knobs {
		if err := k.read(&c); err != nil {
			problems[k.key] = err.Error()
		}
	}
	for _, p := range c.Problems() {
		if _, ok := problems[p.Key]; !ok {
			problems[p.Key] = p.Error()
		}
	}
	return c, problems
}

// check shows each field's problem, enables Start, saving and export when the form is valid, and
// plans the memory again.
func (s *Train) check() {
	c, problems := s.read()
	var other []string
	for key, p := range problems {
		if s.knob(key) == nil {
			other = append(other, p)
		}
	}
	slices.Sort(other)
	for _, k := range s.knobs {
		k.show(problems[k.key])
	}
	s.other.SetText(strings.Join(other, "\n"))
	chosen := s.model.Selected != "" && s.dataset.Selected != ""
	enable(s.saveB, len(problems) == 0)
	enable(s.startB, len(problems) == 0 && chosen)
	enable(s.exportB, len(problems) == 0 && chosen)
	enable(s.clusterB, len(problems) == 0 && chosen)
	s.plan(c, problems)
}

// replan plans the form's configuration again (another card was chosen).
func (s *Train) replan() { s.plan(s.read()) }

// plan plans the configuration against the chosen card, off the UI goroutine; only the latest
// plan asked for is shown.
func (s *Train) plan(c run.Config, problems map[string]string) {
	s.planned++ // a plan still on its way is not shown
	switch {
	case s.model.Selected == "":
		s.memory.Clear("Choose a model to see the memory its run takes.")
		return
	case len(problems) > 0:
		s.memory.Clear("The memory plan follows once every field is valid.")
		return
	}
	asked, model, memory := s.planned, s.model.Selected, s.memory.Memory()
	var rep plan.Report
	var err error
	s.runner.Run(func() { rep, err = s.engine.PlanMemory(model, c, memory) }, func() {
		if asked != s.planned {
			return
		}
		if err != nil {
			s.memory.Clear("No plan: " + err.Error())
			return
		}
		s.memory.Show(rep, c.MaxSeqLength, c.MicroBatchSize)
	})
}

// request is the run the form asks for.
func (s *Train) request() TrainRequest {
	c, _ := s.read()
	req := TrainRequest{Name: strings.TrimSpace(s.name.Text), Model: s.model.Selected, Dataset: s.dataset.Selected, Config: c}
	for _, p := range s.presets {
		if p.option() == s.preset.Selected && !p.yours {
			req.Preset = p.id
		}
	}
	return req
}

// Start records the run and hands it to the supervisor; OnStarted follows with its id.
func (s *Train) Start() {
	if !s.CanStart() {
		return
	}
	req := s.request()
	s.startB.Disable()
	var id uint64
	var err error
	s.runner.Run(func() { id, err = s.engine.StartRun(req) }, func() {
		s.check()
		if err != nil {
			dialog.ShowError(fmt.Errorf("starting the run: %w", err), s.win)
			return
		}
		if s.OnStarted != nil {
			s.OnStarted(id)
		}
	})
}

// askPreset asks for the new preset's id and title, then saves it.
func (s *Train) askPreset() {
	id, title := widget.NewEntry(), widget.NewEntry()
	id.SetPlaceHolder("my-13b-recipe")
	items := []*widget.FormItem{widget.NewFormItem("Id", id), widget.NewFormItem("Title", title)}
	dialog.ShowForm("Save as preset", "Save", "Cancel", items, func(ok bool) {
		if ok {
			s.SavePreset(id.Text, title.Text)
		}
	}, s.win)
}

// SavePreset saves the form's knobs as a preset of the user's, which the preset menu then offers.
func (s *Train) SavePreset(id, title string) {
	c, problems := s.read()
	if len(problems) > 0 {
		return
	}
	var err error
	s.runner.Run(func() {
		var yaml []byte
		if yaml, err = c.PresetYAML(); err == nil {
			err = s.store.SavePreset(storage.Preset{Name: id, Title: title, YAML: string(yaml)})
		}
	}, func() {
		if err != nil {
			dialog.ShowError(fmt.Errorf("saving the preset: %w", err), s.win)
			return
		}
		s.Reload()
	})
}

// askExport asks where to write run.yaml, then writes it.
func (s *Train) askExport() {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		if w != nil {
			w.Close()
			s.Export(w.URI().Path())
		}
	}, s.win)
	d.SetFileName("run.yaml")
	d.Show()
}

// Export writes the run.yaml the run would be started with to path.
func (s *Train) Export(path string) {
	req := s.request()
	var err error
	s.runner.Run(func() {
		var yaml []byte
		if yaml, err = s.engine.RunYAML(req); err == nil {
			err = os.WriteFile(path, yaml, 0o644)
		}
	}, func() {
		if err != nil {
			dialog.ShowError(fmt.Errorf("exporting run.yaml: %w", err), s.win)
		}
	})
}

// Cluster hands the run.yaml the form would start, with the run's name, to OnCluster (which asks
// where to write axolotl's folder).
func (s *Train) Cluster() {
	req := s.request()
	var yaml []byte
	var err error
	s.runner.Run(func() { yaml, err = s.engine.RunYAML(req) }, func() {
		switch {
		case err != nil:
			dialog.ShowError(fmt.Errorf("the run's configuration: %w", err), s.win)
		case s.OnCluster != nil:
			s.OnCluster(yaml, cmp.Or(req.Name, req.Model+"-"+req.Dataset))
		}
	})
}

// SetGPU offers this machine's GPUs to plan against.
func (s *Train) SetGPU(r GPUReading) { s.memory.SetDetected(r.Devices) }

// setOptionsKeeping offers names in a select, keeping its choice when it is still offered.
func setOptionsKeeping(sel *widget.Select, names []string) {
	sel.SetOptions(names)
	if !slices.Contains(names, sel.Selected) {
		sel.ClearSelected()
	}
}

// namesOf are the names of a list's records.
func namesOf[T any](list []T, name func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = name(v)
	}
	return out
}
