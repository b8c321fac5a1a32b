package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// GPUReading is what the GPU panel shows: the NVIDIA GPUs and their state, or why there are none.
type GPUReading struct {
	Driver  string // the driver's version, e.g. "550.54.15"
	CUDA    string // the CUDA version the driver supports, e.g. "12.4"
	Devices []GPUDevice
	Problem string // why no GPU can be used ("" when Devices has some)
}

// GPUDevice is one GPU. Values a GPU does not report are negative.
type GPUDevice struct {
	Index        int
	Name         string
	MemoryUsed   int64
	MemoryTotal  int64
	Utilization  int // percent of time a kernel ran, over the last sample period
	TemperatureC int
	PowerW       float64
	PowerLimitW  float64
}

// Summary is a reading in one line, for the status bar.
func (r GPUReading) Summary() string {
	if len(r.Devices) == 0 {
		return "No NVIDIA GPU: training will use the CPU"
	}
	d := r.Devices[0]
	s := d.Name
	if d.MemoryTotal > 0 {
		s += fmt.Sprintf(" · %s of %s", Bytes(d.MemoryUsed), Bytes(d.MemoryTotal))
	}
	if d.Utilization >= 0 {
		s += fmt.Sprintf(" · %d%% busy", d.Utilization)
	}
	if n := len(r.Devices); n > 1 {
		s += fmt.Sprintf(" (+%d more)", n-1)
	}
	return s
}

// GPUPanel shows the GPUs, updated by whoever reads them (every few seconds), and says plainly
// when there is none and training will use the CPU.
type GPUPanel struct {
	reading GPUReading
	header  *widget.Label
	cards   *fyne.Container
	content fyne.CanvasObject
}

// NewGPUPanel is a panel waiting for its first reading.
func NewGPUPanel() *GPUPanel {
	p := &GPUPanel{header: widget.NewLabel("Looking for NVIDIA GPUs…"), cards: container.NewVBox()}
	p.header.Wrapping = fyne.TextWrapWord
	p.content = container.NewVScroll(container.NewVBox(p.header, p.cards))
	return p
}

// Content is the panel's widget tree.
func (p *GPUPanel) Content() fyne.CanvasObject { return p.content }

// Reading is the reading on show.
func (p *GPUPanel) Reading() GPUReading { return p.reading }

// Header is the sentence at the top of the panel.
func (p *GPUPanel) Header() string { return p.header.Text }

// Update shows a new reading. It must run on the UI goroutine.
func (p *GPUPanel) Update(r GPUReading) {
	p.reading = r
	if len(r.Devices) == 0 {
		p.header.SetText(noGPUText(r.Problem))
		p.cards.RemoveAll()
		return
	}
	p.header.SetText(fmt.Sprintf("NVIDIA driver %s, CUDA %s.", r.Driver, r.CUDA))
	if len(p.cards.Objects) != len(r.Devices) {
		p.cards.RemoveAll()
		for range r.Devices {
			p.cards.Add(newGPUCard())
		}
	}
	for i, d := range r.Devices {
		p.cards.Objects[i].(*gpuCard).set(d)
	}
}

// noGPUText says why there is no GPU and what that means.
func noGPUText(problem string) string {
	var b strings.Builder
	b.WriteString("No NVIDIA GPU found: training will run on the CPU, which suits only small models.")
	if problem != "" {
		b.WriteString("\n\n" + problem)
	}
	return b.String()
}

// gpuCard shows one GPU.
type gpuCard struct {
	widget.Card
	memory, busy *widget.ProgressBar
	facts        *widget.Label
}

func newGPUCard() *gpuCard {
	c := &gpuCard{memory: widget.NewProgressBar(), busy: widget.NewProgressBar(), facts: widget.NewLabel("")}
	c.ExtendBaseWidget(c)
	c.busy.Max = 100
	c.SetContent(container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("Memory"), nil, c.memory),
		container.NewBorder(nil, nil, widget.NewLabel("Utilisation"), nil, c.busy),
		c.facts))
	return c
}

func (c *gpuCard) set(d GPUDevice) {
	c.SetTitle(fmt.Sprintf("GPU %d: %s", d.Index, d.Name))
	var facts []string
	if d.MemoryTotal > 0 {
		c.SetSubTitle(fmt.Sprintf("%s of %s in use", Bytes(d.MemoryUsed), Bytes(d.MemoryTotal)))
	} else {
		c.SetSubTitle("")
		facts = append(facts, "memory not reported")
	}
	c.memory.Max = float64(max(d.MemoryTotal, 1))
	c.memory.TextFormatter = func() string { return Bytes(max(d.MemoryUsed, 0)) }
	c.memory.SetValue(float64(max(d.MemoryUsed, 0)))
	c.busy.SetValue(float64(max(d.Utilization, 0)))
	if d.Utilization < 0 {
		facts = append(facts, "utilisation not reported")
	}
	if d.TemperatureC >= 0 {
		facts = append(facts, fmt.Sprintf("%d °C", d.TemperatureC))
	}
	if d.PowerW >= 0 {
		p := fmt.Sprintf("%.0f W", d.PowerW)
		if d.PowerLimitW > 0 {
			p += fmt.Sprintf(" of %.0f W", d.PowerLimitW)
		}
		facts = append(facts, p)
	}
	c.facts.SetText(strings.Join(facts, " · "))
}
