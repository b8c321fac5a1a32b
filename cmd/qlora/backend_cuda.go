//go:build cuda || cudaemu

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/qlora-studio/qlora-studio/cuda"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// This build is qlora-cuda: the same commands, with the GPU backend. It links gorgonia.org/cu,
// which initialises CUDA when the program starts and exits it when no GPU works; qlora hands over
// to it only where NVML has seen a GPU. Built with -tags cudaemu instead, the same backend runs its
// kernels on the CPU through the emulator (cuda/internal/emu): slow, for testing the whole path
// without a GPU.

// chooseBackend picks the compute: cpu trains on the CPU; auto and cuda on the GPU (device 0),
// failing with the reason (compute capability below 8.0, no cuBLAS, ...) rather than falling back
// to a CPU run that would take days.
func chooseBackend(name string) (backend.Backend, error) {
	switch name {
	case "cpu":
		return cpu.New[float32](), nil
	case "auto", "cuda":
		if err := preflight(); err != nil {
			return nil, fmt.Errorf("--backend %s: %w", name, err)
		}
		b, err := cuda.Open(cuda.Options{})
		if err != nil {
			return nil, fmt.Errorf("--backend %s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "qlora-cuda: %s\n", b.Describe())
		return b, nil
	}
	return nil, fmt.Errorf("%w: --backend %q: want auto, cpu or cuda", errUsage, name)
}

func buildKind() string { return "qlora-cuda (CUDA backend)" }

// gpuForCheck is the GPU `qlora gpu --check` runs on.
func gpuForCheck() (backend.Backend, error) { return cuda.Open(cuda.Options{}) }

// preflight runs `qlora-cuda gpu --check` (gpucheck.go) before this process touches the GPU, and
// fails when the GPU does not compute the CPU's training step. It runs as a child process so that
// the check's memory is gone before a run sizes the arena from its plan (cuda.ReservePlan comes
// before the first tensor).
func preflight() error {
	if os.Getenv(skipGPUCheck) == "1" {
		fmt.Fprintf(os.Stderr, "qlora-cuda: GPU parity check skipped (%s=1)\n", skipGPUCheck)
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this executable to run the GPU parity check: %w", err)
	}
	out, err := exec.Command(self, "gpu", "--check").CombinedOutput()
	report := strings.TrimSpace(string(out))
	if err != nil {
		return fmt.Errorf("the GPU parity check (qlora gpu --check) did not pass (%v):\n%s\n"+
			"Train on the CPU (--backend cpu), or set %s=1 to use the GPU without the check", err, report, skipGPUCheck)
	}
	fmt.Fprintf(os.Stderr, "qlora-cuda: %s\n", report)
	return nil
}

// The backend cannot return an error from New or from the activations a first Forward allocates,
// so an allocation that does not fit panics with a *cuda.OutOfMemoryError. The commands that train
// turn it back into an error here, so it ends the command with the planner's figures and what to
// change, not with a stack trace. (A Load that does not fit is already an error, and a failed run.)
func init() {
	for _, name := range []string{"train", "resume", "bench"} {
		c, ok := commands[name]
		if !ok {
			continue
		}
		c.run = outOfMemoryAsError(c.run)
		commands[name] = c
	}
}

func outOfMemoryAsError(run func([]string, io.Writer, io.Writer) error) func([]string, io.Writer, io.Writer) error {
	return func(args []string, stdout, stderr io.Writer) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			var oom *cuda.OutOfMemoryError
			if e, ok := r.(error); ok && errors.As(e, &oom) {
				err = oom
				return
			}
			panic(r)
		}()
		return run(args, stdout, stderr)
	}
}
