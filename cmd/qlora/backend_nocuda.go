//go:build !cuda && !cudaemu

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// This build (qlora) has the CPU backend only; qlora-cuda, built with -tags cuda, has the GPU's.
// gorgonia.org/cu starts CUDA when it loads and exits the process where no GPU works, so only
// qlora-cuda links it, and qlora hands a GPU run over to it.

// The handover's seams, replaced in tests: whether there is a GPU, and exec.
var (
	gpuPresent = gpuinfo.Present
	execve     = syscall.Exec
)

// handedOver is set in the environment of the qlora-cuda this process execs, so that a program
// there that is not a CUDA build cannot hand over again in a loop.
const handedOver = "QLORA_HANDED_OVER"

// cudaBinary is the name of the CUDA build, looked for beside this executable.
const cudaBinary = "qlora-cuda"

// chooseBackend picks the compute: cpu trains on the CPU. auto and cuda ask NVML whether there is
// an NVIDIA GPU; when there is and qlora-cuda sits beside this executable, the process becomes
// qlora-cuda (exec, same arguments), so chooseBackend does not return; when there is a GPU but no
// qlora-cuda, it says how to build it. Without a GPU, auto trains on the CPU and cuda fails saying
// why.
func chooseBackend(name string) (backend.Backend, error) {
	switch name {
	case "cpu":
		return cpu.New[float32](), nil
	case "auto", "cuda":
	default:
		return nil, fmt.Errorf("%w: --backend %q: want auto, cpu or cuda", errUsage, name)
	}
	if ok, why := gpuPresent(); !ok {
		if name == "auto" {
			return cpu.New[float32](), nil
		}
		return nil, fmt.Errorf("--backend cuda: %v", why)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--backend %s: finding this executable to look for %s beside it: %w", name, cudaBinary, err)
	}
	target := filepath.Join(filepath.Dir(self), cudaBinary)
	if os.Getenv(handedOver) != "" {
		return nil, fmt.Errorf("--backend %s: %s did not take over: it is not a CUDA build (make cuda)", name, target)
	}
	if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("--backend %s: there is an NVIDIA GPU, but no %s beside %s to train on it: build it with `make cuda` "+
			"(it needs Debian's nvidia-cuda-dev), or train on the CPU with --backend cpu", name, cudaBinary, self)
	}
	fmt.Fprintf(os.Stderr, "qlora: an NVIDIA GPU is here: handing over to %s\n", target)
	argv := append([]string{target}, os.Args[1:]...)
	err = execve(target, argv, append(os.Environ(), handedOver+"=1"))
	return nil, fmt.Errorf("--backend %s: starting %s: %w", name, target, err)
}

// gpuForCheck hands `qlora gpu --check` over to qlora-cuda where there is a GPU (chooseBackend
// does not return then), and otherwise says why there is nothing to check.
func gpuForCheck() (backend.Backend, error) {
	if ok, why := gpuPresent(); !ok {
		return nil, fmt.Errorf("no GPU to check: %v", why)
	}
	return chooseBackend("cuda")
}

// buildKind names this build for `qlora gpu`.
func buildKind() string {
	self, err := os.Executable()
	if err != nil {
		return "qlora (CPU backend)"
	}
	target := filepath.Join(filepath.Dir(self), cudaBinary)
	if _, err := os.Stat(target); err == nil {
		return fmt.Sprintf("qlora (CPU backend); GPU runs hand over to %s", target)
	}
	return fmt.Sprintf("qlora (CPU backend); no %s beside it: `make cuda` builds it", cudaBinary)
}
