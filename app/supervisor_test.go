package app

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// engineBin is the real engine, built once for the tests that run it as a child.
var engineBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qlora-engine-")
	if err != nil {
		panic(err)
	}
	// An engine that predates --no-library would open the default library: keep it in here.
	os.Setenv("QLORA_LIBRARY", filepath.Join(dir, "default-library"))
	engineBin = filepath.Join(dir, "qlora")
	if out, err := exec.Command("go", "build", "-o", engineBin, "../cmd/qlora").CombinedOutput(); err != nil {
		panic("building qlora: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// demoLibrary is a library in a temp folder holding the tiny chat model and the capitals dataset.
func demoLibrary(t *testing.T) *storage.Library {
	t.Helper()
	dir := t.TempDir()
	lib, err := storage.Open(filepath.Join(dir, "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	modelDir, data := filepath.Join(dir, "tiny"), filepath.Join(dir, "capitals.jsonl")
	if err := os.Mkdir(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.ChatModel(modelDir, 5); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.Capitals(data, 64); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.AddModel(modelDir, storage.ModelOptions{Name: "tiny"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.AddDataset(data, storage.DatasetOptions{Name: "capitals"}); err != nil {
		t.Fatal(err)
	}
	return lib
}

// demoRun is the demo preset cut to a few steps of short sequences, checkpointing every 2 steps.
func demoRun(steps string) RunRequest {
	return RunRequest{Model: "tiny", Dataset: "capitals", Preset: "demo", Backend: "cpu",
		Sets: []string{"max_steps=" + steps, "chat_template=chatml", "max_seq_length=64", "save_steps=2", "eval_steps=0"}}
}

// recorder collects a supervisor's updates.
type recorder struct {
	mu      sync.Mutex
	updates []Update
	steps   chan int // each step event's step, as it comes
}

func newRecorder() *recorder { return &recorder{steps: make(chan int, 10000)} }

func (r *recorder) notify(u Update) {
	r.mu.Lock()
	r.updates = append(r.updates, u)
	r.mu.Unlock()
	if u.Event != nil && u.Event.Type == run.EventStep {
		r.steps <- u.Event.Step
	}
}

func (r *recorder) events(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.updates {
		if u.Event != nil && u.Event.Type == kind {
			n++
		}
	}
	return n
}

func (r *recorder) waitStep(t *testing.T, step int) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case s := <-r.steps:
			if s >= step {
				return
			}
		case <-timeout:
			t.Fatalf("no step %d within 2 minutes", step)
		}
	}
}

func waitDone(t *testing.T, s *Supervisor, id uint64) {
	t.Helper()
	done := s.Done(id)
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("run %d still going after 2 minutes", id)
	}
}

func testEngine(t *testing.T) Engine {
	t.Helper()
	t.Setenv(EngineEnv, engineBin)
	e, err := FindEngine()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSupervisor_RunFinishes ensures a run started by the app trains in a real engine child: its
// events reach the UI, and the run, its metrics and its checkpoint appear in the library.
func TestSupervisor_RunFinishes(t *testing.T) {
	lib := demoLibrary(t)
	rec := newRecorder()
	engine := testEngine(t)
	if !engine.NoLibrary {
		t.Error("the engine does not list --no-library: it would open the library the app holds")
	}
	s := NewSupervisor(lib, engine, rec.notify)
	r, err := s.Start(demoRun("6"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != storage.StatusRunning || r.Model != "tiny" || r.Dataset != "capitals" {
		t.Fatalf("started run %+v", r)
	}
	waitDone(t, s, r.ID)
	r, err = lib.Run(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != storage.StatusFinished || r.Step != 6 {
		t.Fatalf("run ended as %q at step %d (%q), want finished at step 6", r.Status, r.Step, r.Reason)
	}
	if len(r.Checkpoints) == 0 || r.Checkpoints[len(r.Checkpoints)-1] != 6 {
		t.Errorf("checkpoints %v, want the final one at step 6", r.Checkpoints)
	}
	if _, err := os.Stat(filepath.Join(run.CheckpointDir(r.Dir, 6), "adapter_model.safetensors")); err != nil {
		t.Errorf("final checkpoint: %v", err)
	}
	points, err := lib.Series(r.ID, storage.Range{})
	if err != nil || len(points) != 6 {
		t.Fatalf("metrics: %d points (%v), want 6", len(points), err)
	}
	for i, p := range points {
		if p.Step != i+1 || !(p.Loss > 0) {
			t.Errorf("point %d: step %d, loss %v", i, p.Step, p.Loss)
		}
	}
	if got := rec.events(run.EventStep); got != 6 {
		t.Errorf("%d step events reached the UI, want 6", got)
	}
	if rec.events(run.EventFinished) != 1 {
		t.Errorf("the finished event did not reach the UI")
	}
	cfg, err := lib.RunConfig(r.ID)
	if err != nil || !strings.Contains(cfg.YAML, "max_steps: 6") {
		t.Errorf("recorded configuration %q (%v), want the resolved one with max_steps: 6", cfg.YAML, err)
	}
	// The plan the run view draws its planned peak from: the CPU's here, as the engine trained.
	resolved, _ := resolveConfig(demoRun("6"), mustModel(t, lib, "tiny"), mustDataset(t, lib, "capitals"))
	want := storage.PlanFor(&resolved, "cpu")
	if want == nil || cfg.Plan == nil || !reflect.DeepEqual(*cfg.Plan, *want) || r.PlanBytes != want.TotalBytes {
		t.Errorf("recorded plan %+v (%d bytes), want the planner's %+v", cfg.Plan, r.PlanBytes, want)
	}
	if len(s.Running()) != 0 {
		t.Errorf("still following %v", s.Running())
	}
	if _, err := os.Stat(os.Getenv("QLORA_LIBRARY")); !os.IsNotExist(err) {
		t.Errorf("the engine opened the default library (%v): the app's library is the only one", err)
	}
}

// TestSupervisor_Stop ensures Stop (SIGTERM) ends a run as stopped, with a checkpoint of the step
// it reached.
func TestSupervisor_Stop(t *testing.T) {
	lib := demoLibrary(t)
	rec := newRecorder()
	s := NewSupervisor(lib, testEngine(t), rec.notify)
	r, err := s.Start(demoRun("100000"))
	if err != nil {
		t.Fatal(err)
	}
	rec.waitStep(t, 3)
	if err := s.Stop(r.ID); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, r.ID)
	r, _ = lib.Run(r.ID)
	if r.Status != storage.StatusStopped || r.Step < 3 {
		t.Fatalf("run ended as %q at step %d (%s), want stopped at step 3 or later", r.Status, r.Step, r.Reason)
	}
	if len(r.Checkpoints) == 0 || r.Checkpoints[len(r.Checkpoints)-1] != r.Step {
		t.Errorf("checkpoints %v, want one at the step it stopped at, %d", r.Checkpoints, r.Step)
	}
}

// TestSupervisor_KilledChildFails ensures a child that dies without a final event (SIGKILL) leaves
// the run failed, with the reason, and its earlier checkpoints.
func TestSupervisor_KilledChildFails(t *testing.T) {
	for _, c := range []struct {
		name   string
		kill   func(s *Supervisor, id uint64, pid int) error
		reason string
	}{
		{"Kill", func(s *Supervisor, id uint64, _ int) error { return s.Kill(id) }, "killed at step"},
		{"killed from outside", func(_ *Supervisor, _ uint64, pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }, "SIGKILL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lib := demoLibrary(t)
			rec := newRecorder()
			s := NewSupervisor(lib, testEngine(t), rec.notify)
			r, err := s.Start(demoRun("100000"))
			if err != nil {
				t.Fatal(err)
			}
			rec.waitStep(t, 3)
			r, _ = lib.Run(r.ID)
			if err := c.kill(s, r.ID, r.PID); err != nil {
				t.Fatal(err)
			}
			waitDone(t, s, r.ID)
			r, _ = lib.Run(r.ID)
			if r.Status != storage.StatusFailed || !strings.Contains(r.Reason, c.reason) {
				t.Fatalf("run ended as %q (%q), want failed saying %q", r.Status, r.Reason, c.reason)
			}
			if len(r.Checkpoints) == 0 || r.Checkpoints[0] != 2 {
				t.Errorf("checkpoints %v, want step 2's kept", r.Checkpoints)
			}
		})
	}
}

// TestSupervisor_Refusals ensures a bad request starts nothing and records nothing.
func TestSupervisor_Refusals(t *testing.T) {
	lib := demoLibrary(t)
	s := NewSupervisor(lib, testEngine(t), nil)
	for _, req := range []RunRequest{
		{Model: "nope", Dataset: "capitals", Preset: "demo"},
		{Model: "tiny", Dataset: "capitals", Preset: "no-such-preset"},
		{Model: "tiny", Dataset: "capitals", Preset: "demo", Sets: []string{"learning_rate=-1"}},
	} {
		if _, err := s.Start(req); err == nil {
			t.Errorf("%+v started", req)
		}
	}
	if runs, _ := lib.Runs(); len(runs) != 0 {
		t.Errorf("refused requests recorded %d runs", len(runs))
	}
	if _, err := NewSupervisor(lib, Engine{}, nil).Start(demoRun("1")); !errors.Is(err, ErrNoEngine) {
		t.Errorf("without an engine: %v", err)
	}
}

// TestSupervisor_Adopt ensures that at start the app settles a run whose engine died while it was
// away as crashed, and one whose pid another program has now as failed (without signalling that
// program), and follows one whose engine is still going until it ends, able to stop it.
func TestSupervisor_Adopt(t *testing.T) {
	lib := demoLibrary(t)
	m, _ := lib.Model("tiny")
	d, _ := lib.Dataset("capitals")
	runs := filepath.Join(lib.Dir(), storage.RunsDir)

	// A run whose process is gone: a pid that no longer exists, and events without an end.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone, err := lib.RecordRun(storage.NewRun{Dir: filepath.Join(runs, "gone"), Model: "tiny", Dataset: "capitals",
		BaseModel: m.Path, Data: d.Path, PID: dead.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}

	// A run an earlier app started whose engine still trains.
	dir := filepath.Join(runs, "going")
	cfg, err := resolveConfig(demoRun("100000"), m, d)
	if err != nil {
		t.Fatal(err)
	}
	yaml, _ := cfg.Marshal()
	cfgFile := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(cfgFile, yaml, 0o644)
	engine := exec.Command(engineBin, "train", "--backend", "cpu", "--config", cfgFile, "--out", dir)
	if err := engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Process.Kill(); engine.Wait() })
	going, err := lib.RecordRun(storage.NewRun{Dir: dir, Model: "tiny", Dataset: "capitals", BaseModel: m.Path,
		Data: d.Path, Config: yaml, PID: engine.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}

	// A run whose pid now belongs to another program.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	reused, err := lib.RecordRun(storage.NewRun{Dir: filepath.Join(runs, "reused"), Model: "tiny", Dataset: "capitals",
		BaseModel: m.Path, Data: d.Path, PID: other.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}

	rec := newRecorder()
	s := NewSupervisor(lib, testEngine(t), rec.notify)
	adopted, err := s.Adopt()
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 1 || adopted[0].ID != going.ID {
		t.Fatalf("adopted %+v, want run %d only", adopted, going.ID)
	}
	if len(s.Running()) != 1 || len(s.Started()) != 0 {
		t.Errorf("following %v, started %v: want the adopted run followed and none started", s.Running(), s.Started())
	}
	if r, _ := lib.Run(gone.ID); r.Status != storage.StatusCrashed || r.Reason == "" {
		t.Errorf("the run whose engine died is %q (%q), want crashed with a reason", r.Status, r.Reason)
	}
	if r, _ := lib.Run(reused.ID); r.Status != storage.StatusFailed || !strings.Contains(r.Reason, "no longer its engine") {
		t.Errorf("the run whose pid another program has is %q (%q), want failed, saying so", r.Status, r.Reason)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the other program is gone: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for r, _ := lib.Run(going.ID); r.Step < 2; r, _ = lib.Run(going.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the adopted run did not reach step 2: %+v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Stop(going.ID); err != nil {
		t.Fatal(err)
	}
	engine.Wait() // the earlier app's part: reap its child
	waitDone(t, s, going.ID)
	if r, _ := lib.Run(going.ID); r.Status != storage.StatusStopped || len(r.Checkpoints) == 0 {
		t.Errorf("the adopted run ended as %q with checkpoints %v, want stopped with a checkpoint", r.Status, r.Checkpoints)
	}
}

// TestSupervisor_Shutdown ensures closing the app stops its runs with a checkpoint and waits.
func TestSupervisor_Shutdown(t *testing.T) {
	lib := demoLibrary(t)
	rec := newRecorder()
	s := NewSupervisor(lib, testEngine(t), rec.notify)
	r, err := s.Start(demoRun("100000"))
	if err != nil {
		t.Fatal(err)
	}
	rec.waitStep(t, 1)
	if started := s.Started(); len(started) != 1 || started[0] != r.ID {
		t.Errorf("started %v, want [%d]", started, r.ID)
	}
	s.Shutdown(time.Minute)
	s.Wait()
	if r, _ = lib.Run(r.ID); r.Status != storage.StatusStopped {
		t.Errorf("after shutdown the run is %q (%s), want stopped", r.Status, r.Reason)
	}
}

// TestSupervisor_Resume ensures a stopped run resumes from its checkpoint in a real `qlora
// resume` child, extended to a new length, and finishes there with its series continued; a run
// going or finished without a longer length is refused, and nothing starts.
func TestSupervisor_Resume(t *testing.T) {
	lib := demoLibrary(t)
	rec := newRecorder()
	s := NewSupervisor(lib, testEngine(t), rec.notify)
	r, err := s.Start(demoRun("100000"))
	if err != nil {
		t.Fatal(err)
	}
	rec.waitStep(t, 2)
	if _, err := s.Resume(r.ID, 0, "cpu"); err == nil || !strings.Contains(err.Error(), "running already") {
		t.Errorf("resuming a run that is going: %v", err)
	}
	if err := s.Stop(r.ID); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, r.ID)
	stopped, _ := lib.Run(r.ID)
	if stopped.Status != storage.StatusStopped {
		t.Fatalf("run ended as %q (%s), want stopped", stopped.Status, stopped.Reason)
	}
	end := stopped.Step + 3
	resumed, err := s.Resume(r.ID, end, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Status != storage.StatusRunning {
		t.Errorf("resumed run is %q", resumed.Status)
	}
	waitDone(t, s, r.ID)
	r, _ = lib.Run(r.ID)
	if r.Status != storage.StatusFinished || r.Step != end || r.Resumes != 1 {
		t.Fatalf("after the resume: %q at step %d (%s), %d resumes; want finished at step %d, 1 resume", r.Status, r.Step, r.Reason, r.Resumes, end)
	}
	if points, _ := lib.Series(r.ID, storage.Range{}); len(points) != end || points[end-1].Step != end {
		t.Errorf("%d points after the resume, want steps 1 to %d", len(points), end)
	}
	if rec.events(run.EventStarted) != 2 {
		t.Errorf("%d started events reached the UI, want 2 (the start and the resume)", rec.events(run.EventStarted))
	}
	if _, err := s.Resume(r.ID, 0, "cpu"); err == nil || !strings.Contains(err.Error(), "extend it") {
		t.Errorf("resuming a finished run without a longer length: %v", err)
	}
	if len(s.Running()) != 0 {
		t.Errorf("a refused resume started %v", s.Running())
	}
}

func mustModel(t *testing.T, lib *storage.Library, name string) storage.Model {
	t.Helper()
	m, err := lib.Model(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustDataset(t *testing.T, lib *storage.Library, name string) storage.Dataset {
	t.Helper()
	d, err := lib.Dataset(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
