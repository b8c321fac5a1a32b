package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig_Command ensures `qlora config` prints a preset's whole configuration under its title,
// that this output given back with --config (alone, or over the preset) prints the same keys, and
// that --set wins over both.
func TestConfig_Command(t *testing.T) {
	stdout, stderr, code := qlora(t, "config", "demo")
	if code != 0 || !strings.HasPrefix(stdout, "# Demo on the CPU (preset demo)\n") || !strings.Contains(stdout, "\nmax_steps: 60\n") {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	body := stdout[strings.Index(stdout, "\n")+1:]
	file := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(file, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if back, stderr, code := qlora(t, "config", "--config", file); code != 0 || back != body {
		t.Errorf("--config alone: exit %d %s\n%s\nwant\n%s", code, stderr, back, body)
	}
	if back, _, _ := qlora(t, "config", "65b-48gb", "--config", file); !strings.HasSuffix(back, "\n"+body) {
		t.Errorf("the file over another preset:\n%s", back)
	}
	if back, _, _ := qlora(t, "config", "--config", file, "--set", "max_steps=7"); !strings.Contains(back, "\nmax_steps: 7\n") {
		t.Errorf("--set over the file:\n%s", back)
	}
	if _, stderr, code := qlora(t, "config"); code != 2 || !strings.Contains(stderr, "qlora config --config run.yaml") {
		t.Errorf("no preset and no file: exit %d, %s", code, stderr)
	}
}
