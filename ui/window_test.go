package ui_test

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/ui"
)

// TestWindow_Navigation ensures the window navigates to every screen, in order, each showing its own,
// the runs screen listing the runs, that the status bar shows the engine and the GPU, and that the
// new-run form is offered the GPU read.
func TestWindow_Navigation(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	store := app.Library{Library: lib}
	runs := app.Runs{Library: store}
	m := ui.NewMain(ui.Deps{Models: lib, Datasets: store, Inspector: store, Library: store,
		Engine: app.Trainer{Library: store}, Runs: runs, Control: runs, Runner: ui.Inline{}, Window: w,
		Exporter: app.Exporter{ExportLibrary: lib}, Generator: app.Playground{PlaygroundLibrary: store}})
	w.SetContent(m.Content())
	want := []string{ui.TabModels, ui.TabDatasets, ui.TabTrain, ui.TabRuns, ui.TabPlayground, ui.TabExport, ui.TabGPU}
	if len(m.Tabs.Items) != len(want) {
		t.Fatalf("%d tabs, want %d", len(m.Tabs.Items), len(want))
	}
	for i, title := range want {
		if got := m.Tabs.Items[i].Text; got != title {
			t.Errorf("tab %d is %q, want %q", i, got, title)
		}
	}
	for title, want := range map[string]string{ui.TabTrain: "Choose a model to see the memory its run takes.",
		ui.TabRuns: "0 of 0 runs", ui.TabPlayground: "Generate", ui.TabExport: "Exports of this run"} {
		m.Show(title)
		if !shows(m.Tabs.Selected().Content, want) {
			t.Errorf("the %s tab shows %q, want %q", title, texts(m.Tabs.Selected().Content), want)
		}
	}
	m.SetEngine("Engine: /opt/qlora")
	m.UpdateGPU(ui.GPUReading{})
	if m.EngineText() != "Engine: /opt/qlora" || m.GPUText() != "No NVIDIA GPU: training will use the CPU" {
		t.Errorf("status bar %q, %q", m.EngineText(), m.GPUText())
	}
	m.Show(ui.TabTrain)
	m.UpdateGPU(ui.GPUReading{Devices: []ui.GPUDevice{{Name: "NVIDIA RTX 6000 Ada Generation", MemoryTotal: 48 << 30}}})
	if m.Train.Memory().Memory() != 48<<30 || !shows(m.Train.Content(), "NVIDIA RTX 6000 Ada Generation (48.0 GiB, in this machine)") {
		t.Errorf("the form plans for %d bytes, shows %q", m.Train.Memory().Memory(), texts(m.Train.Content()))
	}
}

// TestThemeMenu ensures the View menu ticks the theme in use and hands a new choice over.
func TestThemeMenu(t *testing.T) {
	var chosen string
	menu := ui.ThemeMenu(ui.ThemeSystem, func(c string) { chosen = c })
	if len(menu.Items) != 3 || !menu.Items[0].Checked || menu.Items[2].Checked {
		t.Fatalf("menu %+v", menu.Items)
	}
	menu.Items[2].Action()
	if chosen != ui.ThemeDark || !menu.Items[2].Checked || menu.Items[0].Checked {
		t.Errorf("chose %q; ticks %v %v %v", chosen, menu.Items[0].Checked, menu.Items[1].Checked, menu.Items[2].Checked)
	}
}
