package runimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// ImportedDir is the folder of a run folder that keeps the files the run was imported from, as
// they were: trainer_state.json and the axolotl configuration.
const ImportedDir = "imported"

// Options say what an import knows besides the adapter folder.
type Options struct {
	Config    string // the axolotl YAML the run was trained with; "" for none
	BaseModel string // the base model folder here; "" takes the YAML's, else the adapter's base_model_name_or_path
}

// Result says what an import wrote.
type Result struct {
	Dir         string         `json:"dir"`         // the run folder
	Step        int            `json:"step"`        // the last step trained (0 when no record says)
	Checkpoints []int          `json:"checkpoints"` // the steps of the adapters imported
	Points      int            `json:"points"`      // training steps with metrics
	Evals       int            `json:"evals"`       // evaluations
	Notes       []axolotl.Note `json:"notes"`       // what did not carry over
}

// adapterDir is an adapter folder found in the source, and the step it was saved at.
type adapterDir struct {
	dir  string
	step int
}

// job is one import under way.
type job struct {
	src, dir  string // the adapter folder, and the run folder it becomes
	adapters  []adapterDir
	state     *hfState
	statePath string // "" when the source has no trainer_state.json
	cfg       *configuration
	opt       Options
}

// Import turns the adapter folder src (PEFT files, as axolotl, PEFT and Unsloth save them; with
// checkpoint-N folders and trainer_state.json when the Hugging Face Trainer made them) into the
// new run folder dir in our own layout: run.yaml, metrics.jsonl built from log_history, and each
// adapter under checkpoints/step-N with a trainer_state.json of ours, so that every tool reads it
// as a run trained here. The folder is built beside dir and renamed when complete.
func Import(src, dir string, opt Options) (Result, error) {
	if _, err := os.Stat(dir); err == nil {
		return Result{}, fmt.Errorf("%s exists; name a new run folder", dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Result{}, err
	}
	j := &job{src: src, dir: dir, opt: opt}
	if j.adapters, j.state, j.statePath, err = scan(src); err != nil {
		return Result{}, err
	}
	final, err := lora.ReadConfig(filepath.Join(j.adapters[len(j.adapters)-1].dir, lora.ConfigName))
	if err != nil {
		return Result{}, err
	}
	if j.cfg, err = newConfiguration(final, opt.Config, opt.BaseModel, dir); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".import-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	res, err := j.write(tmp)
	if err != nil {
		return Result{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Result{}, err
	}
	return res, os.Rename(tmp, dir)
}

// write fills the temporary folder tmp, which becomes the run folder; run.yaml last, so that no
// half-built folder looks like a run.
func (j *job) write(tmp string) (Result, error) {
	res := Result{Dir: j.dir, Step: j.state.GlobalStep, Notes: j.cfg.notes}
	for _, a := range j.adapters {
		if err := writeCheckpoint(run.CheckpointDir(tmp, a.step), a, j.state); err != nil {
			return res, err
		}
		res.Checkpoints = append(res.Checkpoints, a.step)
	}
	end, err := j.endTime()
	if err != nil {
		return res, err
	}
	events := j.state.events(j.dir, res.Checkpoints, timeline{end: end, runtime: j.state.runtime(), steps: j.state.GlobalStep})
	for _, ev := range events {
		res.Points += btoi(ev.Type == run.EventStep)
		res.Evals += btoi(ev.Type == run.EventEval)
	}
	if err := writeEvents(filepath.Join(tmp, run.EventsFile), events); err != nil {
		return res, err
	}
	if err := keepOriginals(filepath.Join(tmp, ImportedDir), j.statePath, j.opt.Config); err != nil {
		return res, err
	}
	for name, b := range j.cfg.files {
		if err := safefile.WriteFile(filepath.Join(tmp, name), b); err != nil {
			return res, err
		}
	}
	y, err := j.cfg.runYAML(j.src)
	if err != nil {
		return res, err
	}
	return res, safefile.WriteFile(filepath.Join(tmp, run.ConfigFile), y)
}

// endTime is when the run ended, as the files tell: trainer_state.json's modification time, else
// the last adapter's.
func (j *job) endTime() (time.Time, error) {
	path := j.statePath
	if path == "" {
		path = filepath.Join(j.adapters[len(j.adapters)-1].dir, lora.WeightsName)
	}
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

// scan finds the adapters of src (itself, and its checkpoint-N folders) oldest first, and the
// trainer_state.json that knows the most steps (src's own, else the last checkpoint's). The final
// adapter in src stands at the run's last step, in place of a checkpoint of the same step.
func scan(src string) ([]adapterDir, *hfState, string, error) {
	checkpoints, err := checkpointDirs(src)
	if err != nil {
		return nil, nil, "", err
	}
	statePath := filepath.Join(src, StateFile)
	if _, err := os.Stat(statePath); err != nil {
		statePath = ""
		for i := len(checkpoints) - 1; i >= 0 && statePath == ""; i-- {
			if p := filepath.Join(checkpoints[i].dir, StateFile); exists(p) {
				statePath = p
			}
		}
	}
	state := &hfState{}
	if statePath != "" {
		if state, err = readState(statePath); err != nil {
			return nil, nil, "", err
		}
	}
	adapters := checkpoints
	if exists(filepath.Join(src, lora.ConfigName)) {
		last := state.GlobalStep
		if len(checkpoints) > 0 {
			last = max(last, checkpoints[len(checkpoints)-1].step)
		}
		adapters = slices.DeleteFunc(adapters, func(a adapterDir) bool { return a.step == last })
		adapters = append(adapters, adapterDir{dir: src, step: last})
	}
	if len(adapters) == 0 {
		return nil, nil, "", fmt.Errorf("%s: no PEFT adapter (%s) in it or in its checkpoint-N folders", src, lora.ConfigName)
	}
	state.GlobalStep = max(state.GlobalStep, adapters[len(adapters)-1].step)
	return adapters, state, statePath, nil
}

// checkpointDirs are the checkpoint-N folders of src that hold an adapter, by step.
func checkpointDirs(src string) ([]adapterDir, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var out []adapterDir
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "checkpoint-")
		step, err := strconv.Atoi(n)
		dir := filepath.Join(src, e.Name())
		if ok && err == nil && e.IsDir() && exists(filepath.Join(dir, lora.ConfigName)) {
			out = append(out, adapterDir{dir: dir, step: step})
		}
	}
	slices.SortFunc(out, func(a, b adapterDir) int { return a.step - b.step })
	return out, nil
}

// writeCheckpoint copies an adapter into a checkpoint folder of ours, with the trainer_state.json
// of ours that export reads (the step, and the best evaluation up to it).
func writeCheckpoint(dst string, a adapterDir, state *hfState) error {
	if _, err := lora.ReadConfig(filepath.Join(a.dir, lora.ConfigName)); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range []string{lora.ConfigName, lora.WeightsName} {
		if err := safefile.Copy(filepath.Join(dst, name), filepath.Join(a.dir, name)); err != nil {
			return explainWeights(a.dir, err)
		}
	}
	st := run.State{Step: a.step, TotalSteps: max(state.MaxSteps, state.GlobalStep)}
	st.BestEvalLoss, st.BestStep = state.best(a.step)
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(dst, run.StateFile), append(js, '\n'))
}

// explainWeights says what to do about an adapter saved in PEFT's older pickle format.
func explainWeights(dir string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && exists(filepath.Join(dir, "adapter_model.bin")) {
		return fmt.Errorf("%s holds adapter_model.bin, a pickle this program does not read: save the adapter as safetensors "+
			"(PEFT's save_pretrained does by default)", dir)
	}
	return err
}

// writeEvents writes the events as metrics.jsonl holds them.
func writeEvents(path string, events []run.Event) error {
	var b []byte
	for _, ev := range events {
		ev.V = run.ProtocolVersion
		line, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
	}
	return safefile.WriteFile(path, b)
}

// keepOriginals copies the trainer_state.json and the configuration the run was imported from.
func keepOriginals(dir, statePath, config string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{statePath, config} {
		if p == "" {
			continue
		}
		if err := safefile.Copy(filepath.Join(dir, filepath.Base(p)), p); err != nil {
			return err
		}
	}
	return nil
}

// FreeDir is the first of parent/name, parent/name-2, parent/name-3, ... that does not exist: a
// new run folder for an import.
func FreeDir(parent, name string) string {
	dir := filepath.Join(parent, name)
	for i := 2; exists(dir); i++ {
		dir = filepath.Join(parent, fmt.Sprintf("%s-%d", name, i))
	}
	return dir
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
