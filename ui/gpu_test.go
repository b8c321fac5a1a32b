package ui_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/ui"
)

// TestGPUPanel ensures the panel says plainly when there is no NVIDIA GPU and training will use
// the CPU, and otherwise shows each GPU's memory, utilisation, temperature and power.
func TestGPUPanel(t *testing.T) {
	w := newWindow(t)
	p := ui.NewGPUPanel(nil, ui.Inline{})
	w.SetContent(p.Content())

	none := ui.GPUReading{Problem: "no NVIDIA driver: libnvidia-ml.so.1 was not found"}
	p.Update(none)
	if findButton(w.Content(), checkLabel) != nil {
		t.Error("the GPU check is offered without a GPU")
	}
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

const checkLabel = "Check this GPU against the CPU"

// checker is a GPU check with a fixed answer: the real one needs a GPU (app's Engine.CheckGPU
// runs qlora gpu --check).
type checker struct {
	check ui.GPUCheck
	err   error
	calls int
}

func (c *checker) CheckGPU() (ui.GPUCheck, error) {
	c.calls++
	return c.check, c.err
}

// TestGPUPanel_Check ensures a GPU's panel offers the parity check and says what each verdict
// means: passed, failed (runs there would train another function), or not run at all.
func TestGPUPanel_Check(t *testing.T) {
	gpu := ui.GPUReading{Driver: "550.54.15", CUDA: "12.4", Devices: []ui.GPUDevice{{Name: "NVIDIA RTX A6000", Utilization: -1, TemperatureC: -1, PowerW: -1}}}
	for _, c := range []struct {
		name string
		c    checker
		want []string
	}{
		{"passed", checker{check: ui.GPUCheck{Passed: true, Seconds: 1.24, Figures: "loss 6.093241 (CPU 6.091299)"}},
			[]string{"Passed in 1.2 s", "loss 6.093241 (CPU 6.091299)"}},
		{"failed", checker{check: ui.GPUCheck{Problem: "layer 0 self_attn.q_proj dA: ‖Δ‖/‖cpu‖ = 0.965", Figures: "loss 6.1"}},
			[]string{"Failed: layer 0 self_attn.q_proj dA", "would train another function", "loss 6.1"}},
		{"not run", checker{err: errors.New("no qlora-cuda beside qlora")},
			[]string{"The check could not run: no qlora-cuda beside qlora"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWindow(t)
			p := ui.NewGPUPanel(&c.c, ui.Inline{})
			w.SetContent(p.Content())
			p.Update(gpu)
			tapButton(t, w.Content(), checkLabel)
			for _, want := range c.want {
				if !strings.Contains(p.Verdict(), want) {
					t.Errorf("verdict %q, want %q in it", p.Verdict(), want)
				}
			}
			if c.c.calls != 1 || findButton(w.Content(), checkLabel).Disabled() {
				t.Errorf("%d checks; the button is disabled after the verdict: %v", c.c.calls, findButton(w.Content(), checkLabel).Disabled())
			}
		})
	}
}
