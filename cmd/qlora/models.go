package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/qlora-studio/qlora-studio/storage"
)

const modelsSynopsis = "qlora models add DIR [--name N] [--copy] | list | show NAME | rm NAME [--force]  [--library DIR] [--json]"

func runModels(args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand(args, modelsSynopsis)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return runModelsAdd(rest, stdout, stderr)
	case "list", "ls":
		return runModelsList(rest, stdout, stderr)
	case "show":
		return runModelsShow(rest, stdout, stderr)
	case "rm", "remove":
		return runModelsRm(rest, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown subcommand %q: %s", errUsage, sub, modelsSynopsis)
}

func runModelsAdd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models add", "DIR [--name N] [--copy] [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	name := fs.String("name", "", "the model's name in the library (default: the folder's name)")
	copyIn := fs.Bool("copy", false, "copy the files into the library (default: use them where they are)")
	asJSON := fs.Bool("json", false, "print the record as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora models add DIR [--name N] [--copy]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	label := "hashing"
	if *copyIn {
		label = "copying"
	}
	progress, done := byteProgress(stderr, label)
	m, err := lib.AddModel(pos[0], storage.ModelOptions{Name: *name, Copy: *copyIn, Progress: progress})
	done()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, m)
	}
	where := "referenced at " + m.Path
	if m.Copied {
		where = "copied to " + m.Path
	}
	fmt.Fprintf(stdout, "added model %s: %s, %s parameters, %s; %s\n", m.Name, m.Architecture, countText(m.Parameters), sizeText(m.Bytes()), where)
	return nil
}

func runModelsList(args []string, stdout, stderr io.Writer) error {
	return listing[storage.Model]{
		name: "models list", empty: "no models yet: qlora models add DIR",
		header: "NAME\tARCHITECTURE\tPARAMETERS\tSIZE\tQUANTIZED\tFILES",
		fetch:  (*storage.Library).Models,
		row: func(m storage.Model) string {
			quant, where := "no", m.Path
			if m.Quantization != "" {
				quant = "nf4"
			}
			if m.Copied {
				where = "(in the library)"
			}
			return fmt.Sprintf("%s\t%s %dL\t%s\t%s\t%s\t%s", m.Name, m.Architecture, m.Layers, countText(m.Parameters), sizeText(m.Bytes()), quant, where)
		},
	}.run(args, stdout, stderr)
}

// modelShow is what `models show --json` prints: the record and the runs that use it.
type modelShow struct {
	storage.Model
	Runs []string `json:"runs"`
}

func runModelsShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models show", "NAME [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora models show NAME [--json]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	m, err := lib.Model(pos[0])
	if err != nil {
		return err
	}
	runs, err := lib.Runs()
	if err != nil {
		return err
	}
	show := modelShow{Model: m, Runs: []string{}}
	for _, r := range runs {
		if r.Model == m.Name {
			show.Runs = append(show.Runs, r.Name)
		}
	}
	if *asJSON {
		return writeJSON(stdout, show)
	}
	fmt.Fprintf(stdout, "%s\n", m.Name)
	fmt.Fprintf(stdout, "  architecture   %s, %d layers, hidden %d, MLP %d, %d heads (%d key/value)\n", m.Architecture, m.Layers, m.HiddenSize, m.IntermediateSize, m.Heads, m.KVHeads)
	fmt.Fprintf(stdout, "  vocabulary     %d (tokenizer %d), context %d, chat template %s\n", m.VocabSize, m.TokenizerVocab, m.Context, yesNo(m.ChatTemplate))
	fmt.Fprintf(stdout, "  parameters     %s (%d)\n", countText(m.Parameters), m.Parameters)
	quant := "no"
	if m.Quantization != "" {
		quant = m.Quantization
	}
	fmt.Fprintf(stdout, "  pre-quantized  %s\n", quant)
	if m.Copied {
		fmt.Fprintf(stdout, "  files          %s (copied from %s)\n", m.Path, m.Source)
	} else {
		fmt.Fprintf(stdout, "  files          %s (referenced in place)\n", m.Path)
	}
	for _, f := range m.Files {
		fmt.Fprintf(stdout, "    %-36s %10s  sha256 %s\n", f.Name, sizeText(f.Size), f.SHA256)
	}
	for _, c := range m.NF4 {
		fmt.Fprintf(stdout, "  NF4 base       blocksize %d, double quant %s: %s, %s, built in %.1fs\n", c.Blocksize, yesNo(c.DoubleQuant), filepath.Base(c.Path), sizeText(c.Bytes), c.BuildSeconds)
	}
	fmt.Fprintf(stdout, "  added          %s\n", when(m.Added))
	if len(show.Runs) > 0 {
		fmt.Fprintf(stdout, "  runs           %s\n", strings.Join(show.Runs, ", "))
	}
	return nil
}

func runModelsRm(args []string, stdout, stderr io.Writer) error {
	return removal{name: "models rm", remove: func(lib *storage.Library, name string, force bool) (string, error) {
		m, err := lib.Model(name)
		if err != nil {
			return "", err
		}
		if err := lib.RemoveModel(name, force); err != nil {
			return "", err
		}
		if m.Copied {
			return fmt.Sprintf("removed model %s and its copy", m.Name), nil
		}
		return fmt.Sprintf("removed model %s (its folder %s stays)", m.Name, m.Path), nil
	}}.run(args, stdout, stderr)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
