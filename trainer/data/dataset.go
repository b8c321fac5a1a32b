package data

import (
	"fmt"
	"runtime"
	"sync"
)

// Options say how to read a dataset file and tokenize it.
type Options struct {
	Format  FileFormat // "" takes it from the extension
	Shape   Shape      // "" detects it from the columns
	Columns Columns    // our field names to the file's, where they differ

	// Template renders the chat shapes (alpaca, sharegpt, messages): the model's own chat
	// template, or a built-in one. The other shapes do not use it.
	Template      ChatTemplate
	TrainOnInputs bool // train on prompts too, not only on answers
	MaxLength     int  // samples are truncated to this many tokens

	// SkipBad accepts a file with bad rows and trains on the good ones; without it Load returns a
	// *BadRecordsError (with the dataset, for a report).
	SkipBad   bool
	MaxListed int // bad rows listed; 0 is DefaultMaxListed
}

// Dataset is a file read, checked and tokenized.
type Dataset struct {
	File     string
	Format   FileFormat
	Shape    Shape
	Detected bool     // the shape was detected, not given
	Columns  []string // the file's column names
	Samples  []Sample
	Bad      []*RecordError // the first bad rows, in file order, up to the limit
	BadCount int            // every bad row
	Stats    Stats
}

// Load reads, checks, tokenizes and truncates a dataset file. A file it cannot read at all is an
// error and a nil dataset. When rows are bad and opts.SkipBad is off, it returns the dataset (good
// rows tokenized, bad ones listed, for a report) together with a *BadRecordsError: train only when
// the error is nil.
func Load(path string, tok Tokenizer, opts Options) (*Dataset, error) {
	t, err := ReadFile(path, opts.Format, opts.MaxListed)
	if err != nil {
		return nil, err
	}
	return FromTable(t, tok, opts)
}

// FromTable is Load for a table already read. A table without a single good row fails with its
// bad rows.
func FromTable(t *Table, tok Tokenizer, opts Options) (*Dataset, error) {
	if opts.MaxLength <= 0 {
		return nil, fmt.Errorf("%s: max length %d must be positive", t.File, opts.MaxLength)
	}
	maxListed := opts.MaxListed
	if maxListed <= 0 {
		maxListed = DefaultMaxListed
	}
	if len(t.Records) == 0 && t.BadCount > 0 {
		return nil, &BadRecordsError{File: t.File, Count: t.BadCount, Listed: t.Bad}
	}
	ds := &Dataset{File: t.File, Format: t.Format, Shape: opts.Shape, Columns: t.Columns()}
	if ds.Shape == "" {
		shape, err := DetectShape(t.Records, opts.Columns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.File, err)
		}
		ds.Shape, ds.Detected = shape, true
	}
	if ds.Shape.chat() {
		if opts.Template == nil {
			return nil, errNoTemplate(t.File, ds.Shape)
		}
		if err := CheckTemplate(opts.Template); err != nil {
			return nil, fmt.Errorf("%s: %w", t.File, err)
		}
	}
	enc := &encoder{Tok: tok, Template: opts.Template, TrainOnInputs: opts.TrainOnInputs}
	results := encodeAll(t.Records, ds.Shape, opts.Columns, enc)
	bad := mergeBad(t, results, maxListed)
	ds.Bad, ds.BadCount = bad.listed, bad.count
	ds.Stats.Rows, ds.Stats.BadRows = len(t.Records)+t.BadCount, bad.count
	for _, r := range results {
		if r.err != nil {
			continue
		}
		s := truncate(r.out.Sample, opts.MaxLength)
		if s.Trained() == 0 {
			ds.Stats.NoTargets++
			continue
		}
		ds.Samples = append(ds.Samples, s)
		ds.Stats.Merged += r.out.Merged
		ds.Stats.Untrained += r.out.Untrained
	}
	ds.Stats.measure(ds.Samples, opts.MaxLength)
	return ds, ds.check(opts.SkipBad)
}

// check is the error Load returns with a dataset: bad rows not accepted, or nothing to train on.
func (ds *Dataset) check(skipBad bool) error {
	if ds.BadCount > 0 && !skipBad {
		return &BadRecordsError{File: ds.File, Count: ds.BadCount, Listed: ds.Bad}
	}
	if len(ds.Samples) == 0 {
		return fmt.Errorf("%s: %w (%d rows, %d bad, %d with nothing to train on within the max length)",
			ds.File, ErrNoSamples, ds.Stats.Rows, ds.BadCount, ds.Stats.NoTargets)
	}
	return nil
}

type encodeResult struct {
	line int
	out  encoded
	err  *RecordError
}

// encodeAll reads and tokenizes every record, on every core, keeping the records' order.
func encodeAll(records []Record, shape Shape, cols Columns, enc *encoder) []encodeResult {
	results := make([]encodeResult, len(records))
	workers := min(runtime.GOMAXPROCS(0), max(len(records)/64, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(records); i += workers {
				results[i] = encodeOne(records[i], shape, cols, enc)
			}
		})
	}
	wg.Wait()
	return results
}

func encodeOne(r Record, shape Shape, cols Columns, enc *encoder) encodeResult {
	res := encodeResult{line: r.Line}
	ex, ferr := toExample(r, shape, cols)
	if ferr == nil {
		res.out, ferr = enc.encode(ex, shape, cols)
	}
	if ferr != nil {
		res.err = &RecordError{Line: r.Line, Field: ferr.field, Reason: ferr.reason}
	}
	return res
}

// mergeBad lists the parser's bad rows and the encoder's together, in line order.
func mergeBad(t *Table, results []encodeResult, maxListed int) badList {
	all := badList{max: maxListed}
	parsed := t.Bad
	for _, r := range results {
		if r.err == nil {
			continue
		}
		for len(parsed) > 0 && parsed[0].Line < r.line {
			all.add(parsed[0])
			parsed = parsed[1:]
		}
		r.err.File = t.File
		all.add(r.err)
	}
	for _, p := range parsed {
		all.add(p)
	}
	all.count += t.BadCount - len(t.Bad) // parser rows counted but not listed
	return all
}

func truncate(s Sample, maxLength int) Sample {
	if len(s.IDs) > maxLength {
		s.IDs, s.Labels = s.IDs[:maxLength], s.Labels[:maxLength]
	}
	return s
}
