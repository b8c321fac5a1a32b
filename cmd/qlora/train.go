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

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// exitStopped is the exit status of a run stopped by a signal (after its checkpoint), as shells
// report an interrupted command.
const exitStopped = 130

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "--model DIR --data FILE [--preset ID] [--config run.yaml] [--set key=value]... [--init-adapter PEFT_DIR] [--out RUN_DIR] [--backend auto|cpu|cuda] [--events FILE|-]", stderr)
	modelDir := fs.String("model", "", "base model folder (config.json, safetensors, tokenizer.json)")
	dataPath := fs.String("data", "", "training data file (JSONL, JSON, CSV, Parquet)")
	initAdapter := fs.String("init-adapter", "", "PEFT adapter to start from")
	out := fs.String("out", "", "run folder (default runs/run-DATE-TIME)")
	backendName := fs.String("backend", "auto", "auto, cpu or cuda")
	eventsTo := fs.String("events", "", "also write every event to FILE, or - for stdout")
	flags := addConfigFlags(fs)
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
	return execute(cfg, run.Options{Dir: *out, InitAdapter: *initAdapter}, *backendName, *eventsTo, stdout, stderr)
}

// execute runs (or resumes) a fine-tune on the chosen backend until it ends; SIGTERM and Ctrl-C
// stop it after a checkpoint.
func execute(cfg run.Config, opt run.Options, backendName, eventsTo string, stdout, stderr io.Writer) error {
	be, err := chooseBackend(backendName)
	if err != nil {
		return err
	}
	opt.Backend, opt.Progress = be, stderr
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

// chooseBackend picks the compute for a run. This build has the CPU backend only.
func chooseBackend(name string) (backend.Backend, error) {
	switch name {
	case "auto", "cpu":
		return cpu.New[float32](), nil
	case "cuda":
		return nil, fmt.Errorf("this qlora has no CUDA backend: build qlora-cuda (make cuda) and run it instead")
	}
	return nil, fmt.Errorf("%w: --backend %q: want auto, cpu or cuda", errUsage, name)
}

func runResume(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("resume", "RUN_DIR [--set max_steps=N | num_train_epochs=N] [--backend auto|cpu|cuda] [--events FILE|-]", stderr)
	backendName := fs.String("backend", "auto", "auto, cpu or cuda")
	eventsTo := fs.String("events", "", "also write every event to FILE, or - for stdout")
	var sets stringList
	fs.Var(&sets, "set", "extend the run: max_steps=N or num_train_epochs=N")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora resume RUN_DIR", errUsage)
	}
	for _, s := range sets {
		if !isExtension(s) {
			return fmt.Errorf("%w: --set %s: a resumed run may change only max_steps or num_train_epochs", errUsage, s)
		}
	}
	doc, err := run.ReadDoc(filepath.Join(pos[0], run.ConfigFile))
	if err != nil {
		return err
	}
	cfg, err := run.Layers{Docs: []run.Doc{doc}, Sets: sets}.Resolve()
	if err != nil {
		return err
	}
	return execute(cfg, run.Options{Dir: pos[0], Resume: true}, *backendName, *eventsTo, stdout, stderr)
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
