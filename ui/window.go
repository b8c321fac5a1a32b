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
	Runs      RunStore
	Control   RunControl
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
	Tabs     *container.AppTabs
	Models   *Models
	Datasets *Datasets
	Runs     *Runs
	GPU      *GPUPanel

	engine, gpu *widget.Label
	content     fyne.CanvasObject
}

// NewMain builds every screen.
func NewMain(d Deps) *Main {
	m := &Main{
		Models:   NewModels(d.Models, d.Runner, d.Window),
		Datasets: NewDatasets(d.Datasets, d.Inspector, d.Runner, d.Window),
		Runs:     NewRuns(d.Runs, d.Control, d.Runner, d.Window),
		GPU:      NewGPUPanel(),
		engine:   widget.NewLabel(""),
		gpu:      widget.NewLabel(""),
	}
	m.engine.Truncation = fyne.TextTruncateEllipsis
	m.gpu.Alignment = fyne.TextAlignTrailing
	m.Tabs = container.NewAppTabs(
		container.NewTabItemWithIcon(TabModels, theme.StorageIcon(), m.Models.Content()),
		container.NewTabItemWithIcon(TabDatasets, theme.DocumentIcon(), m.Datasets.Content()),
		container.NewTabItemWithIcon(TabTrain, theme.MediaPlayIcon(), NewComing(TabTrain,
			"Choose a model, a dataset and a preset, see the memory plan before anything starts, then start, stop and resume a fine-tune with its loss and GPU memory charted as it runs.").Content()),
		container.NewTabItemWithIcon(TabRuns, theme.ListIcon(), m.Runs.Content()),
		container.NewTabItemWithIcon(TabPlayground, theme.MailComposeIcon(), NewComing(TabPlayground,
			"Chat with a base model and with its fine-tune side by side, with the run's chat template.").Content()),
		container.NewTabItemWithIcon(TabExport, theme.DownloadIcon(), NewComing(TabExport,
			"Write a run's adapter (PEFT), the merged model in 16-bit or 4-bit, or GGUF for llama.cpp and Ollama.").Content()),
		container.NewTabItemWithIcon(TabGPU, theme.ComputerIcon(), m.GPU.Content()),
	)
	m.Tabs.SetTabLocation(container.TabLocationLeading)
	status := container.NewBorder(widget.NewSeparator(), nil, nil, m.gpu, m.engine)
	m.content = container.NewBorder(nil, status, nil, nil, m.Tabs)
	return m
}

// Content is the window's widget tree.
func (m *Main) Content() fyne.CanvasObject { return m.content }

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

// UpdateGPU shows a GPU reading in the panel, the status bar and the chart of the run open. It
// must run on the UI goroutine.
func (m *Main) UpdateGPU(r GPUReading) {
	m.GPU.Update(r)
	m.Runs.GPU(r)
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
