//go:build cuda || cudaemu

package main

import (
	"errors"
	"fmt"
	"io"
	"os"

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
