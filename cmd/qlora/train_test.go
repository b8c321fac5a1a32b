package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// trainSetup writes the tiny chat model and the capitals data, and returns the train arguments
// shared by the tests: dropout and shuffling on, so that resuming must restore both exactly.
func trainSetup(t *testing.T, steps string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	modelDir, data := filepath.Join(dir, "model"), filepath.Join(dir, "capitals.jsonl")
	os.Mkdir(modelDir, 0o755)
	if err := fixtures.ChatModel(modelDir, 5); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.Capitals(data, 64); err != nil {
		t.Fatal(err)
	}
	return modelDir, []string{"train", "--model", modelDir, "--data", data,
		"--set", "max_steps=" + steps, "--set", "save_steps=4", "--set", "micro_batch_size=2",
		"--set", "learning_rate=0.02", "--set", "lora_r=4", "--set", "lora_dropout=0.1",
		"--set", "max_seq_length=64", "--set", "chat_template=chatml", "--set", "gradient_checkpointing=false"}
}

// startUntilStep starts qlora with args, reads its events on stdout and, once step `at` is done,
// sends it sig. It returns the exit code.
func startUntilStep(t *testing.T, args []string, at int, sig os.Signal, env ...string) int {
	t.Helper()
	cmd := exec.Command(qloraBin, append(args, "--events", "-")...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	signalled := false
	for sc.Scan() {
		var ev run.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == run.EventStep && ev.Step >= at && !signalled {
			cmd.Process.Signal(sig)
			signalled = true
		}
	}
	err = cmd.Wait()
	if !signalled {
		t.Fatalf("the run ended before step %d: %v\n%s", at, err, stderr.String())
	}
	return cmd.ProcessState.ExitCode()
}

// trajectory is the loss of every step, the last event for a step winning (a resumed run repeats
// the steps after its checkpoint).
func trajectory(t *testing.T, runDir string) map[int]float64 {
	t.Helper()
	events, err := run.ReadEvents(filepath.Join(runDir, run.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	losses := map[int]float64{}
	for _, ev := range events {
		if ev.Type == run.EventStep {
			losses[ev.Step] = *ev.Loss
		}
	}
	return losses
}

func lastEvent(t *testing.T, runDir string) run.Event {
	t.Helper()
	events, err := run.ReadEvents(filepath.Join(runDir, run.EventsFile))
	if err != nil || len(events) == 0 {
		t.Fatalf("events: %v", err)
	}
	return events[len(events)-1]
}

// TestResume_AfterSIGKILL ensures a run killed with SIGKILL, with a half-written checkpoint and a
// torn events line left behind, resumes on another number of cores to the very same trajectory
// and adapter as a run never interrupted.
func TestResume_AfterSIGKILL(t *testing.T) {
	_, args := trainSetup(t, "20")
	ref, killed := filepath.Join(t.TempDir(), "ref"), filepath.Join(t.TempDir(), "killed")
	if _, stderr, code := qlora(t, append(args, "--out", ref)...); code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	if code := startUntilStep(t, append(args, "--out", killed), 10, syscall.SIGKILL); code != -1 {
		t.Fatalf("killed run exited %d", code)
	}
	// What a kill in the middle of writing a checkpoint and of writing an event leaves.
	half := filepath.Join(killed, run.CheckpointsDir, ".step-12.tmp-123")
	os.MkdirAll(half, 0o755)
	os.WriteFile(filepath.Join(half, "adapter_model.safetensors"), []byte("\x10\x00\x00"), 0o644)
	f, _ := os.OpenFile(filepath.Join(killed, run.EventsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":1,"type":"st`)
	f.Close()

	cmd := exec.Command(qloraBin, "resume", killed)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	want, got := trajectory(t, ref), trajectory(t, killed)
	if len(want) != 20 || len(got) != 20 {
		t.Fatalf("%d and %d steps", len(want), len(got))
	}
	for step := 1; step <= 20; step++ {
		if math.Float64bits(got[step]) != math.Float64bits(want[step]) {
			t.Errorf("step %d: loss %v after the kill and resume, %v uninterrupted", step, got[step], want[step])
		}
	}
	a, _ := os.ReadFile(filepath.Join(run.CheckpointDir(ref, 20), "adapter_model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(run.CheckpointDir(killed, 20), "adapter_model.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the final adapters differ")
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Error("the half-written checkpoint is still there")
	}
}

// TestTrain_SIGTERMStopsWithCheckpoint ensures SIGTERM ends a run as stopped with a checkpoint of
// the step it reached, and that resume then takes it to a new length.
func TestTrain_SIGTERMStopsWithCheckpoint(t *testing.T) {
	_, args := trainSetup(t, "1000")
	dir := filepath.Join(t.TempDir(), "run")
	if code := startUntilStep(t, append(args, "--out", dir), 3, syscall.SIGTERM); code != exitStopped {
		t.Fatalf("exit %d, want %d", code, exitStopped)
	}
	ev := lastEvent(t, dir)
	if ev.Type != run.EventStopped || ev.Path == "" {
		t.Fatalf("last event %+v", ev)
	}
	if _, err := os.Stat(filepath.Join(ev.Path, run.StateFile)); err != nil {
		t.Fatalf("no checkpoint at the stop: %v", err)
	}
	if _, stderr, code := qlora(t, "resume", dir, "--set", "max_steps=8"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if ev := lastEvent(t, dir); ev.Type != run.EventFinished || ev.Step != 8 {
		t.Errorf("after resume: %+v", ev)
	}
}

// TestTrain_NaNFails ensures a non-finite loss ends the run as failed, with the reason, and keeps
// the last good checkpoint: a run of 4 steps is extended after its base model's final norm was
// poisoned with a NaN.
func TestTrain_NaNFails(t *testing.T) {
	modelDir, args := trainSetup(t, "4")
	dir := filepath.Join(t.TempDir(), "run")
	if _, stderr, code := qlora(t, append(args, "--out", dir)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	poisonNorm(t, modelDir)
	_, stderr, code := qlora(t, "resume", dir, "--set", "max_steps=8")
	if code != 1 || !strings.Contains(stderr, "non-finite loss or gradient at step 5") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if ev := lastEvent(t, dir); ev.Type != run.EventFailed || !strings.Contains(ev.Reason, "non-finite") {
		t.Errorf("last event %+v", ev)
	}
	steps, _ := run.Checkpoints(dir)
	if len(steps) == 0 || steps[len(steps)-1] != 4 {
		t.Errorf("checkpoints %v, want the last good one, step 4", steps)
	}
}

// poisonNorm puts a NaN into the model's final norm weight.
func poisonNorm(t *testing.T, modelDir string) {
	t.Helper()
	path := filepath.Join(modelDir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var sources []safetensors.Source
	for _, name := range f.Names() {
		tt, _ := f.Tensor(name)
		data := append([]byte(nil), tt.Data...)
		if name == "model.norm.weight" {
			data[0], data[1] = 0xc0, 0x7f // a bfloat16 NaN
		}
		sources = append(sources, safetensors.Bytes(name, tt.DType, tt.Shape, data))
	}
	f.Close()
	if err := safetensors.WriteFile(path, nil, sources); err != nil {
		t.Fatal(err)
	}
}

// TestTrain_InitAdapterAndPruning ensures a run can start from another run's PEFT adapter (its first
// loss then equals the loss where the first run ended, not a fresh start), and that
// save_total_limit keeps the newest checkpoints and the best one.
func TestTrain_InitAdapterAndPruning(t *testing.T) {
	_, args := trainSetup(t, "12")
	first := filepath.Join(t.TempDir(), "first")
	if _, stderr, code := qlora(t, append(args, "--out", first, "--set", "save_total_limit=2", "--set", "val_set_size=8",
		"--set", "eval_steps=2", "--set", "save_steps=3")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	steps, _ := run.Checkpoints(first)
	var best int
	for _, ev := range mustEvents(t, first) {
		if ev.Type == run.EventEval && ev.Best {
			best = ev.Step
		}
	}
	t.Logf("kept checkpoints %v, best at step %d", steps, best)
	want := map[int]bool{12: true, best: true}
	if len(steps) > 3 || !want[steps[len(steps)-1]] {
		t.Errorf("checkpoints %v kept; want the newest two and the best (step %d)", steps, best)
	}
	for _, s := range []int{best, 12} {
		if _, err := os.Stat(run.CheckpointDir(first, s)); err != nil {
			t.Errorf("checkpoint %d pruned: %v", s, err)
		}
	}

	// Evaluate the first run's final adapter on the training data as the second run's first step
	// sees it: its loss must be far below a fresh adapter's.
	second := filepath.Join(t.TempDir(), "second")
	fresh := filepath.Join(t.TempDir(), "fresh")
	short := append(append([]string(nil), args...), "--set", "max_steps=1")
	if _, stderr, code := qlora(t, append(short, "--out", second, "--init-adapter", run.CheckpointDir(first, 12))...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, stderr, code := qlora(t, append(short, "--out", fresh)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	continued, started := trajectory(t, second)[1], trajectory(t, fresh)[1]
	if !(continued < started-0.5) {
		t.Errorf("first loss %.3f from the adapter, %.3f fresh: the adapter was not used", continued, started)
	}
}

func mustEvents(t *testing.T, dir string) []run.Event {
	t.Helper()
	events, err := run.ReadEvents(filepath.Join(dir, run.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestGenerate_Chat ensures generate renders the prompt through the chat template, stops at the end
// of text, and prints the continuation; greedy output is the same twice.
func TestGenerate_Chat(t *testing.T) {
	modelDir, _ := trainSetup(t, "1")
	args := []string{"generate", "--model", modelDir, "--prompt", "What is the capital of Peru?", "--max-tokens", "8"}
	a, stderr, code := qlora(t, args...)
	b, _, _ := qlora(t, args...)
	if code != 0 || a != b || a == "" {
		t.Errorf("exit %d, %q then %q: %s", code, a, b, stderr)
	}
}

// TestGenerate_ChatTemplate ensures --chat-template renders the prompt with the named template, as
// a run's chat_template names it: a .jinja file that writes the bare prompt gives what --raw gives,
// a built-in other than the model's own gives another continuation, and an unknown name is refused.
func TestGenerate_ChatTemplate(t *testing.T) {
	modelDir, _ := trainSetup(t, "1")
	plain := filepath.Join(t.TempDir(), "plain.jinja")
	os.WriteFile(plain, []byte("{{ bos_token }}{{ messages[0]['content'] }}"), 0o644)
	gen := func(extra ...string) (string, string, int) {
		return qlora(t, append([]string{"generate", "--model", modelDir, "--prompt", "What is the capital of Peru?", "--max-tokens", "8"}, extra...)...)
	}
	raw, _, _ := gen("--raw")
	viaFile, stderr, code := gen("--chat-template", plain)
	if code != 0 || viaFile != raw {
		t.Errorf("through %s: exit %d, %q; --raw gives %q\n%s", plain, code, viaFile, raw, stderr)
	}
	own, _, _ := gen()
	if other, _, _ := gen("--chat-template", "llama2"); other == own {
		t.Errorf("llama2's template gives the same continuation as the model's own: %q", own)
	}
	if _, stderr, code := gen("--chat-template", "nope"); code != 1 || !strings.Contains(stderr, `no built-in chat template "nope"`) {
		t.Errorf("an unknown template: exit %d, %s", code, stderr)
	}
}

// TestBench_CPUAllocationsArePlanned ensures `qlora bench` runs and, on the CPU, allocates exactly the
// bytes the planner predicts for the same shape.
func TestBench_CPUAllocationsArePlanned(t *testing.T) {
	stdout, stderr, code := qlora(t, "bench", "--shape", "cpu-small", "--seq", "32", "--steps", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r run.BenchResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.StepSeconds <= 0 || r.AllocatedBytes != r.PlannedBytes {
		t.Errorf("bench %+v: allocated %d, planned %d", r, r.AllocatedBytes, r.PlannedBytes)
	}
}

// TestPlan_Command ensures `qlora plan` reports the 65B preset fitting 48 GiB, and the JSON form's
// total and per-component exactness.
func TestPlan_Command(t *testing.T) {
	cfg := "../../trainer/plan/testdata/llama-65b.json"
	stdout, stderr, code := qlora(t, "plan", "--model", cfg, "--preset", "65b-48gb", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p struct {
		Total      int64 `json:"total_bytes"`
		Fits       bool  `json:"fits"`
		Components []struct {
			Bytes int64 `json:"bytes"`
			Exact bool  `json:"exact"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Fits || p.Total < 30<<30 || p.Total > 46<<30 || len(p.Components) < 8 {
		t.Errorf("plan %+v", p)
	}
	text, _, _ := qlora(t, "plan", "--model", cfg, "--preset", "65b-48gb", "--gpu-memory", "24GiB")
	if !strings.Contains(text, "does NOT fit in 24.00 GiB") || !strings.Contains(text, "largest max_seq_length that fits (up to the model's context): 0") {
		t.Errorf("24 GiB:\n%s", text)
	}
}

// TestResume_KilledDuringCheckpointWrite ensures a SIGKILL that lands while a checkpoint is being
// written (a checkpoint every step, the kill sent the moment a step is reported, before its
// checkpoint is renamed into place) still resumes to the uninterrupted trajectory.
func TestResume_KilledDuringCheckpointWrite(t *testing.T) {
	_, args := trainSetup(t, "12")
	args = append(args, "--set", "save_steps=1")
	ref, killed := filepath.Join(t.TempDir(), "ref"), filepath.Join(t.TempDir(), "killed")
	if _, stderr, code := qlora(t, append(args, "--out", ref)...); code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	startUntilStep(t, append(args, "--out", killed), 7, syscall.SIGKILL)
	steps, _ := run.Checkpoints(killed)
	entries, _ := os.ReadDir(filepath.Join(killed, run.CheckpointsDir))
	t.Logf("after the kill: checkpoints %v, %d entries in checkpoints/", steps, len(entries))
	if out, err := exec.Command(qloraBin, "resume", killed).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	want, got := trajectory(t, ref), trajectory(t, killed)
	for step := 1; step <= 12; step++ {
		if math.Float64bits(got[step]) != math.Float64bits(want[step]) {
			t.Errorf("step %d: loss %v after the kill and resume, %v uninterrupted", step, got[step], want[step])
		}
	}
}
