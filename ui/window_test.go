package ui_test

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/ui"
)

// TestWindow_Navigation ensures the window navigates to the screens of all four parts, in order,
// the ones not built yet saying what they will do, the runs screen listing the runs, and that the
// status bar shows the engine and the GPU.
func TestWindow_Navigation(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	store := app.Library{Library: lib}
	runs := app.Runs{Library: store}
	m := ui.NewMain(ui.Deps{Models: lib, Datasets: store, Inspector: store, Runs: runs, Control: runs, Runner: ui.Inline{}, Window: w})
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
	m.Show(ui.TabRuns)
	if !shows(m.Tabs.Selected().Content, "0 of 0 runs") {
		t.Errorf("the runs tab shows %q", texts(m.Tabs.Selected().Content))
	}
	for _, title := range []string{ui.TabTrain, ui.TabPlayground, ui.TabExport} {
		m.Show(title)
		if !shows(m.Tabs.Selected().Content, title+": coming") {
			t.Errorf("the %s tab shows %q", title, texts(m.Tabs.Selected().Content))
		}
	}
	m.SetEngine("Engine: /opt/qlora")
	m.UpdateGPU(ui.GPUReading{})
	if m.EngineText() != "Engine: /opt/qlora" || m.GPUText() != "No NVIDIA GPU: training will use the CPU" {
		t.Errorf("status bar %q, %q", m.EngineText(), m.GPUText())
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
