package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Deps are what the window's screens talk to.
type Deps struct {
	Models    ModelStore
	Datasets  DatasetStore
	Inspector DatasetInspector
	Library   TrainStore  // the new-run form's choices
	Engine    TrainEngine // the new-run form's planner and starter
	Runs      RunStore
	Control   RunControl
	Exporter  Exporter
	Generator Generator
	GPUCheck  GPUChecker // the GPU panel's parity check
	Runner    Runner
	Window    fyne.Window // the parent of dialogs
}

// The tabs' titles, in navigation order.
const (
	TabModels     = "Models"
	TabDatasets   = "Datasets"
	TabTrain      = "Train"
	TabRuns       = "Runs"
	TabPlayground = "Playground"
	TabExport     = "Export"
	TabGPU        = "GPU"
)

// Main is the window's content: a navigation to every screen down the side, and a status bar
// with the engine and the GPU at the bottom.
type Main struct {
	Tabs       *container.AppTabs
	Models     *Models
	Datasets   *Datasets
	Train      *Train
	Runs       *Runs
	Playground *Playground
	Export     *Export
	GPU        *GPUPanel

	engine, gpu *widget.Label
	content     fyne.CanvasObject
}

// NewMain builds every screen.
func NewMain(d Deps) *Main {
	m := &Main{
		Models:     NewModels(d.Models, d.Runner, d.Window),
		Datasets:   NewDatasets(d.Datasets, d.Inspector, d.Runner, d.Window),
		Train:      NewTrain(d.Library, d.Engine, d.Runner, d.Window),
		Runs:       NewRuns(d.Runs, d.Control, d.Runner, d.Window),
		Playground: NewPlayground(d.Generator, d.Runner, d.Window),
		Export:     NewExport(d.Exporter, d.Runner, d.Window),
		GPU:        NewGPUPanel(d.GPUCheck, d.Runner),
		engine:     widget.NewLabel(""),
		gpu:        widget.NewLabel(""),
	}
	m.engine.Truncation = fyne.TextTruncateEllipsis
	m.gpu.Alignment = fyne.TextAlignTrailing
	m.Tabs = container.NewAppTabs(
		container.NewTabItemWithIcon(TabModels, theme.StorageIcon(), m.Models.Content()),
		container.NewTabItemWithIcon(TabDatasets, theme.DocumentIcon(), m.Datasets.Content()),
		container.NewTabItemWithIcon(TabTrain, theme.MediaPlayIcon(), m.Train.Content()),
		container.NewTabItemWithIcon(TabRuns, theme.ListIcon(), m.Runs.Content()),
		container.NewTabItemWithIcon(TabPlayground, theme.MailComposeIcon(), m.Playground.Content()),
		container.NewTabItemWithIcon(TabExport, theme.DownloadIcon(), m.Export.Content()),
		container.NewTabItemWithIcon(TabGPU, theme.ComputerIcon(), m.GPU.Content()),
	)
	m.Tabs.SetTabLocation(container.TabLocationLeading)
	m.Tabs.OnSelected = func(t *container.TabItem) { // what the screens list changes while others show
		switch t.Text {
		case TabTrain:
			m.Train.Reload() // models, datasets and presets
		case TabPlayground:
			m.Playground.Reload()
		case TabExport:
			m.Export.Reload()
		}
	}
	status := container.NewBorder(widget.NewSeparator(), nil, nil, m.gpu, m.engine)
	m.content = container.NewBorder(nil, status, nil, nil, m.Tabs)
	return m
}

// Content is the window's widget tree.
func (m *Main) Content() fyne.CanvasObject { return m.content }

// Reload reads the library again into every screen that lists what it holds (after another
// program added to it, as the demo does).
func (m *Main) Reload() {
	m.Models.Reload()
	m.Datasets.Reload()
	m.Train.Reload()
	m.Runs.Reload()
	m.Playground.Reload()
	m.Export.Reload()
}

// Show brings the tab with this title to the front.
func (m *Main) Show(title string) {
	for _, t := range m.Tabs.Items {
		if t.Text == title {
			m.Tabs.Select(t)
		}
	}
}

// SetEngine says in the status bar which engine runs do, or why there is none.
func (m *Main) SetEngine(text string) { m.engine.SetText(text) }

// EngineText is the engine's line of the status bar.
func (m *Main) EngineText() string { return m.engine.Text }

// UpdateGPU shows a GPU reading in the panel, the status bar and the train screen. It must run
// on the UI goroutine. (A run's chart has its utilisation from its step events.)
func (m *Main) UpdateGPU(r GPUReading) {
	m.GPU.Update(r)
	m.Train.SetGPU(r)
	m.gpu.SetText(r.Summary())
}

// GPUText is the GPU's line of the status bar.
func (m *Main) GPUText() string { return m.gpu.Text }

// ThemeMenu is the menu that switches between the system's theme, light and dark; apply is
// called with the choice (one of ThemeChoices) and current says which is ticked.
func ThemeMenu(current string, apply func(choice string)) *fyne.Menu {
	menu := fyne.NewMenu("View")
	for _, choice := range ThemeChoices {
		item := fyne.NewMenuItem(choice+" theme", nil)
		item.Checked = choice == current
		item.Action = func() {
			for _, it := range menu.Items {
				it.Checked = it == item
			}
			menu.Refresh()
			apply(choice)
		}
		menu.Items = append(menu.Items, item)
	}
	return menu
}
