package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// The statuses of a run.
const (
	StatusRunning  = "running"
	StatusFinished = "finished"
	StatusStopped  = "stopped" // by a signal, after a checkpoint; it can be resumed
	StatusFailed   = "failed"
	StatusCrashed  = "crashed" // its process died without a final event (killed, out of memory)
)

// Run is a fine-tune as the library knows it: what it trains, where its folder is, how it went.
// The run folder stays the truth; Refresh brings the record up to date from it.
type Run struct {
	ID        uint64 `json:"id"`
	Name      string `json:"name"`
	Dir       string `json:"dir"`               // the run folder, absolute
	Model     string `json:"model,omitempty"`   // the library model; "" when trained from a folder
	Dataset   string `json:"dataset,omitempty"` // the library dataset; "" when trained from a file
	BaseModel string `json:"base_model"`        // the folder the run loads its base from
	Data      string `json:"data"`              // the training data file
	Preset    string `json:"preset,omitempty"`  // the built-in preset it started from, or ""

	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"` // why it failed, stopped or crashed
	PID     int       `json:"pid,omitempty"`    // the process training it, while it runs
	Host    string    `json:"host,omitempty"`
	Created time.Time `json:"created"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// LastEvent is the time of the last event indexed: a crashed run ended then.
	LastEvent time.Time `json:"last_event,omitzero"`
	Backend   string    `json:"backend,omitempty"`

	Step        int      `json:"step"`
	TotalSteps  int      `json:"total_steps"`
	Epoch       float64  `json:"epoch"`
	Loss        *float64 `json:"loss,omitempty"`      // the last step's
	EvalLoss    *float64 `json:"eval_loss,omitempty"` // the best evaluation's
	BestStep    int      `json:"best_step,omitempty"`
	TokensPerS  float64  `json:"tokens_per_s,omitempty"` // the last step's
	PeakMemory  int64    `json:"peak_memory_bytes,omitempty"`
	PlanBytes   int64    `json:"planned_peak_bytes,omitempty"`
	Resumes     int      `json:"resumes,omitempty"`
	Checkpoints []int    `json:"checkpoints,omitempty"` // the steps of its complete checkpoints

	Indexed  int64 `json:"indexed_bytes"`       // how much of metrics.jsonl is indexed
	BadLines int   `json:"bad_lines,omitempty"` // lines of metrics.jsonl that could not be read
}

// RunConfig is what a run was started with: its run.yaml and the planner's estimate.
type RunConfig struct {
	YAML string `json:"yaml"`
	Plan *Plan  `json:"plan,omitempty"`
}

// Plan is the memory planner's estimate for a run.
type Plan struct {
	Backend    string          `json:"backend"`
	TotalBytes int64           `json:"total_bytes"`
	Components []PlanComponent `json:"components"`
}

// PlanComponent is one line of a plan.
type PlanComponent struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// NewRun is a run about to start.
type NewRun struct {
	Name      string // "" takes the run folder's name, made unique
	Dir       string // the run folder
	Model     string // the library model, or ""
	Dataset   string // the library dataset, or ""
	BaseModel string // the folder the base is loaded from
	Data      string // the training data file
	Preset    string // the built-in preset it starts from, or ""
	Config    []byte // run.yaml
	Plan      *Plan
	PID       int // the process that will train it; 0 for a run folder adopted after the fact
}

// RecordRun records a run before it starts, with its configuration and plan, as running in process
// nr.PID. A folder already recorded is refused with ErrExists: resume it with StartRun.
func (l *Library) RecordRun(nr NewRun) (Run, error) {
	dir, err := filepath.Abs(nr.Dir)
	if err != nil {
		return Run{}, err
	}
	if nr.Name != "" {
		if err := checkName("run", nr.Name); err != nil {
			return Run{}, err
		}
	}
	cfg, err := json.Marshal(RunConfig{YAML: string(nr.Config), Plan: nr.Plan})
	if err != nil {
		return Run{}, err
	}
	r := Run{Dir: dir, Model: nr.Model, Dataset: nr.Dataset, BaseModel: nr.BaseModel, Data: nr.Data, Preset: nr.Preset,
		Status: StatusRunning, PID: nr.PID, Host: thisHost, Created: time.Now().UTC()}
	if nr.Plan != nil {
		r.PlanBytes = nr.Plan.TotalBytes
	}
	err = l.update(func(tx *bolt.Tx) error {
		if id := tx.Bucket(bucketRunDirs).Get([]byte(dir)); id != nil {
			return fmt.Errorf("%w: the run folder %s is recorded as run %d", ErrExists, dir, binary.BigEndian.Uint64(id))
		}
		if r.Name, err = uniqueRunName(tx, nr.Name, dir); err != nil {
			return err
		}
		runs := tx.Bucket(bucketRuns)
		if r.ID, err = runs.NextSequence(); err != nil {
			return err
		}
		if err := putRun(tx, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunNames).Put([]byte(r.Name), u64(r.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunDirs).Put([]byte(dir), u64(r.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketRunConfigs).Put(u64(r.ID), cfg)
	})
	return r, err
}

// uniqueRunName is the name asked for (refused when taken), or the folder's name with -2, -3, ...
// added until it is free.
func uniqueRunName(tx *bolt.Tx, asked, dir string) (string, error) {
	names := tx.Bucket(bucketRunNames)
	if asked != "" {
		if names.Get([]byte(asked)) != nil {
			return "", fmt.Errorf("%w: a run named %q is already there; choose another name", ErrExists, asked)
		}
		return asked, nil
	}
	base := filepath.Base(dir)
	if checkName("run", base) != nil {
		base = "run"
	}
	name := base
	for i := 2; names.Get([]byte(name)) != nil; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name, nil
}

// AdoptRun records a run folder that the library does not know (trained with --no-library, or
// found in the library's runs folder) from its run.yaml, and indexes it.
func (l *Library) AdoptRun(dir string) (Run, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, run.ConfigFile))
	if err != nil {
		return Run{}, fmt.Errorf("%s is not a run folder: %w", dir, err)
	}
	var keys struct {
		BaseModel string `yaml:"base_model"`
		Dataset   string `yaml:"dataset"`
	}
	if err := yaml.Unmarshal(cfg, &keys); err != nil {
		return Run{}, fmt.Errorf("%s: %w", filepath.Join(dir, run.ConfigFile), err)
	}
	nr := NewRun{Dir: dir, BaseModel: keys.BaseModel, Data: keys.Dataset, Config: cfg}
	if m, err := l.ModelByPath(keys.BaseModel); err == nil {
		nr.Model = m.Name
	}
	r, err := l.RecordRun(nr)
	if err != nil {
		return Run{}, err
	}
	return l.RefreshRun(r.ID)
}

// StartRun marks a recorded run as running again in process pid: it is being resumed. What its
// folder holds so far is indexed first.
func (l *Library) StartRun(id uint64, pid int) error {
	if _, err := l.RefreshRun(id); err != nil {
		return err
	}
	return l.update(func(tx *bolt.Tx) error {
		r, err := getRun(tx, id)
		if err != nil {
			return err
		}
		r.Status, r.Reason, r.PID, r.Host, r.Ended = StatusRunning, "", pid, thisHost, time.Time{}
		return putRun(tx, r)
	})
}

// EndRun indexes a run whose process is ending and settles its status: the one its events give
// or, when they end without a final event, failed with this reason.
func (l *Library) EndRun(id uint64, reason string) (Run, error) {
	r, err := l.RefreshRun(id)
	if err != nil || r.Status != StatusRunning {
		return r, err
	}
	if reason == "" {
		reason = "the run ended without a final event"
	}
	err = l.update(func(tx *bolt.Tx) error {
		if r, err = getRun(tx, id); err != nil {
			return err
		}
		r.Status, r.Reason, r.PID, r.Ended = StatusFailed, reason, 0, time.Now().UTC()
		return putRun(tx, r)
	})
	return r, err
}

// Runs lists every run, oldest first.
func (l *Library) Runs() ([]Run, error) {
	var out []Run
	err := l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			r, err := decodeRun(v)
			if err != nil {
				return fmt.Errorf("run %x: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// FindRun is the run that ref names: a run's name, its id (12 or #12), or its folder.
func (l *Library) FindRun(ref string) (Run, error) {
	var r Run
	err := l.view(func(tx *bolt.Tx) error {
		id, err := findRunID(tx, ref)
		if err != nil {
			return err
		}
		r, err = getRun(tx, id)
		return err
	})
	return r, err
}

// Run is the run with this id.
func (l *Library) Run(id uint64) (Run, error) {
	var r Run
	err := l.view(func(tx *bolt.Tx) (err error) {
		r, err = getRun(tx, id)
		return err
	})
	return r, err
}

// RunConfig is what run id was started with.
func (l *Library) RunConfig(id uint64) (RunConfig, error) {
	var c RunConfig
	err := l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRunConfigs).Get(u64(id))
		if v == nil {
			return fmt.Errorf("%w: no configuration for run %d", ErrNotFound, id)
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("run %d configuration: %w: %v", id, ErrCorrupt, err)
		}
		return nil
	})
	return c, err
}

func findRunID(tx *bolt.Tx, ref string) (uint64, error) {
	if id := tx.Bucket(bucketRunNames).Get([]byte(ref)); id != nil {
		return binary.BigEndian.Uint64(id), nil
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(ref, "#"), 10, 64); err == nil {
		if tx.Bucket(bucketRuns).Get(u64(n)) != nil {
			return n, nil
		}
	}
	if abs, err := filepath.Abs(ref); err == nil {
		if id := tx.Bucket(bucketRunDirs).Get([]byte(abs)); id != nil {
			return binary.BigEndian.Uint64(id), nil
		}
	}
	return 0, fmt.Errorf("%w: no run named %q (nor with that id or folder)", ErrNotFound, ref)
}

// RemoveRun removes a run's record, configuration, metric series and exports. With deleteFolder it
// also deletes the run folder, which must hold a run.yaml: the checkpoints and exports in it go too.
func (l *Library) RemoveRun(id uint64, deleteFolder bool) error {
	var dir string
	err := l.update(func(tx *bolt.Tx) error {
		r, err := getRun(tx, id)
		if err != nil {
			return err
		}
		dir = r.Dir
		key := u64(id)
		if err := tx.Bucket(bucketRuns).Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunNames).Delete([]byte(r.Name)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunDirs).Delete([]byte(r.Dir)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunConfigs).Delete(key); err != nil {
			return err
		}
		if tx.Bucket(bucketMetrics).Bucket(key) != nil {
			if err := tx.Bucket(bucketMetrics).DeleteBucket(key); err != nil {
				return err
			}
		}
		return deleteExports(tx, id)
	})
	if err != nil || !deleteFolder {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, run.ConfigFile)); err != nil {
		if os.IsNotExist(err) {
			if _, derr := os.Stat(dir); os.IsNotExist(derr) {
				return nil // gone already
			}
		}
		return fmt.Errorf("not deleting %s: it holds no %s (%v)", dir, run.ConfigFile, err)
	}
	return os.RemoveAll(dir)
}

// runsUsing names the runs that match.
func runsUsing(tx *bolt.Tx, match func(Run) bool) ([]string, error) {
	var names []string
	err := tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
		r, err := decodeRun(v)
		if err != nil {
			return err
		}
		if match(r) {
			names = append(names, r.Name)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

func getRun(tx *bolt.Tx, id uint64) (Run, error) {
	v := tx.Bucket(bucketRuns).Get(u64(id))
	if v == nil {
		return Run{}, fmt.Errorf("%w: no run %d", ErrNotFound, id)
	}
	r, err := decodeRun(v)
	if err != nil {
		return Run{}, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

func putRun(tx *bolt.Tx, r Run) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketRuns).Put(u64(r.ID), v)
}

// decodeRun reads a run record, refusing one that lacks what every record has.
func decodeRun(v []byte) (Run, error) {
	var r Run
	if err := json.Unmarshal(v, &r); err != nil {
		return Run{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if r.ID == 0 || r.Name == "" || !filepath.IsAbs(r.Dir) || r.Status == "" || r.Indexed < 0 {
		return Run{}, fmt.Errorf("%w: run record without id, name, absolute folder or status", ErrCorrupt)
	}
	return r, nil
}
