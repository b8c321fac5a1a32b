package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// ProtocolVersion is the version of the event protocol (docs/events.md); it changes only when a
// field changes meaning or disappears. New fields may appear in any version.
const ProtocolVersion = 1

// The event types.
const (
	EventStarted    = "started"
	EventStep       = "step"
	EventEval       = "eval"
	EventSample     = "sample"
	EventCheckpoint = "checkpoint"
	EventFinished   = "finished"
	EventStopped    = "stopped"
	EventFailed     = "failed"
)

// Event is one line of metrics.jsonl. Fields a type does not use are left out.
type Event struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Time string `json:"time"` // RFC 3339 with milliseconds, UTC

	Step      int     `json:"step,omitempty"`      // optimizer steps done
	Epoch     float64 `json:"epoch,omitempty"`     // fractional epochs done
	ElapsedS  float64 `json:"elapsed_s,omitempty"` // seconds since the run (or its resume) started
	TotalStep int     `json:"total_steps,omitempty"`

	// step
	Loss        *float64 `json:"loss,omitempty"` // the unsmoothed mean loss of this step's tokens
	LR          float64  `json:"lr,omitempty"`
	GradNorm    *float64 `json:"grad_norm,omitempty"` // before clipping
	Tokens      int      `json:"tokens,omitempty"`    // counted target tokens in this step
	TokensPerS  float64  `json:"tokens_per_s,omitempty"`
	MemoryBytes int64    `json:"memory_bytes,omitempty"` // GPU memory in use, or the process's RSS on the CPU
	// GPUUtil is the percent of NVML's last sample period the GPU was busy; nil (left out) when
	// unknown, as on the CPU backend. A pointer, so that an idle GPU's 0 is kept.
	GPUUtil *int `json:"gpu_util_percent,omitempty"`

	// eval
	EvalLoss   *float64 `json:"eval_loss,omitempty"`
	Perplexity float64  `json:"perplexity,omitempty"`
	Best       bool     `json:"best,omitempty"` // this evaluation (or checkpoint) is the best so far

	// sample
	Prompt     string `json:"prompt,omitempty"`
	Completion string `json:"completion,omitempty"`

	// started, checkpoint, finished, stopped, failed
	RunDir     string  `json:"run_dir,omitempty"`
	Path       string  `json:"path,omitempty"` // the checkpoint folder
	Backend    string  `json:"backend,omitempty"`
	Trainable  int64   `json:"trainable_params,omitempty"`
	PlanBytes  int64   `json:"planned_peak_bytes,omitempty"`
	Reason     string  `json:"reason,omitempty"` // why a run failed or stopped
	BestEval   float64 `json:"best_eval_loss,omitempty"`
	Resumed    bool    `json:"resumed,omitempty"`
	StepsEpoch int     `json:"steps_per_epoch,omitempty"`
}

// Float is a helper for the optional numeric fields.
func Float(v float64) *float64 { return &v }

// Events appends events to metrics.jsonl, one JSON object per line, and mirrors them to another
// writer when asked (`--events -`). Each event reaches the file in one write, so a crash leaves at
// most a torn last line, which readers skip.
type Events struct {
	file   *os.File
	mirror io.Writer
	now    func() time.Time
}

// OpenEvents opens (appending to) the events file at path. A last line torn by a crash is cut
// off first, so the events a resumed run appends start on a line of their own.
func OpenEvents(path string, mirror io.Writer) (*Events, error) {
	if err := cutTornLine(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Events{file: f, mirror: mirror, now: time.Now}, nil
}

// cutTornLine truncates a file that does not end in a newline to its last complete line.
func cutTornLine(path string) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) || (err == nil && (len(b) == 0 || b[len(b)-1] == '\n')) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1))
}

// Emit stamps and writes one event.
func (e *Events) Emit(ev Event) error {
	ev.V = ProtocolVersion
	ev.Time = e.now().UTC().Format("2006-01-02T15:04:05.000Z")
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := e.file.Write(line); err != nil {
		return fmt.Errorf("%s: %w", e.file.Name(), err)
	}
	if e.mirror != nil {
		e.mirror.Write(line)
	}
	return nil
}

// Sync flushes the file to disk (at checkpoints and at the end).
func (e *Events) Sync() error { return e.file.Sync() }

// Close syncs and closes the file.
func (e *Events) Close() error {
	e.file.Sync()
	return e.file.Close()
}

// ReadEvents reads an events file, skipping a torn last line left by a crash.
func ReadEvents(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	var events []Event
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			if i == len(lines)-1 && b[len(b)-1] != '\n' {
				break // the last line, torn by a crash mid-write
			}
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		events = append(events, ev)
	}
	return events, nil
}
