//go:build !cuda && !cudaemu

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stubHandover makes chooseBackend see a GPU (or not) and records the exec it would do.
func stubHandover(t *testing.T, present bool) *[]string {
	t.Helper()
	var exec []string
	oldPresent, oldExec := gpuPresent, execve
	gpuPresent = func() (bool, error) {
		if present {
			return true, nil
		}
		return false, errors.New("no NVIDIA driver: stubbed")
	}
	execve = func(path string, argv, env []string) error {
		exec = append([]string{path}, argv...)
		if !slices.Contains(env, handedOver+"=1") {
			t.Errorf("exec of %s without %s=1 in its environment", path, handedOver)
		}
		return errors.New("stubbed exec")
	}
	t.Cleanup(func() { gpuPresent, execve = oldPresent, oldExec })
	return &exec
}

// TestChooseBackend_NoGPU ensures that without a GPU, auto trains on the CPU, cuda fails saying
// why, and a wrong name is a usage error.
func TestChooseBackend_NoGPU(t *testing.T) {
	stubHandover(t, false)
	for _, name := range []string{"auto", "cpu"} {
		be, err := chooseBackend(name)
		if err != nil || !strings.HasPrefix(be.Name(), "cpu") {
			t.Errorf("chooseBackend(%q) = %v, %v; want the CPU backend", name, be, err)
		}
	}
	if _, err := chooseBackend("cuda"); err == nil || !strings.Contains(err.Error(), "NVIDIA") {
		t.Errorf("chooseBackend(cuda) without a GPU: %v, want the reason", err)
	}
	if _, err := chooseBackend("tpu"); !errors.Is(err, errUsage) {
		t.Errorf("chooseBackend(tpu): %v, want a usage error", err)
	}
}

// TestChooseBackend_GPUWithoutQloraCUDA ensures that with a GPU but no qlora-cuda beside the
// executable (the test binary's folder has none), auto and cuda say how to build it, and nothing is
// executed.
func TestChooseBackend_GPUWithoutQloraCUDA(t *testing.T) {
	exec := stubHandover(t, true)
	self, _ := os.Executable()
	if _, err := os.Stat(filepath.Join(filepath.Dir(self), cudaBinary)); err == nil {
		t.Skip("a qlora-cuda lies beside the test binary")
	}
	for _, name := range []string{"auto", "cuda"} {
		if _, err := chooseBackend(name); err == nil || !strings.Contains(err.Error(), "make cuda") {
			t.Errorf("chooseBackend(%q): %v, want how to build qlora-cuda", name, err)
		}
	}
	if *exec != nil {
		t.Errorf("executed %v", *exec)
	}
	if be, err := chooseBackend("cpu"); err != nil || !strings.HasPrefix(be.Name(), "cpu") {
		t.Errorf("chooseBackend(cpu) with a GPU: %v, %v", be, err)
	}
}

// TestChooseBackend_HandsOver ensures that with a GPU and qlora-cuda beside the executable, the
// process is replaced by qlora-cuda with the same arguments.
func TestChooseBackend_HandsOver(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	target := filepath.Join(filepath.Dir(self), cudaBinary)
	if _, err := os.Stat(target); err == nil {
		t.Skip("a qlora-cuda already lies beside the test binary")
	}
	if err := os.WriteFile(target, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Skipf("cannot write beside the test binary: %v", err)
	}
	t.Cleanup(func() { os.Remove(target) })
	exec := stubHandover(t, true)
	_, err = chooseBackend("auto")
	if err == nil || !strings.Contains(err.Error(), "stubbed exec") {
		t.Fatalf("chooseBackend(auto): %v, want the exec's error", err)
	}
	want := append([]string{target, target}, os.Args[1:]...)
	if !slices.Equal(*exec, want) {
		t.Errorf("exec %q, want %q", *exec, want)
	}
	t.Setenv(handedOver, "1")
	if _, err := chooseBackend("cuda"); err == nil || !strings.Contains(err.Error(), "not a CUDA build") {
		t.Errorf("chooseBackend(cuda) after a handover: %v, want a refusal to loop", err)
	}
}

// TestGPUCheck_NoGPU ensures `qlora gpu --check` without a GPU says there is none to check.
func TestGPUCheck_NoGPU(t *testing.T) {
	stubHandover(t, false)
	var stdout, stderr strings.Builder
	if err := runGPU([]string{"--check"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "no GPU to check") {
		t.Errorf("gpu --check without a GPU: %v", err)
	}
}
