package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// RunLibrary is what the supervisor needs of the library. *storage.Library has it.
type RunLibrary interface {
	Dir() string
	Model(name string) (storage.Model, error)
	Dataset(name string) (storage.Dataset, error)
	RecordRun(nr storage.NewRun) (storage.Run, error)
	StartRun(id uint64, pid int) error
	RefreshRun(id uint64) (storage.Run, error)
	EndRun(id uint64, reason string) (storage.Run, error)
	Refresh() error
	Runs() ([]storage.Run, error)
}

// RunRequest is a fine-tune to start: a library model and dataset, and the configuration layers.
type RunRequest struct {
	Name    string   // the run's name; "" names it after the model, the dataset and the time
	Model   string   // a library model
	Dataset string   // a library dataset
	Preset  string   // a built-in preset id, or ""
	Config  []byte   // a YAML layer over the preset (a saved preset, a recipe pasted in), or nil
	Sets    []string // key=value overrides, applied last
	Backend string   // auto (the default), cpu or cuda
}

// Update is news of a run for the UI: an event the engine sent, or the library's record of the
// run after it indexed what the run folder gained.
type Update struct {
	RunID uint64
	Event *run.Event   // the event as the engine sent it, or nil
	Run   *storage.Run // the library's record, or nil
}

// Supervisor starts the engine as a child process for each run (`qlora train --events -`), reads
// its events, has the library index them, settles the run's status when the child ends (failed,
// with the reason, when it dies without a final event), stops (SIGTERM) and kills (SIGKILL) runs,
// and adopts the runs left going by an earlier app. Its methods are safe for concurrent use;
// notify is called from its goroutines, never from the UI's.
type Supervisor struct {
	lib    RunLibrary
	engine Engine
	notify func(Update)

	mu       sync.Mutex
	children map[uint64]*child
	wg       sync.WaitGroup
	quit     chan struct{} // closed by Shutdown: watchers of adopted runs stop
	closing  sync.Once
}

// thisHost is this machine's name, as the library records a run's host.
var thisHost, _ = os.Hostname()

// NewSupervisor supervises runs of the library with the engine; notify receives every update.
func NewSupervisor(lib RunLibrary, engine Engine, notify func(Update)) *Supervisor {
	if notify == nil {
		notify = func(Update) {}
	}
	return &Supervisor{lib: lib, engine: engine, notify: notify, children: map[uint64]*child{}, quit: make(chan struct{})}
}

// Start records a run in the library and starts the engine on it. Configuration errors are
// reported before anything starts; a child that cannot start leaves the run failed with the reason.
func (s *Supervisor) Start(req RunRequest) (storage.Run, error) {
	if s.engine.Path == "" {
		return storage.Run{}, ErrNoEngine
	}
	m, err := s.lib.Model(req.Model)
	if err != nil {
		return storage.Run{}, err
	}
	d, err := s.lib.Dataset(req.Dataset)
	if err != nil {
		return storage.Run{}, err
	}
	cfg, err := resolveConfig(req, m, d)
	if err != nil {
		return storage.Run{}, err
	}
	yaml, err := cfg.Marshal()
	if err != nil {
		return storage.Run{}, err
	}
	name := req.Name
	if name == "" {
		name = fmt.Sprintf("%s-%s-%s", m.Name, d.Name, time.Now().Format("20060102-150405"))
	}
	dir, err := newRunFolder(filepath.Join(s.lib.Dir(), storage.RunsDir), name)
	if err != nil {
		return storage.Run{}, err
	}
	// Recorded with this process as its process until the child has a pid, so that nothing takes
	// it for a crashed run meanwhile.
	r, err := s.lib.RecordRun(storage.NewRun{Name: req.Name, Dir: dir, Model: m.Name, Dataset: d.Name,
		BaseModel: m.Path, Data: d.Path, Preset: req.Preset, Config: yaml, Plan: storage.PlanFor(&cfg, planBackend(req.Backend)),
		PID: os.Getpid()})
	if err != nil {
		os.Remove(dir)
		return storage.Run{}, err
	}
	c, err := s.spawnTrain(r, yaml, req.Backend)
	return s.launched(r, c, err)
}

// launched follows a child just spawned for run r, recorded as running in this process until
// then: the run is marked as running in the child, or failed when the child did not start.
func (s *Supervisor) launched(r storage.Run, c *child, err error) (storage.Run, error) {
	if err != nil {
		ended, _ := s.lib.EndRun(r.ID, "the engine did not start: "+err.Error())
		return ended, err
	}
	if err := s.lib.StartRun(r.ID, c.pid); err != nil {
		c.signal(syscall.SIGKILL) // followed all the same: reaped, and its end recorded
		s.follow(c)
		return r, err
	}
	s.follow(c)
	return s.lib.RefreshRun(r.ID)
}

// Resume continues a run that is not going (stopped, failed or crashed; or finished, to extend
// it) from its last checkpoint: `qlora resume` as a child, supervised as Start's are. maxSteps
// above the run's total extends it to that many steps, with the learning-rate schedule stretched
// over the new length (docs/events.md); 0 keeps its length.
func (s *Supervisor) Resume(id uint64, maxSteps int, backend string) (storage.Run, error) {
	if s.engine.Path == "" {
		return storage.Run{}, ErrNoEngine
	}
	if s.Done(id) != nil {
		return storage.Run{}, fmt.Errorf("run %d is running already", id)
	}
	r, err := s.lib.RefreshRun(id)
	switch {
	case err != nil:
		return r, err
	case r.Status == storage.StatusRunning:
		return r, fmt.Errorf("run %s is running already", r.Name)
	case len(r.Checkpoints) == 0:
		return r, fmt.Errorf("run %s has no checkpoint to resume from", r.Name)
	case maxSteps < 0 || (maxSteps > 0 && maxSteps <= r.Step):
		return r, fmt.Errorf("run %s is at step %d: it can be extended to more steps, not %d", r.Name, r.Step, maxSteps)
	case r.Status == storage.StatusFinished && maxSteps == 0:
		return r, fmt.Errorf("run %s has finished: extend it to more than %d steps", r.Name, r.Step)
	}
	// Marked running in this process until the child has a pid, as Start does.
	if err := s.lib.StartRun(id, os.Getpid()); err != nil {
		return r, err
	}
	c, err := s.spawnResume(r, maxSteps, backend)
	return s.launched(r, c, err)
}

// resolveConfig builds the run's configuration from the preset, the request's layer and its
// overrides, with the library's model and dataset (and the dataset's shape when it was set by hand).
func resolveConfig(req RunRequest, m storage.Model, d storage.Dataset) (run.Config, error) {
	var layers run.Layers
	if req.Preset != "" {
		p, err := run.LookupPreset(req.Preset)
		if err != nil {
			return run.Config{}, err
		}
		layers.Docs = append(layers.Docs, p.Doc())
	}
	if len(req.Config) > 0 {
		layers.Docs = append(layers.Docs, run.Doc{Source: "the run's configuration", YAML: req.Config})
	}
	layers.Sets = []string{"base_model=" + m.Path, "dataset=" + d.Path}
	if d.ShapeGiven {
		layers.Sets = append(layers.Sets, "dataset_format="+d.Shape)
	}
	layers.Sets = append(layers.Sets, req.Sets...)
	return layers.Resolve()
}

// planBackend is the backend a run started with backend ("auto", "cpu" or "cuda") will train on,
// as the engine chooses it, for the plan recorded with the run.
func planBackend(backend string) string {
	if backend == "cpu" {
		return "cpu"
	}
	if ok, _ := gpuinfo.Present(); ok {
		return "cuda"
	}
	return "cpu"
}

// newRunFolder creates a fresh folder for a run under parent, named after name (made a valid
// folder name, with -2, -3, ... added when taken).
func newRunFolder(parent, name string) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	base := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	base = strings.TrimLeft(base, ".")
	if base == "" {
		base = "run"
	}
	for i := 1; ; i++ {
		dir := filepath.Join(parent, base)
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", dir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
}

// Stop asks a run to stop: SIGTERM, upon which the engine writes a checkpoint and ends the run
// as stopped.
func (s *Supervisor) Stop(id uint64) error { return s.send(id, syscall.SIGTERM) }

// Kill ends a run at once: SIGKILL. The run is recorded as failed; its last checkpoint stays.
func (s *Supervisor) Kill(id uint64) error { return s.send(id, syscall.SIGKILL) }

func (s *Supervisor) send(id uint64, sig syscall.Signal) error {
	s.mu.Lock()
	c := s.children[id]
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("run %d is not running", id)
	}
	return c.signal(sig)
}

// Running lists the runs this supervisor follows: those it started and those it adopted.
func (s *Supervisor) Running() []uint64 { return s.list(func(*child) bool { return true }) }

// Started lists the runs this supervisor started that are still going: those Shutdown stops.
func (s *Supervisor) Started() []uint64 { return s.list(func(c *child) bool { return c.cmd != nil }) }

func (s *Supervisor) list(keep func(*child) bool) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint64
	for id, c := range s.children {
		if keep(c) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Adopt brings the library up to date with the run folders (a run whose engine died while the
// app was away is settled from its events: stopped or finished when they say so, crashed when
// they end without a final event) and follows the runs whose engine is still going, so that
// they can be stopped and their progress seen. It returns the runs it follows.
func (s *Supervisor) Adopt() ([]storage.Run, error) {
	if err := s.lib.Refresh(); err != nil {
		return nil, err
	}
	runs, err := s.lib.Runs()
	if err != nil {
		return nil, err
	}
	var adopted []storage.Run
	for _, r := range runs {
		if r.Status != storage.StatusRunning {
			continue
		}
		s.mu.Lock()
		_, ours := s.children[r.ID]
		s.mu.Unlock()
		var gone string // why the run's engine is gone, when it is
		switch {
		case ours || (r.Host != "" && r.Host != thisHost):
			continue // ours, or another machine's (a library on a shared disk)
		case r.PID == os.Getpid():
			gone = "the app ended before the engine started"
		case r.PID > 0 && isEngine(r.PID, r.Dir):
			s.follow(&child{id: r.ID, pid: r.PID, dir: r.Dir, done: make(chan struct{})})
			adopted = append(adopted, r)
			continue
		default:
			gone = fmt.Sprintf("process %d is no longer its engine; resume it from its last checkpoint", r.PID)
		}
		if _, err := s.lib.EndRun(r.ID, gone); err != nil {
			return adopted, err
		}
	}
	return adopted, nil
}

// Shutdown stops every run (SIGTERM: each writes a checkpoint) and waits until they have ended,
// killing those still going after grace. Adopted runs are left to go on, unwatched.
func (s *Supervisor) Shutdown(grace time.Duration) {
	s.closing.Do(func() { close(s.quit) })
	s.mu.Lock()
	var ours []*child
	for _, c := range s.children {
		if c.cmd != nil {
			ours = append(ours, c)
		}
	}
	s.mu.Unlock()
	for _, c := range ours {
		c.signal(syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for _, c := range ours {
		select {
		case <-c.done:
		case <-deadline:
			c.signal(syscall.SIGKILL)
			<-c.done
		}
	}
}

// Wait blocks until every run this supervisor follows has ended and been recorded.
func (s *Supervisor) Wait() { s.wg.Wait() }

// Done is closed when the run has ended and its end is recorded; nil when it is not followed.
func (s *Supervisor) Done(id uint64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.children[id]; c != nil {
		return c.done
	}
	return nil
}

// follow registers a child and starts the goroutines that read and settle it.
func (s *Supervisor) follow(c *child) {
	s.mu.Lock()
	s.children[c.id] = c
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(c.done)
		if c.cmd != nil {
			s.supervise(c)
		} else {
			s.watch(c)
		}
		s.mu.Lock()
		delete(s.children, c.id)
		s.mu.Unlock()
	}()
}

// watch follows an adopted run, whose engine is not our child, by its folder until it ends.
func (s *Supervisor) watch(c *child) {
	for {
		r, err := s.lib.RefreshRun(c.id)
		if err == nil {
			s.notify(Update{RunID: c.id, Run: &r})
			if r.Status != storage.StatusRunning {
				return
			}
		}
		select {
		case <-s.quit:
			return
		case <-time.After(watchEvery):
		}
	}
}

// watchEvery is how often an adopted run's folder is read.
const watchEvery = time.Second
