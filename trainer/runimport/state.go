package runimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// StateFile is the Hugging Face Trainer's record of a run, in every checkpoint-N folder it saves
// (and in the output folder when the script calls save_state).
const StateFile = "trainer_state.json"

// hfState is what an import reads of transformers' TrainerState, as save_to_json writes it.
type hfState struct {
	GlobalStep int     `json:"global_step"`
	MaxSteps   int     `json:"max_steps"`
	LogHistory []hfLog `json:"log_history"`
}

// hfLog is one entry of log_history: a training step's logs (loss, learning_rate, grad_norm), an
// evaluation (eval_loss, ...), or the summary at the end (train_runtime, train_loss, ...).
type hfLog struct {
	Step         int      `json:"step"`
	Epoch        float64  `json:"epoch"`
	Loss         *float64 `json:"loss"`
	LearningRate *float64 `json:"learning_rate"`
	GradNorm     *float64 `json:"grad_norm"`
	EvalLoss     *float64 `json:"eval_loss"`
	TrainRuntime *float64 `json:"train_runtime"` // seconds, in the summary
}

// readState reads a trainer_state.json. Python's json writes NaN and Infinity for a diverged
// loss or gradient norm, which JSON does not have: they read as missing values.
func readState(path string) (*hfState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st hfState
	if err := json.Unmarshal(pythonJSON(b), &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// pythonJSON replaces the NaN, Infinity and -Infinity that Python's json writes outside strings
// with null.
func pythonJSON(b []byte) []byte {
	var out bytes.Buffer
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			inString = escaped || c != '"'
			escaped = !escaped && c == '\\'
		case c == '"':
			inString = true
		default:
			if n := nonFinite(b[i:]); n > 0 {
				out.WriteString("null")
				i += n - 1
				continue
			}
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// nonFinite is the length of the non-finite number b starts with, or 0.
func nonFinite(b []byte) int {
	for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
		if bytes.HasPrefix(b, []byte(tok)) {
			return len(tok)
		}
	}
	return 0
}

// timeline places the steps of a run that kept no clock times: it ended at end, took runtime
// seconds (0 when unknown), and its steps went at an even pace.
type timeline struct {
	end     time.Time
	runtime time.Duration
	steps   int
}

func (tl timeline) at(step int) time.Time {
	if tl.steps == 0 {
		return tl.end
	}
	return tl.end.Add(-tl.runtime).Add(tl.runtime * time.Duration(step) / time.Duration(tl.steps))
}

// runtime is the train_runtime of the summary entry, when there is one.
func (st *hfState) runtime() time.Duration {
	for _, l := range st.LogHistory {
		if l.TrainRuntime != nil && *l.TrainRuntime > 0 {
			return time.Duration(*l.TrainRuntime * float64(time.Second))
		}
	}
	return 0
}

// best is the lowest evaluation loss at or before step, and its step; nil when none.
func (st *hfState) best(step int) (*float64, int) {
	var loss *float64
	at := 0
	for _, l := range st.LogHistory {
		if l.EvalLoss != nil && l.Step <= step && (loss == nil || *l.EvalLoss < *loss) {
			loss, at = l.EvalLoss, l.Step
		}
	}
	return loss, at
}

// events are the run's events in our protocol (docs/events.md), in order: started, each training
// step and evaluation of log_history, a checkpoint event after the step each checkpoint was saved
// at, and finished.
func (st *hfState) events(dir string, checkpoints []int, tl timeline) []run.Event {
	total := max(st.MaxSteps, st.GlobalStep)
	evs := []run.Event{{Type: run.EventStarted, Time: stamp(tl.at(0)), RunDir: dir, Backend: "imported", TotalStep: total}}
	pending := checkpoints
	flush := func(upTo int) {
		for len(pending) > 0 && pending[0] <= upTo {
			s := pending[0]
			_, bestStep := st.best(s)
			evs = append(evs, run.Event{Type: run.EventCheckpoint, Time: stamp(tl.at(s)), Step: s,
				Path: run.CheckpointDir(dir, s), Best: bestStep == s && bestStep > 0})
			pending = pending[1:]
		}
	}
	var best *float64
	for i, l := range st.LogHistory {
		if l.Loss != nil || l.LearningRate != nil {
			evs = append(evs, run.Event{Type: run.EventStep, Time: stamp(tl.at(l.Step)), Step: l.Step, Epoch: l.Epoch,
				Loss: l.Loss, LR: deref(l.LearningRate), GradNorm: l.GradNorm})
		}
		if l.EvalLoss != nil {
			isBest := best == nil || *l.EvalLoss < *best
			if isBest {
				best = l.EvalLoss
			}
			evs = append(evs, run.Event{Type: run.EventEval, Time: stamp(tl.at(l.Step)), Step: l.Step, Epoch: l.Epoch,
				EvalLoss: l.EvalLoss, Perplexity: math.Exp(*l.EvalLoss), Best: isBest})
		}
		if i == len(st.LogHistory)-1 || st.LogHistory[i+1].Step > l.Step {
			flush(l.Step)
		}
	}
	flush(math.MaxInt)
	end := run.Event{Type: run.EventFinished, Time: stamp(tl.end), Step: st.GlobalStep}
	if best != nil {
		end.BestEval = *best
	}
	return append(evs, end)
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// stamp is an event's time as the protocol writes it: RFC 3339 with milliseconds, UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
