package ui

import (
	"image/color"
	"math"
	"testing"

	chart "github.com/wcharczuk/go-chart/v2"
)

// TestPlot_Draws ensures every shape of data a run gives is drawn, with the step axis spanning
// every point: one point, one point per line at one step, flat values, steps far from zero, two
// axes, and a long series averaged down to plotPoints.
func TestPlot_Draws(t *testing.T) {
	seq := func(from, n int, y func(int) float64) line {
		l := line{name: "l", color: color.Black}
		for i := range n {
			l.x, l.y = append(l.x, float64(from+i)), append(l.y, y(i))
		}
		return l
	}
	flat := func(int) float64 { return 2 }
	falling := func(i int) float64 { return 3 / float64(i+1) }
	for _, c := range []struct {
		name  string
		p     plot
		drawn int // points of the first line drawn
	}{
		{"one point", plot{lines: []line{seq(2, 1, flat)}}, 1},
		{"one point each at one step", plot{lines: []line{seq(8, 1, flat), {name: "m", x: []float64{8}, y: []float64{1}, color: color.Black}}}, 1},
		{"flat", plot{lines: []line{seq(1, 10, flat)}}, 10},
		{"steps far from zero", plot{lines: []line{seq(995, 18, falling)}}, 18},
		{"two axes", plot{y2Name: "lr", y2Range: &chart.ContinuousRange{Min: 0, Max: 100},
			lines: []line{seq(1, 5, falling), {name: "lr", x: []float64{1, 5}, y: []float64{0, 1e-4}, secondary: true, dashed: true, color: color.Black}}}, 5},
		{"long", plot{lines: []line{seq(1, 100_000, falling)}}, plotPoints},
	} {
		ch, img, err := plotColors{fg: color.Black, bg: color.White, grid: color.Gray{Y: 200}}.draw(c.p)
		if err != nil || img == nil {
			t.Errorf("%s: not drawn: %v", c.name, err)
			continue
		}
		first := ch.Series[0].(chart.ContinuousSeries)
		if len(first.XValues) != c.drawn {
			t.Errorf("%s: %d points drawn, want %d", c.name, len(first.XValues), c.drawn)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range c.p.lines {
			for _, x := range l.x {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		if r := ch.XAxis.Range; r.GetMin() > lo || r.GetMax() < hi || len(ch.XAxis.Ticks) < 2 {
			t.Errorf("%s: step axis [%v, %v] with %d ticks for steps %v to %v", c.name, r.GetMin(), r.GetMax(), len(ch.XAxis.Ticks), lo, hi)
		}
	}
	if _, img, err := (plotColors{fg: color.Black, bg: color.White}).draw(plot{}); img != nil || err != nil {
		t.Errorf("an empty plot: %v %v, want nothing drawn", img, err)
	}
}
