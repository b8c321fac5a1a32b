package ui

import (
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// Card is a GPU to plan a run against: its name and memory.
type Card struct {
	Name   string
	Memory int64
}

// Cards are the workstation and server GPUs a run may be planned for, the RTX A6000 first (the
// default while no GPU is detected). The detected GPUs come before them.
var Cards = []Card{
	{"RTX A6000 (48 GB)", 48 << 30},
	{"RTX 6000 Ada (48 GB)", 48 << 30},
	{"RTX 4090 (24 GB)", 24 << 30},
	{"RTX 3090 (24 GB)", 24 << 30},
	{"A100 (80 GB)", 80 << 30},
	{"H100 (80 GB)", 80 << 30},
}

// The bar's height and the marker of the card's memory, in pixels.
const (
	memoryBarHeight = 28
	memoryMarker    = 3
)

// MemoryPanel shows the memory planner's breakdown of a run as a bar against a GPU's memory, the
// parts counted to the byte apart from the estimated ones, whether the run fits, and the largest
// max length and micro-batch that fit ("make it fit").
type MemoryPanel struct {
	cards    []Card
	detected []Card
	chosen   bool // a card was chosen by hand: a detected GPU does not take its place

	card      *widget.Select
	bar       *fyne.Container
	legend    *widget.Label
	verdict   *widget.Label
	breakdown *fyne.Container
	fitLength *widget.Button
	fitBatch  *widget.Button
	content   fyne.CanvasObject

	report *plan.Report

	onCard func()                      // the card changed: plan again
	apply  func(key string, value int) // make it fit: set a key of the form
}

// newMemoryPanel is a panel planning against the first card; onCard is called when another card
// is chosen, apply when a fit is applied.
func newMemoryPanel(onCard func(), apply func(key string, value int)) *MemoryPanel {
	p := &MemoryPanel{cards: Cards, onCard: onCard, apply: apply}
	p.card = widget.NewSelect(cardNames(p.cards), nil)
	p.card.SetSelectedIndex(0)
	p.card.OnChanged = func(string) {
		p.chosen = true
		p.onCard()
	}
	p.bar = container.New(&barLayout{})
	p.legend = widget.NewLabel("")
	p.legend.Wrapping = fyne.TextWrapWord
	p.verdict = widget.NewLabel("")
	p.verdict.Wrapping = fyne.TextWrapWord
	p.breakdown = container.New(layout.NewFormLayout())
	p.fitLength = widget.NewButton("", func() { p.apply("max_seq_length", p.report.LargestSeqLen) })
	p.fitBatch = widget.NewButton("", func() { p.apply("micro_batch_size", p.report.LargestMicroBatch) })
	fit := container.NewVBox(widget.NewLabelWithStyle("Make it fit", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		p.fitLength, p.fitBatch)
	head := container.NewBorder(nil, nil, widget.NewLabel("Plan for"), nil, p.card)
	p.content = container.NewVBox(head, p.bar, p.legend, p.verdict, fit, widget.NewSeparator(), p.breakdown)
	p.Clear("")
	return p
}

// Content is the panel's widget tree.
func (p *MemoryPanel) Content() fyne.CanvasObject { return p.content }

// Memory is the chosen card's memory in bytes.
func (p *MemoryPanel) Memory() int64 { return p.chosenCard().Memory }

// Report is the plan on show; false when none is.
func (p *MemoryPanel) Report() (plan.Report, bool) {
	if p.report == nil {
		return plan.Report{}, false
	}
	return *p.report, true
}

// Verdict is the sentence that says whether the run fits.
func (p *MemoryPanel) Verdict() string { return p.verdict.Text }

// ChooseCard plans against the card with this name.
func (p *MemoryPanel) ChooseCard(name string) { p.card.SetSelected(name) }

func (p *MemoryPanel) chosenCard() Card {
	return p.cards[max(p.card.SelectedIndex(), 0)]
}

// SetDetected offers the GPUs this machine has before the standard cards, and plans against the
// first of them unless a card was chosen by hand.
func (p *MemoryPanel) SetDetected(devices []GPUDevice) {
	var detected []Card
	for _, d := range devices {
		if d.MemoryTotal > 0 {
			detected = append(detected, Card{fmt.Sprintf("%s (%s, in this machine)", d.Name, Bytes(d.MemoryTotal)), d.MemoryTotal})
		}
	}
	if slices.Equal(detected, p.detected) {
		return
	}
	current := p.chosenCard().Name
	p.detected, p.cards = detected, append(detected, Cards...)
	cb := p.card.OnChanged
	p.card.OnChanged = nil
	p.card.SetOptions(cardNames(p.cards))
	p.card.ClearSelected()
	p.card.SetSelected(current)
	if !p.chosen || p.card.SelectedIndex() < 0 {
		p.card.SetSelectedIndex(0)
	}
	p.card.OnChanged = cb
	p.onCard()
}

func cardNames(cards []Card) []string {
	names := make([]string, len(cards))
	for i, c := range cards {
		names[i] = c.Name
	}
	return names
}

// Clear shows no plan, and why.
func (p *MemoryPanel) Clear(why string) {
	p.report = nil
	p.bar.Objects = nil
	p.bar.Refresh()
	p.legend.SetText("")
	p.verdict.Importance = widget.MediumImportance
	p.verdict.SetText(why)
	p.breakdown.RemoveAll()
	p.fitLength.SetText("Largest max length that fits")
	p.fitBatch.SetText("Largest micro-batch that fits")
	p.fitLength.Disable()
	p.fitBatch.Disable()
}

// Show draws a plan judged against the chosen card; current are the form's max_seq_length and
// micro_batch_size, which "make it fit" would change.
func (p *MemoryPanel) Show(r plan.Report, seqLen, microBatch int) {
	p.report = &r
	p.drawBar(r)
	var exact, estimated int64
	p.breakdown.RemoveAll()
	for _, c := range r.Components {
		kind := "exact"
		if c.Exact {
			exact += c.Bytes
		} else {
			estimated += c.Bytes
			kind = "estimate"
		}
		value := widget.NewLabel(fmt.Sprintf("%s · %s  %s", Bytes(c.Bytes), kind, c.Note))
		value.Truncation = fyne.TextTruncateEllipsis
		p.breakdown.Add(widget.NewLabelWithStyle(c.Name, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}))
		p.breakdown.Add(value)
	}
	p.legend.SetText(fmt.Sprintf("Total %s: %s counted exactly (dark), %s estimated (light: the CUDA driver and the allocator)",
		Bytes(r.TotalBytes), Bytes(exact), Bytes(estimated)))
	p.showVerdict(r)
	p.showFit(p.fitLength, "max length", r.LargestSeqLen, seqLen)
	p.showFit(p.fitBatch, "micro-batch", r.LargestMicroBatch, microBatch)
}

func (p *MemoryPanel) showVerdict(r plan.Report) {
	if r.Fits {
		p.verdict.Importance = widget.SuccessImportance
		p.verdict.SetText(fmt.Sprintf("Fits: %s needed of %s, %s to spare.", Bytes(r.TotalBytes), Bytes(r.MemoryBytes), Bytes(r.SpareBytes)))
		return
	}
	p.verdict.Importance = widget.DangerImportance
	p.verdict.SetText(fmt.Sprintf("Does not fit: %s needed of %s, %s over.", Bytes(r.TotalBytes), Bytes(r.MemoryBytes), Bytes(-r.SpareBytes)))
}

// showFit offers the largest value that fits, when it differs from the current one.
func (p *MemoryPanel) showFit(b *widget.Button, what string, largest, current int) {
	switch {
	case largest == 0:
		b.SetText(fmt.Sprintf("No %s fits this card", what))
		b.Disable()
	case largest == current:
		b.SetText(fmt.Sprintf("The %s is the largest that fits (%d)", what, largest))
		b.Disable()
	default:
		b.SetText(fmt.Sprintf("Set the %s to %d, the largest that fits", what, largest))
		b.Enable()
	}
}

// drawBar draws one segment for each component over the card's memory (the exact ones in the
// primary colour, the estimates lighter), and a marker where the card's memory ends.
func (p *MemoryPanel) drawBar(r plan.Report) {
	l := &barLayout{scale: max(r.TotalBytes, r.MemoryBytes), limit: r.MemoryBytes}
	p.bar.Layout = l
	primary := theme.Color(theme.ColorNamePrimary)
	light := theme.Color(theme.ColorNameSelection)
	objs := []fyne.CanvasObject{canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))}
	for _, c := range r.Components {
		rect := canvas.NewRectangle(primary)
		if !c.Exact {
			rect.FillColor = light
		}
		l.bytes = append(l.bytes, c.Bytes)
		objs = append(objs, rect)
	}
	marker := canvas.NewRectangle(theme.Color(theme.ColorNameForeground))
	if !r.Fits {
		marker.FillColor = theme.Color(theme.ColorNameError)
	}
	p.bar.Objects = append(objs, marker)
	p.bar.Refresh()
}

// barLayout places the bar: the track over the whole width, one segment per component of bytes
// side by side (scale bytes fill the width), and a marker at limit bytes.
type barLayout struct {
	bytes        []int64
	scale, limit int64
}

func (l *barLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if len(objs) == 0 {
		return
	}
	x := func(b int64) float32 { return size.Width * float32(float64(b)/float64(max(l.scale, 1))) }
	objs[0].Move(fyne.NewPos(0, 0))
	objs[0].Resize(size)
	var done int64
	for i, b := range l.bytes {
		objs[1+i].Move(fyne.NewPos(x(done), 0))
		objs[1+i].Resize(fyne.NewSize(max(x(done+b)-x(done)-1, 1), size.Height))
		done += b
	}
	marker := objs[len(objs)-1]
	marker.Move(fyne.NewPos(min(x(l.limit), size.Width-memoryMarker), 0))
	marker.Resize(fyne.NewSize(memoryMarker, size.Height))
}

func (l *barLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(200, memoryBarHeight) }
