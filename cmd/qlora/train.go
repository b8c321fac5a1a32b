package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// exitStopped is the exit status of a run stopped by a signal (after its checkpoint), as shells
// report an interrupted command.
const exitStopped = 130

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "--model DIR|NAME --data FILE|NAME [--preset ID] [--config run.yaml] [--set key=value]... [--init-adapter PEFT_DIR] [--out RUN_DIR] [--backend auto|cpu|cuda] [--events FILE|-]", stderr)
	modelDir := fs.String("model", "", "base model folder (config.json, safetensors, tokenizer.json), or a library model's name")
	dataPath := fs.String("data", "", "training data file (JSONL, JSON, CSV, Parquet), or a library dataset's name")
	initAdapter := fs.String("init-adapter", "", "PEFT adapter to start from")
	out := fs.String("out", "", "run folder (default runs/run-DATE-TIME)")
	backendName := fs.String("backend", "auto", "auto, cpu or cuda")
	eventsTo := fs.String("events", "", "also write every event to FILE, or - for stdout")
	flags := addConfigFlags(fs)
	lib := addLibraryFlags(fs, true)
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	layers, err := flags.layers()
	if err != nil {
		return err
	}
	if *modelDir != "" {
		layers.Sets = append([]string{"base_model=" + *modelDir}, layers.Sets...)
	}
	if *dataPath != "" {
		layers.Sets = append([]string{"dataset=" + *dataPath}, layers.Sets...)
	}
	cfg, err := layers.Resolve()
	if err != nil {
		return err
	}
	if cfg.BaseModel == "" || cfg.Dataset == "" {
		return fmt.Errorf("%w: qlora train --model DIR --data FILE (or base_model and dataset in --config)", errUsage)
	}
	if *out == "" {
		*out = filepath.Join("runs", "run-"+time.Now().Format("20060102-150405"))
	}
	// The backend is chosen before the library records the run: a GPU run hands the process over to
	// qlora-cuda there (same pid, same arguments), and the plan recorded is the backend's.
	be, err := chooseBackend(*backendName)
	if err != nil {
		return err
	}
	rec, err := lib.recordTrain(&cfg, *out, be.Name(), *flags.preset, stderr) // library names to paths; the run recorded
	if err != nil {
		return err
	}
	err = execute(cfg, run.Options{Dir: *out, InitAdapter: *initAdapter, Backend: be}, *backendName, *eventsTo, stdout, stderr)
	rec.end(err, stderr)
	return err
}

// execute runs (or resumes) a fine-tune on the chosen backend (opt.Backend, or the one backendName
// chooses) until it ends; SIGTERM and Ctrl-C stop it after a checkpoint.
func execute(cfg run.Config, opt run.Options, backendName, eventsTo string, stdout, stderr io.Writer) error {
	if opt.Backend == nil {
		be, err := chooseBackend(backendName)
		if err != nil {
			return err
		}
		opt.Backend = be
	}
	opt.Progress = stderr
	switch eventsTo {
	case "":
	case "-":
		opt.Mirror = stdout
	default:
		f, err := os.Create(eventsTo)
		if err != nil {
			return err
		}
		defer f.Close()
		opt.Mirror = f
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	res, err := run.Train(ctx, cfg, opt)
	if err != nil {
		return err
	}
	if res.Status == run.Stopped {
		fmt.Fprintf(stderr, "stopped at step %d; resume with: qlora resume %s\n", res.Step, opt.Dir)
		return exitCode(exitStopped)
	}
	return nil
}

func runResume(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("resume", "RUN_DIR|RUN [--set max_steps=N | num_train_epochs=N] [--backend auto|cpu|cuda] [--events FILE|-]", stderr)
	backendName := fs.String("backend", "auto", "auto, cpu or cuda")
	eventsTo := fs.String("events", "", "also write every event to FILE, or - for stdout")
	var sets stringList
	fs.Var(&sets, "set", "extend the run: max_steps=N or num_train_epochs=N")
	lib := addLibraryFlags(fs, true)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora resume RUN_DIR|RUN", errUsage)
	}
	for _, s := range sets {
		if !isExtension(s) {
			return fmt.Errorf("%w: --set %s: a resumed run may change only max_steps or num_train_epochs", errUsage, s)
		}
	}
	be, err := chooseBackend(*backendName) // before the library, as for train
	if err != nil {
		return err
	}
	rec, dir, err := lib.recordResume(pos[0], stderr) // a run's name or folder; marked running again
	if err != nil {
		return err
	}
	doc, err := run.ReadDoc(filepath.Join(dir, run.ConfigFile))
	var cfg run.Config
	if err == nil {
		cfg, err = run.Layers{Docs: []run.Doc{doc}, Sets: sets}.Resolve()
	}
	if err == nil {
		err = execute(cfg, run.Options{Dir: dir, Resume: true, Backend: be}, *backendName, *eventsTo, stdout, stderr)
	}
	rec.end(err, stderr)
	return err
}

func isExtension(set string) bool {
	for _, key := range []string{"max_steps=", "num_train_epochs="} {
		if len(set) > len(key) && set[:len(key)] == key {
			return true
		}
	}
	return false
}

// exitCode is an error that carries a process exit status and no message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
