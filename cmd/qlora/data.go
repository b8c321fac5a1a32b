package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

const dataSynopsis = "inspect FILE --model DIR [--format F] [--json]"

// defaultMaxLength is the sample length inspected when neither the flag nor a shorter model
// context says otherwise.
const defaultMaxLength = 2048

func runData(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "inspect" {
		return fmt.Errorf("%w: qlora data %s", errUsage, dataSynopsis)
	}
	return runDataInspect(args[1:], stdout, stderr)
}

// listFlag collects a repeated flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type dataInspectFlags struct {
	model, format, fileType, template string
	columns                           listFlag
	maxLength, maxBad, examples       int
	trainOnInputs, skipBad, asJSON    bool
}

func runDataInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data inspect", "FILE --model DIR [--format F] [--json]", stderr)
	var f dataInspectFlags
	fs.StringVar(&f.model, "model", "", "model folder: its tokenizer and config.json (the weights are not read)")
	fs.StringVar(&f.format, "format", "auto", "dataset format: auto, alpaca, sharegpt, messages, completion, text, tokenized")
	fs.StringVar(&f.fileType, "file-type", "", "file type when the extension does not say: jsonl, json, csv, tsv, parquet")
	fs.Var(&f.columns, "column", "the file's column for one of our fields, as instruction=question (repeatable)")
	fs.StringVar(&f.template, "template", "", "chat template: llama2, llama3, chatml, mistral, alpaca, or a .jinja file (default: the model's)")
	fs.IntVar(&f.maxLength, "max-length", 0, fmt.Sprintf("max tokens per sample (default %d, or the model's context when shorter)", defaultMaxLength))
	fs.BoolVar(&f.trainOnInputs, "train-on-inputs", false, "train on prompts too, not only on answers")
	fs.BoolVar(&f.skipBad, "skip-bad", false, "accept bad rows: exit 0, as training on the good ones would")
	fs.IntVar(&f.maxBad, "max-bad", 50, "bad rows listed (all are counted)")
	fs.IntVar(&f.examples, "examples", 3, "samples shown decoded, the trained-on part marked")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || f.model == "" {
		return fmt.Errorf("%w: qlora data %s", errUsage, dataSynopsis)
	}
	tok, opts, template, err := f.options()
	if err != nil {
		return err
	}
	ds, loadErr := data.Load(pos[0], tok, opts)
	if ds == nil {
		return loadErr
	}
	report := data.NewReport(ds, tok, template, opts.TrainOnInputs, f.examples)
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		report.WriteText(stdout)
	}
	var bad *data.BadRecordsError
	if errors.As(loadErr, &bad) {
		return fmt.Errorf("%s: %d bad %s; fix them, or pass --skip-bad to train on the good ones", bad.File, bad.Count, plural(bad.Count, "row", "rows"))
	}
	return loadErr
}

// options loads the model's tokenizer and config and turns the flags into load options.
func (f *dataInspectFlags) options() (*tokenizer.Tokenizer, data.Options, string, error) {
	var opts data.Options
	shape, err := data.ParseShape(f.format)
	if err != nil {
		return nil, opts, "", fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	cols, err := data.ParseColumns(f.columns)
	if err != nil {
		return nil, opts, "", fmt.Errorf("%w: --column: %v", errUsage, err)
	}
	cfg, err := model.LoadConfig(f.model)
	if err != nil {
		return nil, opts, "", err
	}
	tok, err := tokenizer.Load(f.model)
	if err != nil {
		return nil, opts, "", err
	}
	if tok.VocabSize() > cfg.VocabSize {
		return nil, opts, "", fmt.Errorf("%s: the tokenizer has %d tokens, more than the model's vocab_size %d", f.model, tok.VocabSize(), cfg.VocabSize)
	}
	template, templateName, err := data.ChatTemplateFor(tok, f.template)
	if err != nil {
		return nil, opts, "", err
	}
	maxLength := f.maxLength
	if maxLength <= 0 {
		maxLength = min(defaultMaxLength, cfg.MaxPositionEmbeddings)
	}
	opts = data.Options{Format: data.FileFormat(f.fileType), Shape: shape, Columns: cols, Template: template,
		TrainOnInputs: f.trainOnInputs, MaxLength: maxLength, SkipBad: f.skipBad, MaxListed: f.maxBad}
	return tok, opts, templateName, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
