package data

import (
	"fmt"
	"io"
	"strings"
)

// Report is what `qlora data inspect` shows of a dataset, and what a library records of it.
type Report struct {
	File          string         `json:"file"`
	FileFormat    FileFormat     `json:"file_format"`
	Format        Shape          `json:"format"`
	Detected      bool           `json:"detected"`
	Columns       []string       `json:"columns"`
	Template      string         `json:"template"`
	TrainOnInputs bool           `json:"train_on_inputs"`
	Stats         Stats          `json:"stats"`
	BadRows       []*RecordError `json:"bad_rows"`
	BadCount      int            `json:"bad_count"`
	Examples      []ReportSample `json:"examples"`
}

// ReportSample is one sample shown decoded, run by run.
type ReportSample struct {
	Line    int    `json:"line"`
	Tokens  int    `json:"tokens"`
	Trained int    `json:"trained"` // targets counted
	Spans   []Span `json:"spans"`
}

// NewReport describes ds; template names the chat template used, examples is how many samples to
// show decoded (the first ones).
func NewReport(ds *Dataset, tok Tokenizer, template string, trainOnInputs bool, examples int) *Report {
	r := &Report{File: ds.File, FileFormat: ds.Format, Format: ds.Shape, Detected: ds.Detected,
		Columns: ds.Columns, TrainOnInputs: trainOnInputs, Stats: ds.Stats,
		BadRows: ds.Bad, BadCount: ds.BadCount, Examples: []ReportSample{}}
	if ds.Shape.chat() {
		r.Template = template
	}
	if r.BadRows == nil {
		r.BadRows = []*RecordError{}
	}
	for i := range min(examples, len(ds.Samples)) {
		s := &ds.Samples[i]
		r.Examples = append(r.Examples, ReportSample{Line: s.Line, Tokens: len(s.IDs), Trained: s.Trained(), Spans: s.Spans(tok)})
	}
	return r
}

// Marks around the trained-on text of the examples.
const (
	TrainedOpen  = "⟦"
	TrainedClose = "⟧"
)

// WriteText writes the report for a person to read.
func (r *Report) WriteText(w io.Writer) {
	s := &r.Stats
	how := "given"
	if r.Detected {
		how = "detected"
	}
	fmt.Fprintf(w, "%s\n", r.File)
	fmt.Fprintf(w, "  format         %s (%s), %s file; columns %s\n", r.Format, how, r.FileFormat, strings.Join(r.Columns, ", "))
	if r.Template != "" {
		fmt.Fprintf(w, "  chat template  %s\n", r.Template)
	}
	fmt.Fprintf(w, "  trained on     %s\n", r.trainedOn())
	fmt.Fprintf(w, "  rows           %d: %d samples, %d bad, %d with nothing to train on within %d tokens\n",
		s.Rows, s.Samples, s.BadRows, s.NoTargets, s.MaxLength)
	if s.Samples > 0 {
		fmt.Fprintf(w, "  tokens         %d, %d of them trained on per epoch\n", s.Tokens, s.TokensPerEpoch)
		l := s.Lengths
		fmt.Fprintf(w, "  lengths        min %d, median %d, mean %.1f, p95 %d, max %d\n", l.Min, l.Median, l.Mean, l.P95, l.Max)
		fmt.Fprintf(w, "  truncated      %d %s (%.1f%%) to %d tokens\n", s.Truncated, plural(s.Truncated, "sample", "samples"), 100*s.TruncatedShare, s.MaxLength)
		fmt.Fprintf(w, "  packing        %d sequences of %d tokens, %.1f%% full (%.1f%% without packing)\n",
			s.PackedSequences, s.MaxLength, 100*s.PackingEfficiency, 100*s.PaddedEfficiency)
	}
	r.writeWarnings(w)
	r.writeHistogram(w)
	r.writeBad(w)
	r.writeExamples(w)
}

func (r *Report) trainedOn() string {
	switch {
	case r.Format == ShapeText:
		return "every token"
	case r.Format == ShapeTokenized:
		return "the file's labels (every token where it has none)"
	case r.TrainOnInputs:
		return "every token (train_on_inputs)"
	case r.Format == ShapeCompletion:
		return "completions only"
	}
	return "assistant turns only"
}

func (r *Report) writeWarnings(w io.Writer) {
	if n := r.Stats.Merged; n > 0 {
		fmt.Fprintf(w, "  note           %d %s begin inside a token shared with the prompt; that token is trained on\n", n, plural(n, "answer", "answers"))
	}
	if n := r.Stats.Untrained; n > 0 {
		fmt.Fprintf(w, "  note           %d assistant %s left untrained: the chat template renders them differently once the conversation goes on\n", n, plural(n, "turn", "turns"))
	}
}

func (r *Report) writeHistogram(w io.Writer) {
	most := 0
	for _, b := range r.Stats.Histogram {
		most = max(most, b.Count)
	}
	if most == 0 {
		return
	}
	fmt.Fprintf(w, "\nlengths in tokens, before truncation\n")
	for _, b := range r.Stats.Histogram {
		bar := strings.Repeat("█", (b.Count*40+most-1)/most)
		fmt.Fprintf(w, "  %13s  %-40s %d\n", b.Label(), bar, b.Count)
	}
}

func (r *Report) writeBad(w io.Writer) {
	if r.BadCount == 0 {
		return
	}
	fmt.Fprintf(w, "\nbad rows: %d\n", r.BadCount)
	for _, e := range r.BadRows {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if more := r.BadCount - len(r.BadRows); more > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", more)
	}
}

func (r *Report) writeExamples(w io.Writer) {
	for _, ex := range r.Examples {
		fmt.Fprintf(w, "\nexample from line %d: %d tokens, %d trained on, between %s and %s\n", ex.Line, ex.Tokens, ex.Trained, TrainedOpen, TrainedClose)
		for _, sp := range ex.Spans {
			if sp.Trained {
				fmt.Fprint(w, TrainedOpen+sp.Text+TrainedClose)
			} else {
				fmt.Fprint(w, sp.Text)
			}
		}
		fmt.Fprintln(w)
	}
}
