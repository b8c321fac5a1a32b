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
	"time"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// The commands these tests run record their runs in a library; without this, the tests that train
// by path would fill the user's own. Each test that looks at the library names its own.
func init() {
	if os.Getenv("QLORA_LIBRARY") == "" {
		dir, err := os.MkdirTemp("", "qlora-test-library-")
		if err == nil {
			os.Setenv("QLORA_LIBRARY", dir)
		}
	}
}

// libSetup makes a library with the tiny chat model and the capitals data imported as "tiny" and
// "caps", and returns it with the training arguments that use them by name.
func libSetup(t *testing.T, steps string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	lib, modelDir, data := filepath.Join(dir, "library"), filepath.Join(dir, "tiny-chat"), filepath.Join(dir, "capitals.jsonl")
	if err := fixtures.ChatModel(modelDir, 5); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.Capitals(data, 64); err != nil {
		t.Fatal(err)
	}
	mustQlora(t, "models", "add", modelDir, "--name", "tiny", "--library", lib)
	mustQlora(t, "datasets", "add", data, "--name", "caps", "--library", lib)
	return lib, []string{"train", "--model", "tiny", "--data", "caps", "--library", lib,
		"--set", "max_steps=" + steps, "--set", "save_steps=4", "--set", "micro_batch_size=2",
		"--set", "learning_rate=0.02", "--set", "lora_r=4", "--set", "max_seq_length=64",
		"--set", "chat_template=chatml", "--set", "gradient_checkpointing=false"}
}

// mustQlora runs qlora and fails the test unless it exits 0; it returns stdout.
func mustQlora(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := qlora(t, args...)
	if code != 0 {
		t.Fatalf("qlora %v: exit %d\n%s", args, code, stderr)
	}
	return stdout
}

// jsonOf runs qlora with --json and decodes its output into v.
func jsonOf(t *testing.T, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(mustQlora(t, append(args, "--json")...)), v); err != nil {
		t.Fatal(err)
	}
}

// TestModels_Commands ensures models add, list, show and rm work end to end, by reference and by
// copy, and that their failures exit 1 naming what was wrong.
func TestModels_Commands(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "library")
	src := filepath.Join(t.TempDir(), "chat")
	fixtures.ChatModel(src, 1)
	out := mustQlora(t, "models", "add", src, "--library", lib)
	if !strings.Contains(out, "added model chat: llama") || !strings.Contains(out, "referenced at "+src) {
		t.Errorf("add: %s", out)
	}
	var added storage.Model
	jsonOf(t, &added, "models", "add", src, "--name", "chat copy", "--copy", "--library", lib)
	if !added.Copied || !strings.HasPrefix(added.Path, lib) {
		t.Errorf("copy: %+v", added)
	}
	var list []storage.Model
	jsonOf(t, &list, "models", "list", "--library", lib)
	if len(list) != 2 || list[0].Name != "chat" || list[1].Name != "chat copy" {
		t.Errorf("list: %+v", list)
	}
	if out := mustQlora(t, "models", "show", "chat", "--library", lib); !strings.Contains(out, "referenced in place") || !strings.Contains(out, "model.safetensors") {
		t.Errorf("show: %s", out)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"models"}, 2, "qlora models add DIR"},
		{[]string{"models", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"models", "add", src}, 1, `a model named "chat" is already there`},
		{[]string{"models", "add", t.TempDir()}, 1, "config.json"},
		{[]string{"models", "show", "nope"}, 1, `no model named "nope"`},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, append(c.args, "--library", lib)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	mustQlora(t, "models", "rm", "chat copy", "--library", lib)
	if _, err := os.Stat(added.Path); !os.IsNotExist(err) {
		t.Errorf("the copy is still there: %v", err)
	}
}

// TestDatasets_Commands ensures datasets add validates, copies and measures a file, show measures
// with another model, and a file with a bad row is refused naming its line.
func TestDatasets_Commands(t *testing.T) {
	lib, _ := libSetup(t, "1")
	var d storage.Dataset
	jsonOf(t, &d, "datasets", "show", "caps", "--model", "tiny", "--max-length", "64", "--library", lib)
	if d.Shape != "alpaca" || d.Rows != 64 || len(d.Stats) != 1 || d.Stats[0].Samples != 64 {
		t.Errorf("%+v", d)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"a\"}\n{\"text\": \n{\"text\": \"b\"}\n"), 0o644)
	_, stderr, code := qlora(t, "datasets", "add", bad, "--library", lib)
	if code != 1 || !strings.Contains(stderr, "bad.jsonl:2") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	var list []storage.Dataset
	jsonOf(t, &list, "datasets", "list", "--library", lib)
	if len(list) != 1 {
		t.Errorf("%+v", list)
	}
}

// TestTrain_LibraryNames ensures a run given library names trains, is recorded with its plan and
// indexed metrics, builds the model's NF4 base once and reuses it, and trains exactly as the same
// run on the model's folder without the library.
func TestTrain_LibraryNames(t *testing.T) {
	lib, args := libSetup(t, "8")
	dirA, dirB, dirC := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	_, stderr, code := qlora(t, append(args, "--out", dirA)...)
	if code != 0 || !strings.Contains(stderr, "NF4 base of tiny built") || !strings.Contains(stderr, "recorded in the library") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	_, stderr, code = qlora(t, append(args, "--out", dirB, "--preset", "demo")...)
	if code != 0 || !strings.Contains(stderr, "NF4 base of tiny from the library's cache") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var m storage.Model
	jsonOf(t, &m, "models", "show", "tiny", "--library", lib)
	noLib := replaceArgs(args, map[string]string{"tiny": m.Path, "caps": datasetPath(t, lib, "caps"), lib: filepath.Join(t.TempDir(), "unused")})
	if _, stderr, code := qlora(t, append(noLib, "--no-library", "--out", dirC)...); code != 0 {
		t.Fatalf("without the library: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "unused")); !os.IsNotExist(err) {
		t.Error("--no-library created a library")
	}
	a, c := trajectory(t, dirA), trajectory(t, dirC)
	for step := 1; step <= 8; step++ {
		if math.Float64bits(a[step]) != math.Float64bits(c[step]) {
			t.Errorf("step %d: loss %v from the cached NF4 base, %v quantizing at load", step, a[step], c[step])
		}
	}
	// Trained on the library's NF4 cache, the run still merges into the model's 16-bit weights.
	var merged export.Result
	jsonOf(t, &merged, "export", dirA, "--format", "merged", "--out", filepath.Join(t.TempDir(), "merged"), "--library", lib)
	if merged.MergeInto != export.MergeOriginal || merged.Base != m.Path {
		t.Errorf("merged into %q of %s, want the original of %s", merged.MergeInto, merged.Base, m.Path)
	}
	var runs []storage.Run
	jsonOf(t, &runs, "runs", "list", "--library", lib)
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	for _, r := range runs { // the preset a run started from, for the app's history
		if want := map[string]string{dirA: "", dirB: "demo"}[r.Dir]; r.Preset != want {
			t.Errorf("run in %s: preset %q, want %q", r.Dir, r.Preset, want)
		}
	}
	r := runs[0]
	if r.Status != storage.StatusFinished || r.Step != 8 || r.Model != "tiny" || r.Dataset != "caps" || r.PlanBytes == 0 || len(r.Checkpoints) != 2 {
		t.Errorf("%+v", r)
	}
	var show struct {
		Points  int              `json:"points"`
		Metrics []map[string]any `json:"metrics"`
		Config  string           `json:"config"`
	}
	jsonOf(t, &show, "runs", "show", r.Name, "--metrics", "--library", lib)
	if show.Points != 8 || len(show.Metrics) != 8 || !strings.Contains(show.Config, "lora_r: 4") {
		t.Errorf("show: %d points, %d metrics\n%s", show.Points, len(show.Metrics), show.Config)
	}
	for _, m := range show.Metrics {
		if util, ok := m["gpu_util_percent"]; !ok || util != nil { // a CPU run: known to be unknown
			t.Errorf("show: a CPU step's gpu_util_percent is %v (present %v), want null", util, ok)
		}
	}
	if table := mustQlora(t, "runs", "show", r.Name, "--metrics", "--library", lib); !strings.Contains(table, "GPU BUSY") {
		t.Errorf("show --metrics: no GPU BUSY column:\n%s", table)
	}
	out := mustQlora(t, "runs", "compare", runs[0].Name, runs[1].Name, "--library", lib)
	if !strings.Contains(out, "loss at step 8") {
		t.Errorf("compare:\n%s", out)
	}
	_, stderr, code = qlora(t, "models", "rm", "tiny", "--library", lib)
	if code != 1 || !strings.Contains(stderr, runs[0].Name) || !strings.Contains(stderr, "--force") {
		t.Errorf("rm of a used model: exit %d: %s", code, stderr)
	}
	mustQlora(t, "runs", "rm", runs[1].Name, "--delete-files", "--library", lib)
	if _, err := os.Stat(dirB); !os.IsNotExist(err) {
		t.Errorf("the run folder is still there: %v", err)
	}
	var info struct {
		Models, Datasets, Runs int
	}
	jsonOf(t, &info, "library", "--library", lib)
	if info.Models != 1 || info.Datasets != 1 || info.Runs != 1 {
		t.Errorf("library: %+v", info)
	}
	_, stderr, code = qlora(t, append(replaceArgs(args, map[string]string{"tiny": "no-such-model"}), "--out", filepath.Join(t.TempDir(), "x"))...)
	if code != 1 || !strings.Contains(stderr, `"no-such-model" is neither a model folder on disk nor in the library`) {
		t.Errorf("unknown name: exit %d: %s", code, stderr)
	}
}

// TestRuns_ListWhileTraining ensures a second process lists the runs while one trains, seeing it
// running with its metrics so far, without waiting for it; and then sees it stopped.
func TestRuns_ListWhileTraining(t *testing.T) {
	lib, args := libSetup(t, "100000")
	cmd, events := startTrain(t, append(args, "--out", filepath.Join(t.TempDir(), "run")))
	waitStep(t, events, 3)
	start := time.Now()
	var runs []storage.Run
	jsonOf(t, &runs, "runs", "list", "--library", lib)
	took := time.Since(start)
	t.Logf("runs list answered in %v while a run trained", took)
	if len(runs) != 1 || runs[0].Status != storage.StatusRunning || runs[0].Step < 3 {
		t.Errorf("%+v", runs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go drain(events)
	cmd.Wait()
	jsonOf(t, &runs, "runs", "list", "--library", lib)
	if runs[0].Status != storage.StatusStopped || runs[0].Step < 3 {
		t.Errorf("after SIGTERM: %+v", runs[0])
	}
}

// TestTrain_SIGKILL_Library ensures a run killed with SIGKILL leaves a library that opens, passes
// bbolt's check and shows the run, adopted as crashed, with the metrics and checkpoints it wrote;
// resumed by name, it then finishes.
func TestTrain_SIGKILL_Library(t *testing.T) {
	lib, args := libSetup(t, "16")
	cmd, events := startTrain(t, append(args, "--out", filepath.Join(t.TempDir(), "run")))
	waitStep(t, events, 9)
	cmd.Process.Kill()
	go drain(events)
	cmd.Wait()
	if out := mustQlora(t, "library", "check", "--library", lib); !strings.Contains(out, "consistent") {
		t.Errorf("check: %s", out)
	}
	var runs []storage.Run
	jsonOf(t, &runs, "runs", "list", "--library", lib)
	r := runs[0]
	if r.Status != storage.StatusCrashed || r.Step < 9 || len(r.Checkpoints) < 2 || !strings.Contains(r.Reason, "without a final event") {
		t.Fatalf("%+v", r)
	}
	if _, stderr, code := qlora(t, "resume", r.Name, "--library", lib); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	jsonOf(t, &runs, "runs", "list", "--library", lib)
	if r = runs[0]; r.Status != storage.StatusFinished || r.Step != 16 || r.Resumes != 1 {
		t.Errorf("after resume: %+v", r)
	}
}

// TestLibrary_Busy ensures a command that finds the library held says which process holds it,
// after a short wait, rather than hanging.
func TestLibrary_Busy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "library")
	l, err := storage.Open(dir, &storage.Options{KeepOpen: true, Holder: "qlora-studio (the desktop app)"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, stderr, code := qlora(t, "runs", "list", "--library", dir)
	if code != 1 || !strings.Contains(stderr, "is busy") || !strings.Contains(stderr, "qlora-studio (the desktop app)") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %v", took) // a hang guard, not a timing assertion
	}
}

// startTrain starts qlora train with its events on a pipe.
func startTrain(t *testing.T, args []string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(qloraBin, append(args, "--events", "-")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("train's stderr:\n%s", stderr.String())
		}
	})
	return cmd, bufio.NewScanner(out)
}

// waitStep reads events until step `at` is done.
func waitStep(t *testing.T, sc *bufio.Scanner, at int) {
	t.Helper()
	for sc.Scan() {
		var ev run.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == run.EventStep && ev.Step >= at {
			return
		}
	}
	t.Fatalf("the run ended before step %d", at)
}

func drain(sc *bufio.Scanner) {
	for sc.Scan() {
	}
}

// replaceArgs replaces whole arguments, and --set values that hold them, by others.
func replaceArgs(args []string, by map[string]string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if r, ok := by[a]; ok {
			out[i] = r
		}
	}
	return out
}

func datasetPath(t *testing.T, lib, name string) string {
	var d storage.Dataset
	jsonOf(t, &d, "datasets", "show", name, "--library", lib)
	return d.Path
}
