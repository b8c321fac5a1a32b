package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Inspection asks for a dataset's report: its rows read in a shape and, with a model, tokenized
// with that model's tokenizer and chat template at a maximum length.
type Inspection struct {
	File      string // the dataset file
	FileType  string // jsonl, json, csv, tsv, parquet; "" takes it from the extension
	Shape     string // a shape from Shapes, or "" to detect it
	Model     string // a library model's name; "" reads the rows without tokenizing them
	MaxLength int    // max_seq_length; 0 is 2048, or the model's context when shorter
	Examples  int    // samples rendered for the preview
}

// DatasetReport is what the datasets screen shows of a dataset.
type DatasetReport struct {
	Shape         string // the shape the rows were read in
	DetectedShape string // the shape detection picks, whatever was asked
	Columns       []string
	Template      string // the chat template used; "" for shapes without one
	TrainedOn     string // in words: "assistant turns only", "completions only", ...

	Rows, Samples, NoTargets int
	BadCount                 int      // rows that cannot be used
	BadRows                  []string // the first of them, each naming its line, field and reason

	Tokenized      bool // a model's tokenizer measured it; the fields below are set
	MaxLength      int
	Truncated      int
	TruncatedShare float64
	Lengths        LengthSummary
	Histogram      []HistogramBin
	Examples       []Example
}

// LengthSummary describes sample lengths in tokens.
type LengthSummary struct {
	Min, Median, P95, Max int
	Mean                  float64
}

// HistogramBin counts samples whose token length falls in a range.
type HistogramBin struct {
	Label  string // "1–256", "> 2048"
	Count  int
	Beyond bool // the bin beyond the maximum length: these samples would be truncated
}

// Example is one sample rendered as the model sees it, in runs of trained and untrained text.
type Example struct {
	Line, Tokens, Trained int
	Spans                 []Span
}

// Span is a run of a sample's text, all trained on or all not.
type Span struct {
	Text    string
	Trained bool
}

// BadRowsError is an import refused for rows that cannot be used; importing again with SkipBad
// takes the good rows.
type BadRowsError struct {
	File  string
	Count int
	Rows  []string // the first bad rows, each naming its line, field and reason
}

func (e *BadRowsError) Error() string {
	return fmt.Sprintf("%s: %d bad %s", e.File, e.Count, plural(e.Count, "row", "rows"))
}

// examplesText renders the examples for the preview: a heading per sample, then its text with the
// trained-on part bold in the trained colour, so that it stands out in either theme and without
// colour too.
func examplesText(r *DatasetReport) []widget.RichTextSegment {
	if r == nil || !r.Tokenized {
		return []widget.RichTextSegment{&widget.TextSegment{Style: widget.RichTextStyleParagraph,
			Text: "Import a model to see how its tokenizer and chat template render these rows, and which tokens are trained on."}}
	}
	if len(r.Examples) == 0 {
		return []widget.RichTextSegment{&widget.TextSegment{Style: widget.RichTextStyleParagraph, Text: "No samples to show."}}
	}
	segs := []widget.RichTextSegment{&widget.TextSegment{Style: widget.RichTextStyleParagraph,
		Text: fmt.Sprintf("Trained on: %s, shown bold in green. Template: %s.", r.TrainedOn, orNone(r.Template))}}
	for _, ex := range r.Examples {
		segs = append(segs, &widget.TextSegment{Style: widget.RichTextStyleSubHeading,
			Text: fmt.Sprintf("Line %d: %d tokens, %d trained on", ex.Line, ex.Tokens, ex.Trained)})
		segs = append(segs, spanSegments(ex.Spans)...)
	}
	return segs
}

// spanSegments turns spans into inline text segments, one per line of each span, ending the
// paragraph at each newline (RichText breaks lines between segments, not inside them).
func spanSegments(spans []Span) []widget.RichTextSegment {
	var segs []widget.RichTextSegment
	for _, sp := range spans {
		style := widget.RichTextStyle{Inline: true, ColorName: theme.ColorNameForeground}
		if sp.Trained {
			style = widget.RichTextStyle{Inline: true, ColorName: ColorNameTrained, TextStyle: fyne.TextStyle{Bold: true}}
		}
		lines := strings.Split(sp.Text, "\n")
		for i, line := range lines {
			st := style
			if i < len(lines)-1 {
				st.Inline = false // a paragraph ends here
			}
			if line == "" && st.Inline {
				continue
			}
			segs = append(segs, &widget.TextSegment{Style: st, Text: line})
		}
	}
	// The last span closes the sample's paragraph.
	segs = append(segs, &widget.TextSegment{Style: widget.RichTextStyleParagraph})
	return segs
}

// reportFacts are the facts above the preview.
func reportFacts(r *DatasetReport) []field {
	fs := []field{
		{"Columns", strings.Join(r.Columns, ", ")},
		{"Rows", fmt.Sprintf("%d: %d usable, %d bad", r.Rows, r.Rows-r.BadCount, r.BadCount)},
		{"Trained on", r.TrainedOn},
	}
	if r.Tokenized {
		fs = append(fs,
			field{"Samples", fmt.Sprintf("%d, %d with nothing to train on within %d tokens", r.Samples, r.NoTargets, r.MaxLength)},
			field{"Truncated", fmt.Sprintf("%d (%s) at max_seq_length %d", r.Truncated, Percent(r.TruncatedShare), r.MaxLength)})
	}
	return fs
}

// badRowsText lists the bad rows, or says there are none.
func badRowsText(r *DatasetReport) string {
	if r == nil {
		return ""
	}
	if r.BadCount == 0 {
		return "Every row can be used."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad %s; training skips %s.\n\n", r.BadCount, plural(r.BadCount, "row", "rows"), plural(r.BadCount, "it", "them"))
	for _, row := range r.BadRows {
		b.WriteString(row)
		b.WriteByte('\n')
	}
	if more := r.BadCount - len(r.BadRows); more > 0 {
		fmt.Fprintf(&b, "… and %d more\n", more)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
