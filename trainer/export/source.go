package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// Checkpoint is the adapter an export reads and what is known of the run that trained it.
type Checkpoint struct {
	Dir  string // holds adapter_config.json and adapter_model.safetensors
	Step int    // the optimizer step it was saved at; 0 for a bare adapter folder
	Best bool   // it is the run's best checkpoint by evaluation loss

	RunDir string      // "" for a bare adapter folder
	Run    *run.Config // the run's resolved run.yaml; nil for a bare adapter folder

	// From trainer_state.json and metrics.jsonl, nil when the run has no evaluation.
	BestEvalLoss   *float64
	BestStep       int
	FinalEvalLoss  *float64 // the last evaluation of the run
	FinalEvalStep  int
	FinalTrainLoss *float64 // the loss of the run's last step
	LastStep       int
}

// FindCheckpoint resolves what the user named: a run folder (run.yaml) gives its best checkpoint
// when evaluation picked one, else its last; a checkpoint folder (checkpoints/step-N) or any PEFT
// adapter folder gives itself. A checkpoint of a run carries the run's configuration and losses.
func FindCheckpoint(path string) (*Checkpoint, error) {
	path = filepath.Clean(path)
	if exists(filepath.Join(path, run.ConfigFile)) {
		return fromRun(path)
	}
	if !exists(filepath.Join(path, lora.ConfigName)) {
		return nil, fmt.Errorf("%s: neither a run folder (no %s) nor a checkpoint or adapter folder (no %s)", path, run.ConfigFile, lora.ConfigName)
	}
	c := &Checkpoint{Dir: path}
	step, ok := strings.CutPrefix(filepath.Base(path), "step-")
	parent := filepath.Dir(path)
	runDir := filepath.Dir(parent)
	if n, err := strconv.Atoi(step); ok && err == nil && filepath.Base(parent) == run.CheckpointsDir && exists(filepath.Join(runDir, run.ConfigFile)) {
		c.Step, c.RunDir = n, runDir
		if err := c.readRun(); err != nil {
			return nil, err
		}
		c.Best = c.BestEvalLoss != nil && c.BestStep == c.Step
	}
	return c, nil
}

// fromRun picks the run's best checkpoint, else its last.
func fromRun(runDir string) (*Checkpoint, error) {
	steps, err := run.Checkpoints(runDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%s: the run has no checkpoint yet", runDir)
	}
	c := &Checkpoint{RunDir: runDir, Step: steps[len(steps)-1]}
	if err := c.readRun(); err != nil {
		return nil, err
	}
	if c.BestEvalLoss != nil && exists(run.CheckpointDir(runDir, c.BestStep)) {
		c.Step, c.Best = c.BestStep, true
	}
	c.Dir = run.CheckpointDir(runDir, c.Step)
	if !exists(filepath.Join(c.Dir, lora.ConfigName)) {
		return nil, fmt.Errorf("%s: holds no LoRA adapter (%s); a run that trained every weight saves model folders, which need no export", c.Dir, lora.ConfigName)
	}
	return c, nil
}

// readRun reads run.yaml, the best evaluation from the last checkpoint's trainer_state.json and
// the last evaluation and step from metrics.jsonl.
func (c *Checkpoint) readRun() error {
	doc, err := run.ReadDoc(filepath.Join(c.RunDir, run.ConfigFile))
	if err != nil {
		return err
	}
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		return err
	}
	c.Run = &cfg
	if err := c.readBest(); err != nil {
		return err
	}
	events, err := run.ReadEvents(filepath.Join(c.RunDir, run.EventsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, ev := range events {
		switch {
		case ev.Type == run.EventEval && ev.EvalLoss != nil:
			c.FinalEvalLoss, c.FinalEvalStep = ev.EvalLoss, ev.Step
		case ev.Type == run.EventStep && ev.Loss != nil:
			c.FinalTrainLoss, c.LastStep = ev.Loss, ev.Step
		}
	}
	return nil
}

// readBest takes best_eval_loss and best_step from the latest checkpoint, which knows every
// evaluation before it.
func (c *Checkpoint) readBest() error {
	steps, err := run.Checkpoints(c.RunDir)
	if err != nil || len(steps) == 0 {
		return nil
	}
	path := filepath.Join(run.CheckpointDir(c.RunDir, steps[len(steps)-1]), run.StateFile)
	js, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st run.State
	if err := json.Unmarshal(js, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.BestEvalLoss, c.BestStep = st.BestEvalLoss, st.BestStep
	return nil
}

// baseModel is the base model folder: the one given, else the run's base_model, else the adapter's
// base_model_name_or_path when that is a folder here.
func (c *Checkpoint) baseModel(given string, adapter *lora.AdapterConfig) (string, error) {
	switch {
	case given != "":
		return given, nil
	case c.Run != nil && c.Run.BaseModel != "":
		if !exists(filepath.Join(c.Run.BaseModel, "config.json")) {
			return "", fmt.Errorf("%s: the run's base_model %s is not a model folder here; name it with --base DIR",
				c.RunDir, c.Run.BaseModel)
		}
		return c.Run.BaseModel, nil
	case adapter != nil && exists(filepath.Join(adapter.BaseModelNameOrPath, "config.json")):
		return adapter.BaseModelNameOrPath, nil
	}
	return "", fmt.Errorf("%s: which base model does this adapter belong to? Name it with --base DIR", c.Dir)
}

// runQuantization is how the run quantized its base (QLoRA's defaults for a bare adapter).
func (c *Checkpoint) runQuantization() quantization {
	if c.Run == nil {
		return quantization{blocksize: 64, double: true}
	}
	return quantization{blocksize: c.Run.BnB4bitBlocksize, double: c.Run.BnB4bitUseDoubleQuant}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
