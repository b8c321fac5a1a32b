package ui

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// A plot's drawing, in pixels; the image scales to the space it gets.
const (
	plotWidth  = 760
	plotHeight = 300
	// plotPoints is the most points a line is drawn with: longer series are averaged into this
	// many buckets, so a redraw costs the same at step 100 and at step 100,000.
	plotPoints = 1000
)

// line is one curve of a plot: values by step.
type line struct {
	name      string
	x, y      []float64
	color     color.Color
	secondary bool // against the right-hand axis
	dashed    bool
	dots      bool // each point marked (evaluations, which are few)
}

// plot is a chart of lines by step, with up to two value axes, scaled to the data.
type plot struct {
	yName, y2Name string
	y2Format      func(float64) string   // the right-hand axis's labels; nil for plain numbers
	y2Range       *chart.ContinuousRange // the right-hand axis's span; nil scales it to the data
	fromZero      bool                   // the main axis starts at zero (memory: how full it is)
	lines         []line
}

// empty says whether no line has a point to draw.
func (p plot) empty() bool {
	for _, l := range p.lines {
		if len(l.x) > 0 {
			return false
		}
	}
	return true
}

// chart lays the plot out for go-chart in the theme's colours fg (text) and bg. go-chart's
// primary axis is on the right: the plot's main axis is its secondary one, on the left.
func (p plot) chart(fg, bg, grid color.Color) chart.Chart {
	text := chart.Style{FontColor: toDrawing(fg), FontSize: 9, StrokeColor: toDrawing(fg)}
	steps, ticks := p.stepAxis()
	c := chart.Chart{
		Width: plotWidth, Height: plotHeight,
		Background: chart.Style{FillColor: toDrawing(bg), Padding: chart.Box{Top: 40, Left: 12, Right: 12, Bottom: 12}},
		Canvas:     chart.Style{FillColor: toDrawing(bg)},
		XAxis:      chart.XAxis{Name: "step", NameStyle: text, Style: text, Range: steps, Ticks: ticks},
		YAxisSecondary: chart.YAxis{Name: p.yName, NameStyle: text, Style: text, Range: p.yRange(false),
			GridMajorStyle: chart.Style{StrokeColor: toDrawing(grid), StrokeWidth: 1},
			ValueFormatter: func(v any) string { return shortNumber(v.(float64)) }},
		YAxis: chart.YAxis{Style: chart.Hidden(), Range: p.yRange(true)},
	}
	if p.y2Name != "" {
		format := shortNumber
		if p.y2Format != nil {
			format = p.y2Format
		}
		c.YAxis = chart.YAxis{Name: p.y2Name, NameStyle: text, Style: text, Range: cmp.Or(p.y2Range, p.yRange(true)),
			ValueFormatter: func(v any) string { return format(v.(float64)) }}
	}
	for _, l := range p.lines {
		if len(l.x) == 0 {
			continue
		}
		c.Series = append(c.Series, l.series())
	}
	c.Elements = []chart.Renderable{legend(c.Series, toDrawing(fg))}
	return c
}

// legend names each series above the plot, with a sample of its line, in the text colour fg
// (go-chart's LegendThin paints its box white whatever the style, which a dark theme cannot
// read).
func legend(series []chart.Series, fg drawing.Color) chart.Renderable {
	return func(r chart.Renderer, plotBox chart.Box, defaults chart.Style) {
		r.SetFont(defaults.GetFont())
		r.SetFontColor(fg)
		r.SetFontSize(9)
		const sample, gap = 22, 6
		x, y := plotBox.Left, plotBox.Top/2+4
		for _, s := range series {
			st := s.GetStyle()
			box := r.MeasureText(s.GetName())
			r.Text(s.GetName(), x, y)
			x += box.Width() + gap
			r.SetStrokeColor(st.StrokeColor)
			r.SetStrokeWidth(st.StrokeWidth)
			r.SetStrokeDashArray(st.StrokeDashArray)
			r.MoveTo(x, y-box.Height()/2)
			r.LineTo(x+sample, y-box.Height()/2)
			r.Stroke()
			x += sample + 3*gap
		}
	}
}

func (l line) series() chart.Series {
	x, y := thin(l.x, l.y, plotPoints)
	style := chart.Style{StrokeColor: toDrawing(l.color), StrokeWidth: 2}
	if l.dashed {
		style.StrokeDashArray = []float64{6, 4}
	}
	if l.dots || len(x) == 1 {
		style.DotWidth, style.DotColor = 3, toDrawing(l.color)
	}
	if len(x) == 1 {
		style.StrokeWidth = chart.Disabled // a line needs two points
	}
	s := chart.ContinuousSeries{Name: l.name, Style: style, XValues: x, YValues: y, YAxis: chart.YAxisSecondary}
	if l.secondary {
		s.YAxis = chart.YAxisPrimary // on the right, see chart
	}
	return s
}

// stepAxis spans the steps of every line from a whole tick below the first to a whole tick above
// the last, ticks 1, 2 or 5 times a power of ten apart (go-chart stretches an axis to its ticks).
func (p plot) stepAxis() (*chart.ContinuousRange, []chart.Tick) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range p.lines {
		for _, v := range l.x {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo > hi {
		lo, hi = 0, 1
	}
	step := float64(niceStep(int(math.Ceil(hi-lo))/2 + 1))
	first, last := math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	if first == last {
		first, last = max(first-step, 0), last+step
	}
	var ticks []chart.Tick
	for v := first; v <= last; v += step {
		ticks = append(ticks, chart.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return &chart.ContinuousRange{Min: first, Max: last}, ticks
}

// yRange spans the values of the lines on one axis, with a little room above and below.
func (p plot) yRange(secondary bool) *chart.ContinuousRange {
	lo, hi := math.Inf(1), math.Inf(-1)
	if p.fromZero && !secondary {
		lo = 0
	}
	for _, l := range p.lines {
		if l.secondary != secondary {
			continue
		}
		for _, v := range l.y {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return padded(lo, hi, 0.05)
}

// padded is [lo, hi] widened by share of its span (by a tenth of the value when the span is
// empty, since go-chart cannot draw an empty range), never below zero for values that are not.
func padded(lo, hi, share float64) *chart.ContinuousRange {
	if lo > hi {
		return &chart.ContinuousRange{Min: 0, Max: 1}
	}
	pad := (hi - lo) * share
	if hi == lo {
		pad = cmp.Or(math.Abs(hi)*0.1, 0.5)
	}
	r := &chart.ContinuousRange{Min: lo - pad, Max: hi + pad}
	if lo >= 0 && r.Min < 0 {
		r.Min = 0
	}
	return r
}

// thin averages a series into at most n buckets of consecutive points; shorter ones are copied.
func thin(x, y []float64, n int) (tx, ty []float64) {
	if len(x) <= n {
		return append([]float64(nil), x...), append([]float64(nil), y...)
	}
	tx, ty = make([]float64, n), make([]float64, n)
	for b := range n {
		from, to := b*len(x)/n, (b+1)*len(x)/n
		var sx, sy float64
		for i := from; i < to; i++ {
			sx += x[i]
			sy += y[i]
		}
		tx[b], ty[b] = sx/float64(to-from), sy/float64(to-from)
	}
	return tx, ty
}

// shortNumber writes an axis value in a few characters: 0.5, 12, 3.2k, 1e-04.
func shortNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a < 1e-2:
		return fmt.Sprintf("%.0e", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// renderPlot draws a chart to pixels.
func renderPlot(c chart.Chart) (image.Image, error) {
	var buf bytes.Buffer
	if err := c.Render(chart.PNG, &buf); err != nil {
		return nil, err
	}
	return png.Decode(&buf)
}

// plotView shows a plot's last drawing under its title, or a sentence while there is nothing
// to draw.
type plotView struct {
	image   *canvas.Image
	note    *widget.Label
	content fyne.CanvasObject
	chart   chart.Chart // the chart last drawn, for tests of what it shows
}

func newPlotView(title string) *plotView {
	v := &plotView{image: canvas.NewImageFromImage(nil), note: placeholder("No points yet.")}
	v.image.FillMode = canvas.ImageFillContain
	v.image.SetMinSize(fyne.NewSize(plotWidth/2, plotHeight/2))
	head := widget.NewLabelWithStyle(title, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	v.content = container.NewBorder(head, nil, nil, nil, container.NewStack(v.image, v.note))
	return v
}

// plotColors are the theme's colours a plot's frame is drawn in; they are read on the UI
// goroutine and handed to the drawing.
type plotColors struct{ fg, bg, grid color.Color }

func currentPlotColors() plotColors {
	return plotColors{fg: themeColor(theme.ColorNameForeground), bg: themeColor(theme.ColorNameBackground),
		grid: themeColor(theme.ColorNameSeparator)}
}

// draw lays out and renders p; call it off the UI goroutine and hand the result to show.
func (c plotColors) draw(p plot) (chart.Chart, image.Image, error) {
	if p.empty() {
		return chart.Chart{}, nil, nil
	}
	ch := p.chart(c.fg, c.bg, c.grid)
	img, err := renderPlot(ch)
	return ch, img, err
}

// drawInto draws each plot off the UI goroutine in the theme's colours now, then shows it in the
// view of the same index on the UI goroutine, and calls then (nil for nothing).
func drawInto(r Runner, plots []plot, views []*plotView, then func()) {
	colors := currentPlotColors()
	type drawing struct {
		chart chart.Chart
		img   image.Image
		err   error
	}
	drawn := make([]drawing, len(plots))
	r.Run(func() {
		for i, p := range plots {
			drawn[i].chart, drawn[i].img, drawn[i].err = colors.draw(p)
		}
	}, func() {
		for i, d := range drawn {
			views[i].show(d.chart, d.img, d.err)
		}
		if then != nil {
			then()
		}
	})
}

// show puts a drawing on screen (on the UI goroutine).
func (v *plotView) show(ch chart.Chart, img image.Image, err error) {
	v.chart = ch
	v.image.Image = img
	v.image.Refresh()
	switch {
	case err != nil:
		v.note.SetText("The chart could not be drawn: " + err.Error())
		v.note.Show()
	case img == nil:
		v.note.SetText("No points yet.")
		v.note.Show()
	default:
		v.note.Hide()
	}
}
