package app

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEngine writes an executable script that prints help text, as `qlora train -h` does.
func fakeEngine(t *testing.T, dir, help string) string {
	t.Helper()
	path := filepath.Join(dir, engineName)
	script := "#!/bin/sh\ncat <<'EOF' >&2\n" + help + "\nEOF\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFindEngine_Order ensures the engine is found through QLORA_ENGINE, then beside the app's
// executable, then on PATH, and that finding none says where it looked and what to do.
func TestFindEngine_Order(t *testing.T) {
	envDir, appDir, pathDir := t.TempDir(), t.TempDir(), t.TempDir()
	fromEnv := fakeEngine(t, envDir, "")
	beside := fakeEngine(t, appDir, "")
	onPath := fakeEngine(t, pathDir, "")
	app := filepath.Join(appDir, "qlora-studio")
	look := func(found string) func(string) (string, error) {
		return func(string) (string, error) {
			if found == "" {
				return "", exec.ErrNotFound
			}
			return found, nil
		}
	}
	cases := []struct {
		name, env, exe string
		path           func(string) (string, error)
		want           string
	}{
		{"QLORA_ENGINE first", fromEnv, app, look(onPath), fromEnv},
		{"beside the app", "", app, look(onPath), beside},
		{"on PATH", "", filepath.Join(t.TempDir(), "qlora-studio"), look(onPath), onPath},
	}
	for _, c := range cases {
		got, err := findEngine(c.env, c.exe, c.path)
		if err != nil || got != c.want {
			t.Errorf("%s: %q (%v), want %q", c.name, got, err, c.want)
		}
	}
	_, err := findEngine("", filepath.Join(t.TempDir(), "qlora-studio"), look(""))
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), EngineEnv) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("none found: %v", err)
	}
	if _, err := findEngine(filepath.Join(envDir, "missing"), app, look(onPath)); !errors.Is(err, ErrNoEngine) {
		t.Errorf("a QLORA_ENGINE that is not there: %v, want a clear error rather than another engine", err)
	}
}

// TestKnowsFlag ensures --no-library is passed only to an engine whose help lists it.
func TestKnowsFlag(t *testing.T) {
	with := fakeEngine(t, t.TempDir(), "  -events string\n  -no-library\n    \tdo not touch the library")
	without := fakeEngine(t, t.TempDir(), "  -events string\n  -no-library-cache\n")
	if !knowsFlag(with, "train", "no-library") || knowsFlag(without, "train", "no-library") {
		t.Errorf("knowsFlag: with %v, without %v", knowsFlag(with, "train", "no-library"), knowsFlag(without, "train", "no-library"))
	}
}
