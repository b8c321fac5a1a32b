package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

const handoffSynopsis = "[RUN_OR_CONFIG] --to axolotl --out DIR [--preset ID] [--config run.yaml] [--set key=value]... [--base-model ID_OR_PATH] [--name NAME] [--json]"

func runHandoff(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("handoff", handoffSynopsis, stderr)
	to := fs.String("to", "", "the trainer to hand the run to: axolotl")
	out := fs.String("out", "", "folder to create (must not exist) with the configuration, the data and a README")
	baseModel := fs.String("base-model", "", "base_model as the cluster reaches it: a Hugging Face id or a path there (default: the run's)")
	name := fs.String("name", "", "name of axolotl's output folder, outputs/NAME (default: the --out folder's name)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	flags := addConfigFlags(fs)
	lf := addLibraryFlags(fs, false)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *to != "axolotl" || *out == "" || len(pos) > 1 || (len(pos) == 0 && *flags.preset == "" && *flags.config == "") {
		return fmt.Errorf("%w: qlora handoff %s (axolotl is the one trainer handed to)", errUsage, handoffSynopsis)
	}
	cfg, err := handoffConfig(pos, flags, lf)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = filepath.Base(filepath.Clean(*out))
	}
	res, err := axolotl.Handoff(cfg, *out, axolotl.HandoffOptions{BaseModel: *baseModel, Name: *name})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "wrote %s: %s and %d %s rows in %s\n", res.Dir, axolotl.ConfigFile, res.Rows, res.Shape, axolotl.TrainFile)
	fmt.Fprintf(stdout, "launch on the cluster from inside it: axolotl train %s (%s has the commands for several nodes)\n", axolotl.ConfigFile, axolotl.ReadmeFile)
	for _, n := range res.Notes {
		fmt.Fprintf(stdout, "not carried as it was: %s\n", n)
	}
	return nil
}

// handoffConfig resolves the configuration handed off: the preset, then the run or configuration
// named (a run.yaml or a run folder, else a run of the library), then --config and --set; library
// names of the model and dataset become their paths.
func handoffConfig(pos []string, flags *configFlags, lf *libraryFlags) (run.Config, error) {
	layers, err := flags.layers()
	if err != nil {
		return run.Config{}, err
	}
	var lib *storage.Library
	defer func() {
		if lib != nil {
			lib.Close()
		}
	}()
	open := func() (*storage.Library, error) { // the library, opened when a name needs it
		if lib != nil {
			return lib, nil
		}
		l, err := lf.open()
		lib = l
		return l, err
	}
	if len(pos) == 1 {
		doc, err := runOrConfigDoc(pos[0], open)
		if err != nil {
			return run.Config{}, err
		}
		n := 0
		if *flags.preset != "" {
			n = 1 // after the preset, before --config
		}
		layers.Docs = append(layers.Docs[:n], append([]run.Doc{doc}, layers.Docs[n:]...)...)
	}
	cfg, err := layers.Resolve()
	if err != nil {
		return cfg, err
	}
	if cfg.BaseModel == "" || cfg.Dataset == "" {
		return cfg, fmt.Errorf("%w: the configuration names no base_model or no dataset (--set base_model=... dataset=...)", errUsage)
	}
	return cfg, resolveLibraryNames(&cfg, open)
}

// runOrConfigDoc reads what RUN_OR_CONFIG names: a configuration file, a run folder's run.yaml,
// or what a library run (by name, id or folder) trained with (storage.Library.RunDoc).
func runOrConfigDoc(arg string, open func() (*storage.Library, error)) (run.Doc, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return run.ReadDoc(arg)
	} else if err == nil {
		if lib, err := open(); err == nil {
			if r, err := lib.FindRun(arg); err == nil {
				return lib.RunDoc(r.ID)
			}
		}
		return run.ReadDoc(filepath.Join(arg, run.ConfigFile))
	}
	lib, err := open()
	if err != nil {
		return run.Doc{}, err
	}
	r, err := lib.FindRun(arg)
	if errors.Is(err, storage.ErrNotFound) {
		return run.Doc{}, fmt.Errorf("%q is neither a configuration file, a run folder nor a run in the library (qlora runs list)", arg)
	}
	if err != nil {
		return run.Doc{}, err
	}
	return lib.RunDoc(r.ID)
}

// resolveLibraryNames turns a library model's or dataset's name in the configuration into its path.
func resolveLibraryNames(cfg *run.Config, open func() (*storage.Library, error)) error {
	for _, p := range []*string{&cfg.BaseModel, &cfg.Dataset, &cfg.ValDataset} {
		if *p == "" || isPathArg(*p) {
			continue
		}
		lib, err := open()
		if err != nil {
			return err
		}
		if p == &cfg.BaseModel {
			m, err := resolveModel(lib, *p)
			if err != nil {
				return err
			}
			*p = m.Path
			continue
		}
		d, err := resolveDataset(lib, *p)
		if err != nil {
			return err
		}
		*p = d.Path
	}
	return nil
}
