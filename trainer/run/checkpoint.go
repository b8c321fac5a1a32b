package run

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// The files of a checkpoint folder besides the PEFT adapter's.
const (
	StateFile     = "trainer_state.json"
	OptimizerFile = "optimizer.safetensors"
)

// checkpoint writes checkpoints/step-N for the current step: the adapter (PEFT files; in
// full-parameter training a complete model folder, see full.go), the optimizer states and
// trainer_state.json, built in a temporary folder and renamed, so a kill at any
// instant leaves every earlier checkpoint whole. It then prunes old ones beyond save_total_limit,
// never the best.
func (s *session) checkpoint() (string, error) {
	dir := filepath.Join(s.opt.Dir, CheckpointsDir)
	final := filepath.Join(dir, fmt.Sprintf("step-%d", s.state.Step))
	if _, err := os.Stat(final); err == nil {
		return final, nil // this step is saved already
	}
	tmp, err := os.MkdirTemp(dir, fmt.Sprintf(".step-%d.tmp-", s.state.Step))
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := s.writeCheckpoint(tmp); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	syncDir(dir)
	s.events.Sync()
	best := s.state.BestEvalLoss != nil && s.state.BestStep == s.state.Step
	s.emit(Event{Type: EventCheckpoint, Step: s.state.Step, Path: final, Best: best})
	return final, s.prune()
}

func (s *session) writeCheckpoint(dir string) error {
	if s.m.FullTraining() {
		if err := WriteModel(dir, s.m, s.cfg.BaseModel, safetensors.F32); err != nil {
			return err
		}
	} else if err := lora.Save(dir, s.m.Adapter(), safetensors.F32); err != nil {
		return err
	}
	if err := writeOptimizerState(filepath.Join(dir, OptimizerFile), s.optimizer.State()); err != nil {
		return err
	}
	js, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(dir, StateFile), append(js, '\n'))
}

// prune deletes the oldest checkpoints beyond save_total_limit, keeping the best one.
func (s *session) prune() error {
	limit := s.cfg.SaveTotalLimit
	if limit <= 0 {
		return nil
	}
	steps, err := Checkpoints(s.opt.Dir)
	if err != nil {
		return err
	}
	for len(steps) > limit {
		victim := -1
		for i, st := range steps {
			if st != s.state.BestStep || s.state.BestEvalLoss == nil {
				victim = i
				break
			}
		}
		if victim < 0 || victim == len(steps)-1 {
			return nil
		}
		if err := os.RemoveAll(CheckpointDir(s.opt.Dir, steps[victim])); err != nil {
			return err
		}
		steps = append(steps[:victim], steps[victim+1:]...)
	}
	return nil
}

// CheckpointDir is the folder of step's checkpoint.
func CheckpointDir(runDir string, step int) string {
	return filepath.Join(runDir, CheckpointsDir, fmt.Sprintf("step-%d", step))
}

// Checkpoints lists the steps of a run's complete checkpoints, oldest first. Temporary folders a
// kill left behind are not checkpoints.
func Checkpoints(runDir string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, CheckpointsDir))
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "step-")
		if step, err := strconv.Atoi(n); ok && err == nil && e.IsDir() {
			steps = append(steps, step)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// restore loads the latest checkpoint into the session: adapter weights (or every weight, in
// full-parameter training), optimizer states, the step, data position and evaluation history. The data must be what the checkpoint saw.
func (s *session) restore() error {
	steps, err := Checkpoints(s.opt.Dir)
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		return fmt.Errorf("%s: no checkpoint to resume from", s.opt.Dir)
	}
	removeTemporaries(filepath.Join(s.opt.Dir, CheckpointsDir))
	dir := CheckpointDir(s.opt.Dir, steps[len(steps)-1])
	var st State
	js, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err == nil {
		err = json.Unmarshal(js, &st)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	if st.DataFingerprint != s.state.DataFingerprint {
		return fmt.Errorf("%s: the training data or its settings changed since this checkpoint; resume needs the same data", dir)
	}
	if err := s.restoreModel(dir); err != nil {
		return err
	}
	optState, err := readOptimizerState(filepath.Join(dir, OptimizerFile))
	if err != nil {
		return err
	}
	if err := s.optimizer.SetState(optState); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	total := s.state.TotalSteps // recomputed from the (possibly extended) configuration
	s.state = st
	s.state.TotalSteps = total
	return nil
}

// restoreModel loads the trained weights of the checkpoint in dir: the adapter, or every weight.
func (s *session) restoreModel(dir string) error {
	if s.m.FullTraining() {
		return s.restoreWeights(dir)
	}
	ad, err := lora.Load(dir)
	if err != nil {
		return err
	}
	if err := s.m.SetAdapter(ad); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// removeTemporaries deletes the half-written checkpoint folders a kill left behind.
func removeTemporaries(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// syncDir flushes a folder's entries (the rename of a checkpoint) to disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeOptimizerState stores the optimizer's states as safetensors: per segment NAME.m and NAME.v
// (F32), or NAME.code1, NAME.code2 (U8) with NAME.absmax1, NAME.absmax2 (F32); the kind and the
// step count in the metadata.
func writeOptimizerState(path string, st *optim.State) error {
	var tensors []safetensors.Source
	f32 := func(name string, v []float32) {
		tensors = append(tensors, safetensors.Bytes(name, safetensors.F32, []int{len(v)}, safetensors.EncodeFloat32s(v)))
	}
	u8 := func(name string, v []byte) {
		tensors = append(tensors, safetensors.Bytes(name, safetensors.U8, []int{len(v)}, v))
	}
	for _, seg := range st.Segments {
		if seg.EightBit() {
			u8(seg.Name+".code1", seg.Code1)
			u8(seg.Name+".code2", seg.Code2)
			f32(seg.Name+".absmax1", seg.Absmax1)
			f32(seg.Name+".absmax2", seg.Absmax2)
		} else {
			f32(seg.Name+".m", seg.M)
			f32(seg.Name+".v", seg.V)
		}
	}
	meta := map[string]string{"kind": st.Kind, "step": strconv.Itoa(st.Step), "segments": strings.Join(segmentNames(st), ",")}
	return safetensors.WriteFile(path, meta, tensors)
}

func segmentNames(st *optim.State) []string {
	names := make([]string, len(st.Segments))
	for i, seg := range st.Segments {
		names[i] = seg.Name
	}
	return names
}

// readOptimizerState reads what writeOptimizerState wrote.
func readOptimizerState(path string) (*optim.State, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &optim.State{Kind: f.Metadata["kind"]}
	if st.Step, err = strconv.Atoi(f.Metadata["step"]); err != nil {
		return nil, fmt.Errorf("%s: metadata step %q", path, f.Metadata["step"])
	}
	floats := func(name string) ([]float32, error) {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		return t.Float32s()
	}
	bytes := func(name string) ([]byte, error) {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		b, err := t.Uint8s()
		return append([]byte(nil), b...), err
	}
	for _, name := range strings.Split(f.Metadata["segments"], ",") {
		seg := optim.SegmentState{Name: name}
		if _, eight := f.Info(name + ".code1"); eight {
			seg.Code1, err = bytes(name + ".code1")
			if err == nil {
				seg.Code2, err = bytes(name + ".code2")
			}
			if err == nil {
				seg.Absmax1, err = floats(name + ".absmax1")
			}
			if err == nil {
				seg.Absmax2, err = floats(name + ".absmax2")
			}
		} else {
			seg.M, err = floats(name + ".m")
			if err == nil {
				seg.V, err = floats(name + ".v")
			}
		}
		if err != nil {
			return nil, err
		}
		st.Segments = append(st.Segments, seg)
	}
	return st, nil
}
