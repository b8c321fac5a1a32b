package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/qlora-studio/qlora-studio/ui"
)

// EngineEnv names the engine explicitly: the path of a `qlora` (or `qlora-cuda`) binary.
const EngineEnv = "QLORA_ENGINE"

// engineName is the engine's file name beside the app and on PATH.
const engineName = "qlora"

// Engine is the `qlora` binary that runs training as a child process.
type Engine struct {
	Path string
	// NoLibrary is whether this engine knows --no-library (it does not open the library; the app
	// owns it and records the run's events itself).
	NoLibrary bool
}

// ErrNoEngine means no `qlora` could be found.
var ErrNoEngine = errors.New("the qlora engine was not found")

// FindEngine finds the engine: $QLORA_ENGINE, then `qlora` beside the app's executable, then
// `qlora` on PATH. The error says where it looked and how to get one.
func FindEngine() (Engine, error) {
	exe, _ := os.Executable()
	path, err := findEngine(os.Getenv(EngineEnv), exe, exec.LookPath)
	if err != nil {
		return Engine{}, err
	}
	return Engine{Path: path, NoLibrary: knowsFlag(path, "train", "no-library")}, nil
}

// findEngine applies the search order to what the environment gives.
func findEngine(env, exe string, lookPath func(string) (string, error)) (string, error) {
	if env != "" {
		if err := isExecutable(env); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNoEngine, EngineEnv, env, err)
		}
		return filepath.Abs(env)
	}
	var beside string
	if exe != "" {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		beside = filepath.Join(filepath.Dir(exe), engineName)
		if isExecutable(beside) == nil {
			return beside, nil
		}
	}
	if p, err := lookPath(engineName); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("%w: not in %s, not at %s, not on PATH; build it with `make build` (it goes in bin/ beside qlora-studio) or set %s to its path",
		ErrNoEngine, EngineEnv, beside, EngineEnv)
}

func isExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// knowsFlag says whether `engine command -h` lists the flag: the app passes flags that newer
// engines added only to the engines that know them.
func knowsFlag(engine, command, flag string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, engine, command, "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-"+flag+" ")) || bytes.Contains(out, []byte("-"+flag+"\n"))
}

// CheckGPU runs the engine's GPU parity check (`qlora gpu --check --json`, which qlora hands to
// qlora-cuda) and reads its verdict. A check that ran and failed is a verdict, not an error; the
// error is for a check that could not run (no GPU, no qlora-cuda), with the engine's words.
func (e Engine) CheckGPU() (ui.GPUCheck, error) {
	var out bytes.Buffer
	err := e.run(context.Background(), engineCommand{args: []string{"gpu", "--check", "--json"},
		stdout: func(line string) { out.WriteString(line) }})
	var rep struct {
		Passed  bool    `json:"passed"`
		Seconds float64 `json:"seconds"`
		Figures string  `json:"figures"`
		Error   string  `json:"error"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		if err != nil {
			return ui.GPUCheck{}, err
		}
		return ui.GPUCheck{}, fmt.Errorf("reading the GPU check's verdict: %w", jerr)
	}
	return ui.GPUCheck{Passed: rep.Passed, Seconds: rep.Seconds, Figures: rep.Figures, Problem: rep.Error}, nil
}
