package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/runimport"
)

const runsImportSynopsis = "ADAPTER_DIR [--config axolotl.yaml] [--base DIR|NAME] [--name NAME] [--json]"

// runRunsImport records an adapter trained elsewhere as a run of the library: the run folder is
// written in the library's runs folder, then adopted. The library is not held open while the
// adapter is copied; a folder written but not recorded is adopted by the next `qlora runs list`.
func runRunsImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("runs import", runsImportSynopsis, stderr)
	config := fs.String("config", "", "the axolotl YAML the run was trained with (its hyperparameters and data)")
	base := fs.String("base", "", "the base model here: a folder, or a library model's name (default: the YAML's or the adapter's base_model_name_or_path)")
	name := fs.String("name", "", "the run's name, and its folder's in the library (default: the adapter folder's name)")
	asJSON := fs.Bool("json", false, "print the record as JSON")
	lf := addLibraryFlags(fs, false)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora runs import %s", errUsage, runsImportSynopsis)
	}
	if *name == "" {
		*name = filepath.Base(filepath.Clean(pos[0]))
	}
	dir, baseDir, err := importTarget(lf, *name, *base)
	if err != nil {
		return err
	}
	res, err := runimport.Import(pos[0], dir, runimport.Options{Config: *config, BaseModel: baseDir})
	if err != nil {
		return err
	}
	lib, err := lf.open()
	if err != nil {
		return fmt.Errorf("%s is written, but not recorded now (%w); qlora runs list will adopt it", dir, err)
	}
	defer lib.Close()
	r, err := lib.AdoptRun(dir)
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if *asJSON {
		return writeJSON(stdout, r)
	}
	fmt.Fprintf(stdout, "imported run %s (#%d): %d steps, %d evaluations, checkpoints %v, in %s\n",
		r.Name, r.ID, res.Points, res.Evals, res.Checkpoints, r.Dir)
	return nil
}

// importTarget is the new run folder in the library's runs folder, and the base model folder that
// --base names (a library model's path for its name).
func importTarget(lf *libraryFlags, name, base string) (string, string, error) {
	lib, err := lf.open()
	if err != nil {
		return "", "", err
	}
	defer lib.Close()
	if base != "" {
		m, err := resolveModel(lib, base)
		if err != nil {
			return "", "", err
		}
		if m != nil {
			base = m.Path
		} else if base, err = filepath.Abs(base); err != nil {
			return "", "", err
		}
	}
	return runimport.FreeDir(filepath.Join(lib.Dir(), storage.RunsDir), name), base, nil
}
