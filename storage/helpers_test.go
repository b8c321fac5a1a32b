package storage

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// openTemp opens a new library in a temporary folder, closed when the test ends.
func openTemp(t testing.TB, opt *Options) *Library {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "library"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// chatModel writes the tiny chat model (with its tokenizer) into a temporary folder.
func chatModel(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-chat")
	if err := fixtures.ChatModel(dir, 7); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bigModel writes a model of about size bytes of bfloat16 weights with the tiny tokenizer.
func bigModel(t testing.TB, hidden, layers int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "big")
	s := fixtures.ChatModelShape
	s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KVHeads = hidden, hidden*11/4, layers, 8, 8
	if err := tinymodel.Write(dir, s, 3); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := fixtures.TinyChat.ReadFile("tinychat/" + name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// capitals writes the capitals dataset into a temporary file.
func capitals(t testing.TB, rows int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capitals.jsonl")
	if err := fixtures.Capitals(path, rows); err != nil {
		t.Fatal(err)
	}
	return path
}

// runFolder makes a run folder with a run.yaml, as the engine does before it starts.
func runFolder(t testing.TB, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(filepath.Join(dir, run.CheckpointsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, run.ConfigFile), []byte("base_model: /m\ndataset: /d.jsonl\nlearning_rate: 0.0002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// events appends events to a run folder's metrics.jsonl as the engine writes them (one JSON object
// per line, protocol version and time stamped), at times one second apart from start.
func events(t testing.TB, dir string, start time.Time, evs ...run.Event) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, run.EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, ev := range evs {
		ev.V = run.ProtocolVersion
		ev.Time = start.Add(time.Duration(i) * time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

// stepEvent is a step event with a loss.
func stepEvent(step int, loss float64) run.Event {
	return run.Event{Type: run.EventStep, Step: step, Loss: run.Float(loss), LR: 1e-4, GradNorm: run.Float(0.5), Tokens: 100, TokensPerS: 1000, MemoryBytes: int64(step) << 20}
}

// deadPID is the pid of a process that has exited.
func deadPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// wantErr fails unless err matches target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// entries lists a folder's entries by name ("" for a missing folder).
func entries(dir string) []string {
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
