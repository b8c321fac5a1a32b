package ui_test

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/ui"
)

// TestGPUPanel ensures the panel says plainly when there is no NVIDIA GPU and training will use
// the CPU, and otherwise shows each GPU's memory, utilisation, temperature and power.
func TestGPUPanel(t *testing.T) {
	w := newWindow(t)
	p := ui.NewGPUPanel()
	w.SetContent(p.Content())

	none := ui.GPUReading{Problem: "no NVIDIA driver: libnvidia-ml.so.1 was not found"}
	p.Update(none)
	if h := p.Header(); !strings.Contains(h, "No NVIDIA GPU found: training will run on the CPU") || !strings.Contains(h, "libnvidia-ml.so.1") {
		t.Errorf("header %q", h)
	}
	if s := none.Summary(); s != "No NVIDIA GPU: training will use the CPU" {
		t.Errorf("summary %q", s)
	}

	a6000 := ui.GPUDevice{Index: 0, Name: "NVIDIA RTX A6000", MemoryUsed: 30 << 30, MemoryTotal: 48 << 30,
		Utilization: 97, TemperatureC: 71, PowerW: -1, PowerLimitW: 300}
	r := ui.GPUReading{Driver: "550.54.15", CUDA: "12.4", Devices: []ui.GPUDevice{a6000, a6000}}
	r.Devices[1].Index, r.Devices[1].Utilization = 1, -1
	p.Update(r)
	for _, want := range []string{"NVIDIA driver 550.54.15, CUDA 12.4.", "GPU 0: NVIDIA RTX A6000", "GPU 1: NVIDIA RTX A6000",
		"30.0 GiB of 48.0 GiB in use", "71 °C", "utilisation not reported"} {
		if !shows(w.Content(), want) {
			t.Errorf("the panel does not show %q: %q", want, texts(w.Content()))
		}
	}
	if shows(w.Content(), "No NVIDIA GPU") {
		t.Errorf("the no-GPU sentence stays after a GPU was found")
	}
	if s := r.Summary(); s != "NVIDIA RTX A6000 · 30.0 GiB of 48.0 GiB · 97% busy (+1 more)" {
		t.Errorf("summary %q", s)
	}
}
