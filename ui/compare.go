package ui

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"
	chart "github.com/wcharczuk/go-chart/v2"
	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/storage"
)

// comparePalette colours the runs of a comparison, in order; it reads on light and dark themes.
var comparePalette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// KeyDifference is a configuration key whose value differs between the runs compared, with
// each run's value ("—" where a run's configuration lacks the key).
type KeyDifference struct {
	Key    string
	Values []string
}

// compared is one run of a comparison and what is drawn of it.
type compared struct {
	rec    storage.Run
	config string
	points []storage.Point
	evals  []storage.EvalPoint
}

// Compare shows two or more runs side by side: their training and evaluation loss curves
// overlaid, and the configuration keys whose values differ.
type Compare struct {
	runner Runner
	runs   []compared
	diffs  []KeyDifference

	train, eval *plotView
	keys        *fyne.Container
	content     fyne.CanvasObject
}

// NewCompare builds the comparison of the runs ids and starts reading them.
func NewCompare(ids []uint64, store RunStore, runner Runner, win fyne.Window) *Compare {
	c := &Compare{runner: runner, train: newPlotView("Training loss"), eval: newPlotView("Evaluation loss"),
		keys: container.NewVBox(placeholder("Reading the runs…"))}
	split := container.NewVSplit(container.NewGridWithColumns(2, c.train.content, c.eval.content), container.NewVScroll(c.keys))
	split.Offset = 0.55
	c.content = split
	var runs []compared
	var err error
	runner.Run(func() { runs, err = readCompared(store, ids) }, func() {
		if err != nil {
			dialog.ShowError(err, win)
			return
		}
		c.runs = runs
		configs := make([]string, len(runs))
		for i, r := range runs {
			configs[i] = r.config
		}
		if c.diffs, err = configDifferences(configs); err != nil {
			dialog.ShowError(err, win)
		}
		c.showKeys()
		c.Redraw()
	})
	return c
}

func readCompared(store RunStore, ids []uint64) ([]compared, error) {
	runs := make([]compared, len(ids))
	for i, id := range ids {
		r := &runs[i]
		var err error
		if r.rec, err = store.Run(id); err != nil {
			return nil, err
		}
		cfg, err := store.RunConfig(id)
		if err != nil {
			return nil, err
		}
		r.config = cfg.YAML
		if r.points, err = store.Series(id, storage.Range{}); err != nil {
			return nil, err
		}
		if r.evals, err = store.EvalSeries(id, storage.Range{}); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// Content is the comparison's widget tree.
func (c *Compare) Content() fyne.CanvasObject { return c.content }

// Differences are the configuration keys whose values differ, by key.
func (c *Compare) Differences() []KeyDifference { return c.diffs }

// TrainChart is the training-loss chart last drawn.
func (c *Compare) TrainChart() chart.Chart { return c.train.chart }

// EvalChart is the evaluation-loss chart last drawn.
func (c *Compare) EvalChart() chart.Chart { return c.eval.chart }

// Redraw draws the curves (again, after a theme change) off the UI goroutine.
func (c *Compare) Redraw() {
	train, eval := plot{yName: "loss"}, plot{yName: "loss"}
	for i, r := range c.runs {
		col := comparePalette[i%len(comparePalette)]
		var xs, ys, exs, eys []float64
		for _, p := range r.points {
			if !math.IsNaN(p.Loss) && !math.IsInf(p.Loss, 0) {
				xs, ys = append(xs, float64(p.Step)), append(ys, p.Loss)
			}
		}
		for _, p := range r.evals {
			if !math.IsNaN(p.Loss) && !math.IsInf(p.Loss, 0) {
				exs, eys = append(exs, float64(p.Step)), append(eys, p.Loss)
			}
		}
		train.lines = append(train.lines, line{name: r.rec.Name, x: xs, y: ys, color: col})
		eval.lines = append(eval.lines, line{name: r.rec.Name, x: exs, y: eys, color: col, dots: true})
	}
	drawInto(c.runner, []plot{train, eval}, []*plotView{c.train, c.eval}, nil)
}

// showKeys lays the differing keys out as a table: a key per row, a run per column.
func (c *Compare) showKeys() {
	c.keys.RemoveAll()
	if len(c.diffs) == 0 {
		c.keys.Add(placeholder("The runs' configurations are the same."))
		return
	}
	c.keys.Add(widget.NewLabelWithStyle(fmt.Sprintf("%d configuration %s differ:", len(c.diffs), plural(len(c.diffs), "key", "keys")),
		fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	grid := container.New(layout.NewGridLayoutWithColumns(len(c.runs) + 1))
	bold := fyne.TextStyle{Bold: true}
	grid.Add(widget.NewLabelWithStyle("key", fyne.TextAlignLeading, bold))
	for _, r := range c.runs {
		grid.Add(widget.NewLabelWithStyle(r.rec.Name, fyne.TextAlignLeading, bold))
	}
	for _, d := range c.diffs {
		grid.Add(widget.NewLabelWithStyle(d.Key, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}))
		for _, v := range d.Values {
			l := widget.NewLabel(v)
			l.Truncation = fyne.TextTruncateEllipsis
			l.Selectable = true
			grid.Add(l)
		}
	}
	c.keys.Add(grid)
}

// configDifferences compares flat YAML configurations key by key and lists the keys whose
// values are not all the same, sorted.
func configDifferences(configs []string) ([]KeyDifference, error) {
	maps := make([]map[string]any, len(configs))
	keys := map[string]bool{}
	for i, cfg := range configs {
		if err := yaml.Unmarshal([]byte(cfg), &maps[i]); err != nil {
			return nil, fmt.Errorf("a run's configuration: %w", err)
		}
		for k := range maps[i] {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var diffs []KeyDifference
	for _, k := range sorted {
		values := make([]string, len(maps))
		for i, m := range maps {
			values[i] = configValue(m, k)
		}
		if slices.ContainsFunc(values, func(v string) bool { return v != values[0] }) {
			diffs = append(diffs, KeyDifference{Key: k, Values: values})
		}
	}
	return diffs, nil
}

// configValue is a key's value as the YAML would write it in flow style; "—" when it is absent.
func configValue(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok {
		return "—"
	}
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
