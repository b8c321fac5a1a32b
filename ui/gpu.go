package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
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

// GPUChecker runs the parity check every GPU run starts with (qlora gpu --check): one training
// step of a tiny model on the GPU and on the CPU, compared. An error means the check could not run.
type GPUChecker interface {
	CheckGPU() (GPUCheck, error)
}

// GPUCheck is the parity check's verdict.
type GPUCheck struct {
	Passed  bool
	Seconds float64
	Figures string // the loss, gradient norm, worst gradient and update, each against the CPU's
	Problem string // what differs, when it did not pass
}

// GPUPanel shows the GPUs, updated by whoever reads them (every few seconds), and says plainly
// when there is none and training will use the CPU. With a GPU it offers the parity check.
type GPUPanel struct {
	reading GPUReading
	header  *widget.Label
	cards   *fyne.Container
	check   *widget.Button
	verdict *widget.Label
	body    *fyne.Container // laid out again when cards or the check button come or go
	content fyne.CanvasObject
}

// NewGPUPanel is a panel waiting for its first reading; its check button asks checker, through
// runner.
func NewGPUPanel(checker GPUChecker, runner Runner) *GPUPanel {
	p := &GPUPanel{header: widget.NewLabel("Looking for NVIDIA GPUs…"), cards: container.NewVBox(), verdict: widget.NewLabel("")}
	p.header.Wrapping = fyne.TextWrapWord
	p.verdict.Wrapping = fyne.TextWrapWord
	p.check = widget.NewButtonWithIcon("Check this GPU against the CPU", theme.ConfirmIcon(), func() { p.runCheck(checker, runner) })
	p.check.Hide()
	p.body = container.NewVBox(p.header, p.cards, container.NewHBox(p.check), p.verdict)
	p.content = container.NewVScroll(p.body)
	return p
}

// Verdict is the check's sentence ("" before a check).
func (p *GPUPanel) Verdict() string { return p.verdict.Text }

// runCheck runs the check off the UI goroutine and shows its verdict.
func (p *GPUPanel) runCheck(checker GPUChecker, runner Runner) {
	p.check.Disable()
	p.setVerdict("Checking: one training step of a tiny model on the GPU and on the CPU…")
	var c GPUCheck
	var err error
	runner.Run(func() { c, err = checker.CheckGPU() }, func() {
		p.check.Enable()
		p.setVerdict(verdictText(c, err))
	})
}

// setVerdict shows text under the check, laying the panel out again for its lines.
func (p *GPUPanel) setVerdict(text string) {
	p.verdict.SetText(text)
	p.body.Refresh()
}

// verdictText says what the check found and what it means for training.
func verdictText(c GPUCheck, err error) string {
	switch {
	case err != nil:
		return "The check could not run: " + err.Error()
	case c.Passed:
		return fmt.Sprintf("Passed in %.1f s: this GPU computes the CPU's training step, within bf16's rounding.\n%s", c.Seconds, c.Figures)
	}
	return fmt.Sprintf("Failed: %s\nThis GPU computes another training step than the CPU's reference, so runs on it would "+
		"train another function: train on the CPU, and report this with the figures below.\n%s", c.Problem, c.Figures)
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
	cards := len(p.cards.Objects)
	checkShown := p.check.Visible()
	if len(r.Devices) == 0 {
		p.header.SetText(noGPUText(r.Problem))
		p.cards.RemoveAll()
		p.check.Hide()
		p.verdict.SetText("") // the GPU it was about is gone
	} else {
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
		p.check.Show()
	}
	if len(p.cards.Objects) != cards || p.check.Visible() != checkShown {
		p.body.Refresh() // lay the cards and the check out again
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
