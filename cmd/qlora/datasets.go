package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/qlora-studio/qlora-studio/storage"
)

const datasetsSynopsis = "qlora datasets add FILE [--name N] [--format F] [--model M] | list | show NAME [--model M] | rm NAME [--force]  [--library DIR] [--json]"

func runDatasets(args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand(args, datasetsSynopsis)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return runDatasetsAdd(rest, stdout, stderr)
	case "list", "ls":
		return runDatasetsList(rest, stdout, stderr)
	case "show":
		return runDatasetsShow(rest, stdout, stderr)
	case "rm", "remove":
		return runDatasetsRm(rest, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown subcommand %q: %s", errUsage, sub, datasetsSynopsis)
}

// measureFlags are the flags that choose how a dataset is measured with a model's tokenizer.
type measureFlags struct {
	model, template string
	maxLength       int
	trainOnInputs   bool
}

func addMeasureFlags(fs *flag.FlagSet) *measureFlags {
	m := &measureFlags{}
	fs.StringVar(&m.model, "model", "", "measure it with this model's tokenizer and template (a library name or a folder)")
	fs.IntVar(&m.maxLength, "max-length", 0, "max tokens per sample (default 2048, or the model's context when shorter)")
	fs.StringVar(&m.template, "template", "", "chat template: llama2, llama3, chatml, mistral, alpaca, or a .jinja file (default: the model's)")
	fs.BoolVar(&m.trainOnInputs, "train-on-inputs", false, "count prompts as trained on too")
	return m
}

func (m *measureFlags) measure() *storage.Measure {
	if m.model == "" {
		return nil
	}
	return &storage.Measure{Model: m.model, MaxLength: m.maxLength, Template: m.template, TrainOnInputs: m.trainOnInputs}
}

func runDatasetsAdd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("datasets add", "FILE [--name N] [--format F] [--model M] [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	name := fs.String("name", "", "the dataset's name in the library (default: the file's name)")
	format := fs.String("format", "auto", "dataset format: auto, alpaca, sharegpt, messages, completion, text, tokenized")
	fileType := fs.String("file-type", "", "file type when the extension does not say: jsonl, json, csv, tsv, parquet")
	skipBad := fs.Bool("skip-bad", false, "accept a file with bad rows (they are counted; training skips them with skip_bad_rows)")
	mf := addMeasureFlags(fs)
	asJSON := fs.Bool("json", false, "print the record as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora datasets add FILE [--name N] [--format F] [--model M]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	progress, done := byteProgress(stderr, "copying")
	d, err := lib.AddDataset(pos[0], storage.DatasetOptions{Name: *name, Shape: *format, FileType: *fileType, SkipBad: *skipBad,
		Measure: mf.measure(), Progress: progress})
	done()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, d)
	}
	fmt.Fprintf(stdout, "added dataset %s: %s, %s, %d rows", d.Name, d.Format, d.Shape, d.Rows)
	if d.BadRows > 0 {
		fmt.Fprintf(stdout, " (%d bad)", d.BadRows)
	}
	fmt.Fprintf(stdout, ", %s\n", sizeText(d.File.Size))
	for _, s := range d.Stats {
		writeTokenStats(stdout, s)
	}
	return nil
}

func writeTokenStats(w io.Writer, s storage.TokenStats) {
	fmt.Fprintf(w, "  with %s (max length %d, template %s): %d samples, %d tokens, %d trained per epoch; length mean %.0f, p95 %d, max %d; %d truncated (%.1f%%); packing %.0f%%\n",
		s.Model, s.MaxLength, s.Template, s.Samples, s.Tokens, s.TokensPerEpoch, s.Lengths.Mean, s.Lengths.P95, s.Lengths.Max,
		s.Truncated, 100*s.TruncatedShare, 100*s.PackingEfficiency)
}

func runDatasetsList(args []string, stdout, stderr io.Writer) error {
	return listing[storage.Dataset]{
		name: "datasets list", empty: "no datasets yet: qlora datasets add FILE",
		header: "NAME\tFORMAT\tSHAPE\tROWS\tSIZE\tADDED",
		fetch:  (*storage.Library).Datasets,
		row: func(d storage.Dataset) string {
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s", d.Name, d.Format, d.Shape, d.Rows, sizeText(d.File.Size), when(d.Added))
		},
	}.run(args, stdout, stderr)
}

func runDatasetsShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("datasets show", "NAME [--model M] [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	mf := addMeasureFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora datasets show NAME [--model M]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	if m := mf.measure(); m != nil {
		if _, err := lib.MeasureDataset(pos[0], *m); err != nil {
			return err
		}
	}
	d, err := lib.Dataset(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, d)
	}
	given := "detected"
	if d.ShapeGiven {
		given = "given"
	}
	fmt.Fprintf(stdout, "%s\n  file      %s (%s, sha256 %s)\n  source    %s\n  format    %s, shape %s (%s)\n  columns   %v\n  rows      %d, %d bad\n  added     %s\n",
		d.Name, d.Path, sizeText(d.File.Size), d.File.SHA256, d.Source, d.Format, d.Shape, given, d.Columns, d.Rows, d.BadRows, when(d.Added))
	if len(d.Stats) == 0 {
		fmt.Fprintln(stdout, "  no token statistics yet: qlora datasets show", d.Name, "--model MODEL")
	}
	for _, s := range d.Stats {
		writeTokenStats(stdout, s)
	}
	return nil
}

func runDatasetsRm(args []string, stdout, stderr io.Writer) error {
	return removal{name: "datasets rm", remove: func(lib *storage.Library, name string, force bool) (string, error) {
		return "removed dataset " + name + " and its copy", lib.RemoveDataset(name, force)
	}}.run(args, stdout, stderr)
}
