package ui

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// The histogram's drawing, in pixels; the image scales to the space it gets.
const (
	histogramWidth  = 720
	histogramHeight = 300
)

// Histogram draws the token lengths of a dataset's samples, before truncation, against the
// maximum length: the bins within it in the theme's primary colour, the bin beyond it (what
// max_seq_length would cut) in the truncation colour, with the share truncated written above.
type Histogram struct {
	caption *widget.Label
	image   *canvas.Image
	content fyne.CanvasObject

	bins  []HistogramBin
	chart chart.BarChart // the chart last drawn, for tests of what it shows
}

// NewHistogram is an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{caption: widget.NewLabel(""), image: canvas.NewImageFromImage(nil)}
	h.caption.Wrapping = fyne.TextWrapWord
	h.image.FillMode = canvas.ImageFillContain
	h.image.SetMinSize(fyne.NewSize(histogramWidth/2, histogramHeight/2))
	h.content = container.NewBorder(h.caption, nil, nil, nil, h.image)
	return h
}

// Content is the histogram's widget tree.
func (h *Histogram) Content() fyne.CanvasObject { return h.content }

// Caption is the sentence above the chart.
func (h *Histogram) Caption() string { return h.caption.Text }

// Chart is the chart last drawn: its bars, their labels and colours.
func (h *Histogram) Chart() chart.BarChart { return h.chart }

// Image is the chart last drawn, as pixels; nil when there was nothing to draw.
func (h *Histogram) Image() image.Image { return h.image.Image }

// Show draws the report's length histogram and says how much would be truncated.
func (h *Histogram) Show(r *DatasetReport) {
	h.bins = nil
	if r != nil && r.Tokenized {
		h.bins = r.Histogram
	}
	if r == nil || !r.Tokenized || r.Samples == 0 {
		h.caption.SetText("No samples to measure.")
		if r != nil && !r.Tokenized {
			h.caption.SetText("Token lengths need a model's tokenizer: import a model, then choose it above.")
		}
		h.image.Image = nil
		h.image.Refresh()
		return
	}
	h.caption.SetText(fmt.Sprintf("Token lengths of %d %s before truncation, against max_seq_length %d: %d %s (%s) would be truncated (the last bar). Lengths: min %d, median %d, mean %.0f, p95 %d, max %d.",
		r.Samples, plural(r.Samples, "sample", "samples"), r.MaxLength, r.Truncated, plural(r.Truncated, "sample", "samples"),
		Percent(r.TruncatedShare), r.Lengths.Min, r.Lengths.Median, r.Lengths.Mean, r.Lengths.P95, r.Lengths.Max))
	h.Redraw()
}

// Redraw draws the chart again in the current theme's colours (after a theme change).
func (h *Histogram) Redraw() {
	if len(h.bins) == 0 {
		return
	}
	h.chart = histogramChart(h.bins, chartColors{
		fg: themeColor(theme.ColorNameForeground), bg: themeColor(theme.ColorNameBackground),
		grid: themeColor(theme.ColorNameSeparator), within: themeColor(theme.ColorNamePrimary),
		beyond: themeColor(ColorNameTruncated),
	})
	img, err := renderChart(h.chart)
	if err != nil {
		h.caption.SetText(h.caption.Text + "\n(The chart could not be drawn: " + err.Error() + ")")
		img = nil
	}
	h.image.Image = img
	h.image.Refresh()
}

// chartColors are the theme's colours the chart is drawn in.
type chartColors struct{ fg, bg, grid, within, beyond color.Color }

// histogramChart lays the bins out as a bar chart.
func histogramChart(bins []HistogramBin, c chartColors) chart.BarChart {
	most := 1
	for _, b := range bins {
		most = max(most, b.Count)
	}
	text := chart.Style{FontColor: toDrawing(c.fg), FontSize: 10, StrokeColor: toDrawing(c.fg)}
	step := niceStep(most)
	top := (most + step - 1) / step * step
	var ticks []chart.Tick
	for v := 0; v <= top; v += step {
		ticks = append(ticks, chart.Tick{Value: float64(v), Label: fmt.Sprint(v)})
	}
	bc := chart.BarChart{
		Width: histogramWidth, Height: histogramHeight, BarWidth: histogramWidth / (len(bins) + 2),
		Background: chart.Style{FillColor: toDrawing(c.bg), Padding: chart.Box{Top: 16, Left: 8, Right: 16, Bottom: 28}},
		Canvas:     chart.Style{FillColor: toDrawing(c.bg)},
		XAxis:      text,
		YAxis: chart.YAxis{
			Style: text, Range: &chart.ContinuousRange{Min: 0, Max: float64(top)}, Ticks: ticks,
			GridMajorStyle: chart.Style{StrokeColor: toDrawing(c.grid), StrokeWidth: 1},
		},
	}
	for _, b := range bins {
		fill := c.within
		if b.Beyond {
			fill = c.beyond
		}
		bc.Bars = append(bc.Bars, chart.Value{Label: b.Label, Value: float64(b.Count),
			Style: chart.Style{FillColor: toDrawing(fill), StrokeColor: toDrawing(fill), StrokeWidth: 1}})
	}
	return bc
}

// niceStep is a step of 1, 2 or 5 times a power of ten that divides 0..most into at most 6 ticks.
func niceStep(most int) int {
	for unit := 1; ; unit *= 10 {
		for _, m := range []int{1, 2, 5} {
			if step := m * unit; most <= 6*step {
				return step
			}
		}
	}
}

// renderChart draws a chart to pixels.
func renderChart(bc chart.BarChart) (image.Image, error) {
	var buf bytes.Buffer
	if err := bc.Render(chart.PNG, &buf); err != nil {
		return nil, err
	}
	return png.Decode(&buf)
}

func toDrawing(c color.Color) drawing.Color {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return drawing.Color{R: n.R, G: n.G, B: n.B, A: n.A}
}
