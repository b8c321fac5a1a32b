package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/ui"
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

// TestCheckGPU_NoGPU ensures the real engine's check, on a machine without a GPU, is an error that
// says there is no GPU to check, not a verdict.
func TestCheckGPU_NoGPU(t *testing.T) {
	if ok, _ := gpuinfo.Present(); ok {
		t.Skip("this machine has an NVIDIA GPU")
	}
	c, err := Engine{Path: engineBin}.CheckGPU()
	if err == nil || !strings.Contains(err.Error(), "no GPU to check") {
		t.Errorf("CheckGPU without a GPU: %+v, %v", c, err)
	}
}

// TestCheckGPU_Verdicts ensures a check that ran is a verdict, passed or failed (qlora-cuda exits 1
// with the verdict on stdout), with its figures and what differs. The engine is a script printing
// what `qlora gpu --check --json` prints (TestGPUCheck_CUDAEmu runs the real one, on the emulator).
func TestCheckGPU_Verdicts(t *testing.T) {
	for _, c := range []struct {
		json string
		exit int
		want ui.GPUCheck
	}{
		{`{"passed": true, "seconds": 0.8, "loss": 6.09, "figures": "loss 6.093241 (CPU 6.091299)"}`, 0,
			ui.GPUCheck{Passed: true, Seconds: 0.8, Figures: "loss 6.093241 (CPU 6.091299)"}},
		{`{"passed": false, "seconds": 0.9, "figures": "loss 6.2", "error": "layer 0 self_attn.q_proj dA: off"}`, 1,
			ui.GPUCheck{Seconds: 0.9, Figures: "loss 6.2", Problem: "layer 0 self_attn.q_proj dA: off"}},
	} {
		path := filepath.Join(t.TempDir(), engineName)
		script := fmt.Sprintf("#!/bin/sh\n[ \"$*\" = 'gpu --check --json' ] || exit 2\necho '%s'\nexit %d\n", c.json, c.exit)
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := Engine{Path: path}.CheckGPU()
		if err != nil || got != c.want {
			t.Errorf("CheckGPU = %+v, %v; want %+v", got, err, c.want)
		}
	}
}
