package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// libraryRun is the library's part in one train or resume: the run's record, opened for a few
// short transactions before the run and after it, never during it. A nil *libraryRun (with
// --no-library) does nothing.
type libraryRun struct {
	lib *storage.Library
	id  uint64
}

// recordTrain resolves library names in the configuration (base_model, dataset, val_dataset),
// swaps in the model's cached NF4 base when the run quantizes, and records the run with its plan
// before it starts on the backend named, with the preset it started from. Paths work as before;
// with --no-library nothing else happens.
func (f *libraryFlags) recordTrain(cfg *run.Config, out, backendName, preset string, stderr io.Writer) (*libraryRun, error) {
	if f.off {
		for _, arg := range []string{cfg.BaseModel, cfg.Dataset} {
			if !isPathArg(arg) {
				return nil, fmt.Errorf("%q is not on disk, and --no-library leaves library names unknown", arg)
			}
		}
		return nil, nil
	}
	lib, err := f.open()
	if err != nil {
		return nil, fmt.Errorf("%w\n(pass --no-library to train without recording the run)", err)
	}
	recorded := false
	defer func() {
		if !recorded {
			lib.Close()
		}
	}()
	if err := lib.Refresh(); err != nil { // adopts runs a crash left behind
		fmt.Fprintf(stderr, "warning: the library's runs were not brought up to date: %v\n", err)
	}
	nr := storage.NewRun{Dir: out, Preset: preset, PID: os.Getpid()}
	var m *storage.Model
	if m, err = resolveModel(lib, cfg.BaseModel); err != nil {
		return nil, err
	}
	if m != nil {
		cfg.BaseModel, nr.Model = m.Path, m.Name
	}
	d, err := resolveDataset(lib, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	if d != nil {
		cfg.Dataset, nr.Dataset = d.Path, d.Name
		if d.ShapeGiven && (cfg.DatasetFormat == "" || cfg.DatasetFormat == "auto") {
			cfg.DatasetFormat = d.Shape
		}
	}
	if cfg.ValDataset != "" {
		if vd, err := resolveDataset(lib, cfg.ValDataset); err != nil {
			return nil, err
		} else if vd != nil {
			cfg.ValDataset = vd.Path
		}
	}
	nr.BaseModel, _ = filepath.Abs(cfg.BaseModel)
	nr.Data, _ = filepath.Abs(cfg.Dataset)
	if _, err := os.Stat(filepath.Join(out, run.ConfigFile)); err == nil {
		return nil, nil // the engine refuses a folder that holds a run, and says how to resume it
	}
	nr.Plan = storage.PlanFor(cfg, backendName)
	if m != nil && cfg.LoadIn4Bit && m.Quantization == "" && cfg.BnB4bitQuantType == "nf4" {
		if cfg.BaseModel, err = nf4Base(lib, m.Name, cfg, stderr); err != nil {
			return nil, err
		}
	}
	if nr.Config, err = cfg.Marshal(); err != nil {
		return nil, err
	}
	r, err := lib.RecordRun(nr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "run %s (#%d) recorded in the library %s\n", r.Name, r.ID, lib.Dir())
	recorded = true
	return &libraryRun{lib: lib, id: r.ID}, nil
}

// resolveModel finds the library model that arg names, or whose folder arg is; nil for a folder
// the library does not know.
func resolveModel(lib *storage.Library, arg string) (*storage.Model, error) {
	if isPathArg(arg) {
		m, err := lib.ModelByPath(arg)
		if err != nil {
			return nil, nil
		}
		return &m, nil
	}
	m, err := lib.Model(arg)
	if err != nil {
		return nil, notFoundHint(err, "model folder", arg, "models")
	}
	return &m, nil
}

// resolveDataset finds the library dataset that arg names; nil for a path.
func resolveDataset(lib *storage.Library, arg string) (*storage.Dataset, error) {
	if isPathArg(arg) {
		return nil, nil
	}
	d, err := lib.Dataset(arg)
	if err != nil {
		return nil, notFoundHint(err, "data file", arg, "datasets")
	}
	return &d, nil
}

// nf4Base is the folder of the model's cached NF4 base for this run's quantization, built the
// first time: later runs then load it instead of quantizing the 16-bit base again.
func nf4Base(lib *storage.Library, name string, cfg *run.Config, stderr io.Writer) (string, error) {
	start := time.Now()
	progress := newProgress(stderr, "NF4 base of "+name)
	path, built, err := lib.NF4(name, storage.NF4Options{Blocksize: cfg.BnB4bitBlocksize, DoubleQuant: cfg.BnB4bitUseDoubleQuant, Progress: progress.update})
	progress.finish()
	if err != nil {
		return "", err
	}
	if built {
		fmt.Fprintf(stderr, "NF4 base of %s built in %.1fs and cached for later runs: %s\n", name, time.Since(start).Seconds(), path)
	} else {
		fmt.Fprintf(stderr, "NF4 base of %s from the library's cache: %s\n", name, path)
	}
	return path, nil
}

// recordResume finds the run folder or library run that arg names and marks it running again in
// this process; a folder the library does not know is adopted first. It returns the run folder.
func (f *libraryFlags) recordResume(arg string, stderr io.Writer) (*libraryRun, string, error) {
	if f.off {
		return nil, arg, nil
	}
	lib, err := f.open()
	if err != nil {
		return nil, "", fmt.Errorf("%w\n(pass --no-library to resume without the library)", err)
	}
	started := false
	defer func() {
		if !started {
			lib.Close()
		}
	}()
	var r storage.Run
	if _, statErr := os.Stat(filepath.Join(arg, run.ConfigFile)); statErr == nil {
		if r, err = lib.FindRun(arg); errors.Is(err, storage.ErrNotFound) {
			r, err = lib.AdoptRun(arg)
		}
	} else if r, err = lib.FindRun(arg); errors.Is(err, storage.ErrNotFound) {
		return nil, "", fmt.Errorf("%q is neither a run folder nor a run in the library (see qlora runs list)", arg)
	}
	if err == nil {
		err = lib.StartRun(r.ID, os.Getpid())
	}
	if err != nil {
		return nil, "", err
	}
	started = true
	return &libraryRun{lib: lib, id: r.ID}, r.Dir, nil
}

// end indexes the run's folder and settles its status once the engine is done. The run folder is
// the truth: a library that cannot be reached now is brought up to date at its next refresh.
func (r *libraryRun) end(runErr error, stderr io.Writer) {
	if r == nil {
		return
	}
	defer r.lib.Close()
	reason := ""
	var code exitCode
	if runErr != nil && !errors.As(runErr, &code) {
		reason = runErr.Error()
	}
	if _, err := r.lib.EndRun(r.id, reason); err != nil {
		fmt.Fprintf(stderr, "warning: the run was not indexed in the library now (%v); qlora runs list will do it\n", err)
	}
}
