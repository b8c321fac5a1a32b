package ui_test

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/qlora-studio/qlora-studio/app"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// The test dataset: 40 short questions (lines 1-40), a broken line (41), 3 answers too long for
// 256 tokens (42-44) and a line that is not JSON (45).
const (
	shortRows = 40
	longRows  = 3
)

// writeDataset writes a JSONL file whose rows fit two shapes: alpaca (instruction, output), which
// detection picks, and completion (prompt, completion), for the shape override.
func writeDataset(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capitals.jsonl")
	var b strings.Builder
	row := func(q, a string) {
		line, _ := json.Marshal(map[string]string{"instruction": q, "output": a, "prompt": q + "\n", "completion": a})
		b.Write(line)
		b.WriteByte('\n')
	}
	countries := []string{"France", "Spain", "Italy", "Peru", "Chile", "Japan", "Kenya", "Egypt"}
	for i := range shortRows {
		row("What is the capital of "+countries[i%len(countries)]+"?", "The capital is somewhere.")
	}
	b.WriteString("{\"instruction\": \"broken\n") // line 41
	for range longRows {
		row("Tell me everything about Peru.", strings.Repeat("Peru is a country in South America with a long history. ", 40))
	}
	b.WriteString("not json at all\n") // line 45
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// datasetsScreen is the datasets screen on a real library holding the tiny model.
func datasetsScreen(t *testing.T) (*ui.Datasets, app.Library, *storage.Library, fyne.Window) {
	t.Helper()
	w := newWindow(t)
	lib := newLibrary(t)
	if _, err := lib.AddModel(tinyModel(t), storage.ModelOptions{}); err != nil {
		t.Fatal(err)
	}
	store := app.Library{Library: lib}
	s := ui.NewDatasets(store, store, ui.Inline{}, w)
	w.SetContent(s.Content())
	return s, store, lib, w
}

// TestDatasets_ImportPreviewHistogram ensures the datasets screen, against a real library, lists
// the bad lines of a file and imports its good rows when asked; then shows the detected shape,
// samples rendered with the trained-on part marked, the bad rows by line, and the token-length
// histogram of the real statistics against max_seq_length with the share truncated.
func TestDatasets_ImportPreviewHistogram(t *testing.T) {
	s, _, lib, win := datasetsScreen(t)
	file := writeDataset(t)

	s.Import(file, false)
	refusal := overlay(t, win)
	for _, want := range []string{"2 rows", fmt.Sprintf("capitals.jsonl:%d", 41), fmt.Sprintf("capitals.jsonl:%d", 45)} {
		if !shows(refusal, want) {
			t.Errorf("the bad-rows dialog does not say %q: %q", want, texts(refusal))
		}
	}
	tapButton(t, refusal, "Import the good rows")
	d, err := lib.Dataset("capitals")
	if err != nil {
		t.Fatalf("not imported: %v", err)
	}
	if d.Shape != "alpaca" || d.BadRows != 2 || d.Rows != shortRows+longRows+2 {
		t.Errorf("recorded %+v", d)
	}
	if len(d.Stats) != 1 || d.Stats[0].Model != "tiny" || d.Stats[0].Samples != shortRows+longRows {
		t.Errorf("token statistics recorded %+v, want the tiny model's", d.Stats)
	}
	if !shows(s.Content(), "alpaca · jsonl · 45 rows · 2 bad") {
		t.Errorf("the list shows %q", texts(s.Content()))
	}

	s.SetMaxLength(256)
	r := s.Report()
	if r == nil || !r.Tokenized {
		t.Fatalf("no report with token statistics: %+v", r)
	}
	if r.Shape != "alpaca" || r.DetectedShape != "alpaca" || r.Samples != shortRows+longRows || r.BadCount != 2 || r.MaxLength != 256 {
		t.Errorf("report %+v", r)
	}

	// The preview: samples rendered with the template, the trained-on part marked.
	if len(r.Examples) == 0 {
		t.Fatal("no examples")
	}
	var trained, prompt string
	for _, sp := range r.Examples[0].Spans {
		if sp.Trained {
			trained += sp.Text
		} else {
			prompt += sp.Text
		}
	}
	if !strings.Contains(trained, "The capital is somewhere.") || strings.Contains(trained, "What is the capital") ||
		!strings.Contains(prompt, "What is the capital of France?") {
		t.Errorf("trained %q, not trained %q: want the answer trained and the question not", trained, prompt)
	}
	if !shows(s.Content(), "Line 1: ") || !shows(s.Content(), "Trained on: assistant turns only") {
		t.Errorf("the preview shows %q", texts(s.Content()))
	}

	// The bad rows, by line.
	if len(r.BadRows) != 2 || !strings.Contains(r.BadRows[0], ":41") || !strings.Contains(r.BadRows[1], ":45") {
		t.Errorf("bad rows %q", r.BadRows)
	}

	// The histogram of the real statistics: every sample counted once, the long answers in the
	// bin beyond 256 drawn in the truncation colour, and the share truncated said above it.
	if r.Truncated != longRows {
		t.Fatalf("%d truncated at 256 tokens, want the %d long rows", r.Truncated, longRows)
	}
	h := s.Histogram()
	bars := h.Chart().Bars
	if len(bars) != len(r.Histogram) || len(bars) < 2 {
		t.Fatalf("%d bars for %d bins", len(bars), len(r.Histogram))
	}
	total := 0.0
	for _, b := range bars {
		total += b.Value
	}
	last := bars[len(bars)-1]
	if int(total) != r.Samples || last.Label != "> 256" || int(last.Value) != longRows {
		t.Errorf("bars %+v: want %d samples in all, the last bin > 256 holding %d", bars, r.Samples, longRows)
	}
	if last.Style.FillColor == bars[0].Style.FillColor {
		t.Errorf("the truncated bin is drawn like the others")
	}
	share := fmt.Sprintf("%d samples (%s) would be truncated", longRows, ui.Percent(float64(longRows)/float64(r.Samples)))
	if !strings.Contains(h.Caption(), share) || !strings.Contains(h.Caption(), "max_seq_length 256") {
		t.Errorf("caption %q, want it to say %q", h.Caption(), share)
	}
	img := h.Image()
	if img == nil || img.Bounds().Dx() != 720 || img.Bounds().Dy() != 300 {
		t.Fatalf("chart image %v", img)
	}
	if img.At(360, 150) == (color.RGBA{}) {
		t.Errorf("the chart is blank")
	}

	// A longer max length truncates nothing.
	s.SetMaxLength(4096)
	if r := s.Report(); r.Truncated != 0 || r.MaxLength != 4096 || !strings.Contains(h.Caption(), "0 samples (0.0%)") {
		t.Errorf("at 4096 tokens: %d truncated, caption %q", r.Truncated, h.Caption())
	}
}

// TestDatasets_ShapeOverride ensures a shape chosen by hand is kept in the library, the dataset
// read in it, and choosing the detected shape again returns to detection.
func TestDatasets_ShapeOverride(t *testing.T) {
	s, store, _, _ := datasetsScreen(t)
	s.Import(writeDataset(t), true)
	s.SetShape("completion")
	d, err := store.Dataset("capitals")
	if err != nil || d.Shape != "completion" || !d.ShapeGiven {
		t.Fatalf("after the override: %+v (%v)", d, err)
	}
	r := s.Report()
	if r == nil || r.Shape != "completion" || r.DetectedShape != "alpaca" || r.TrainedOn != "completions only" {
		t.Fatalf("report in the override: %+v", r)
	}
	if !shows(s.Content(), "set by hand; detection says alpaca") {
		t.Errorf("the screen shows %q", texts(s.Content()))
	}
	s.SetShape("alpaca")
	if d, _ := store.Dataset("capitals"); d.Shape != "alpaca" || d.ShapeGiven {
		t.Errorf("back to the detected shape: %+v", d)
	}
}

// TestDatasets_DeleteRefused ensures the library's refusal to delete a dataset a run uses is shown
// with the run named, and the dataset goes once no run uses it.
func TestDatasets_DeleteRefused(t *testing.T) {
	s, _, lib, win := datasetsScreen(t)
	s.Import(writeDataset(t), true)
	d, _ := lib.Dataset("capitals")
	r, err := lib.RecordRun(storage.NewRun{Name: "capitals-run", Dir: filepath.Join(t.TempDir(), "run"), Dataset: "capitals",
		BaseModel: "tiny", Data: d.Path})
	if err != nil {
		t.Fatal(err)
	}
	tapButton(t, s.Content(), "Delete")
	tapButton(t, overlay(t, win), "Delete")
	if !shows(overlay(t, win), `The dataset "capitals" is used by 1 run: capitals-run.`) {
		t.Fatalf("refusal says %q", texts(overlay(t, win)))
	}
	tapButton(t, overlay(t, win), "OK")
	lib.RemoveRun(r.ID, false)
	tapButton(t, s.Content(), "Delete")
	tapButton(t, overlay(t, win), "Delete")
	if list, _ := lib.Datasets(); len(list) != 0 {
		t.Errorf("still there: %+v", list)
	}
	if !shows(s.Content(), "No datasets yet") {
		t.Errorf("after the delete: %q", texts(s.Content()))
	}
}

// TestDatasets_NoModel ensures a dataset can be imported and its rows read before any model is:
// the screen says that the preview and the token lengths need a model's tokenizer.
func TestDatasets_NoModel(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	store := app.Library{Library: lib}
	s := ui.NewDatasets(store, store, ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Import(writeDataset(t), true)
	r := s.Report()
	if r == nil || r.Tokenized || r.Shape != "alpaca" || r.BadCount != 2 || len(r.BadRows) != 2 {
		t.Fatalf("report without a model: %+v", r)
	}
	if !shows(s.Content(), "Import a model to see how its tokenizer") || !strings.Contains(s.Histogram().Caption(), "need a model's tokenizer") {
		t.Errorf("the screen shows %q; histogram %q", texts(s.Content()), s.Histogram().Caption())
	}
}
