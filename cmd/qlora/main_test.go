package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// qloraBin is the real command, built once for the tests that run it as a child process.
var qloraBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qlora-bin-")
	if err != nil {
		panic(err)
	}
	qloraBin = filepath.Join(dir, "qlora")
	if out, err := exec.Command("go", "build", "-tags", testTags, "-o", qloraBin, ".").CombinedOutput(); err != nil {
		panic("building qlora: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// qlora runs the built qlora with args and returns stdout, stderr and the exit code.
func qlora(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(qloraBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

const tinyModel = "../../testdata/models/tiny-llama"

// TestQuantize_ThenInspect ensures the two commands work end to end as a user runs them: quantize
// with flags after the folder, then inspect the result as text and JSON.
func TestQuantize_ThenInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tiny-nf4")
	stdout, stderr, code := qlora(t, "quantize", tinyModel, "--out", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stderr, "21/21 tensors") {
		t.Fatalf("quantize exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, stderr, code = qlora(t, "inspect", out, "--json")
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr)
	}
	var s struct {
		Architecture string `json:"architecture"`
		Parameters   int64  `json:"parameters"`
		Quantization string `json:"quantization"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Architecture != "llama" || s.Parameters != 125248 || s.Quantization != "bitsandbytes nf4, blocksize 64, double quant" {
		t.Errorf("inspect says %+v", s)
	}
	stdout, _, _ = qlora(t, "inspect", tinyModel)
	if !strings.Contains(stdout, "llama, 2 layers, hidden 64") || !strings.Contains(stdout, "pre-quantized  no") {
		t.Errorf("inspect text:\n%s", stdout)
	}
}

// TestCommands_Errors ensures misuse exits 2 with a usage line and failures exit 1 naming the path.
func TestCommands_Errors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"inspect"}, 2, "qlora inspect MODEL_DIR"},
		{[]string{"quantize", tinyModel}, 2, "--out DIR"},
		{[]string{"inspect", "--bogus", tinyModel}, 2, "flag provided but not defined: -bogus"},
		{[]string{"inspect", "/nonexistent/model"}, 1, "/nonexistent/model"},
		{[]string{"quantize", tinyModel, "--out", tinyModel}, 1, "already exists"},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// TestVersion ensures version prints the program and its Go version.
func TestVersion(t *testing.T) {
	stdout, _, code := qlora(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "qlora "+version+" (go1.") {
		t.Errorf("version: %d %q", code, stdout)
	}
}
