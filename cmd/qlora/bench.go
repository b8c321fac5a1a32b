package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[--backend cpu|cuda] [--shape NAME] [--seq N] [--steps N] [--profile] [--json]", stderr)
	backendName := fs.String("backend", "auto", "auto, cpu or cuda")
	shape := fs.String("shape", "cpu-small", "model shape: "+strings.Join(run.BenchShapeNames(), ", "))
	seq := fs.Int("seq", 256, "tokens per step")
	steps := fs.Int("steps", 3, "measured steps, after one warm-up step")
	profile := fs.Bool("profile", false, "time one more step kernel by kernel (CUDA events; the cuda backend)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *seq < 2 || *steps < 1 {
		return fmt.Errorf("%w: --seq %d --steps %d", errUsage, *seq, *steps)
	}
	be, err := chooseBackend(*backendName)
	if err != nil {
		return err
	}
	kind := plan.CPU
	if strings.HasPrefix(be.Name(), "cuda") {
		kind = plan.CUDA
	}
	fmt.Fprintf(stderr, "bench: %s on %s, %d tokens, %d steps after a warm-up\n", *shape, be.Name(), *seq, *steps)
	r, err := run.Bench(be, kind, run.BenchSpec{Shape: *shape, SeqLen: *seq, Steps: *steps, Profile: *profile})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	if *profile {
		printKernels(stdout, r)
	}
	fmt.Fprintf(stdout, "%s (%s parameters) on %s: %.3f s/step, %.0f tokens/s, peak %s", r.Shape, humanCount(r.Parameters),
		r.Backend, r.StepSeconds, r.TokensPerS, gib(r.PeakBytes))
	if r.AllocatedBytes > 0 {
		fmt.Fprintf(stdout, ", backend allocated %s", gib(r.AllocatedBytes))
	}
	fmt.Fprintf(stdout, ", planned %s\n", gib(r.PlannedBytes))
	return nil
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}

// printKernels is the profiled step's table: each kernel and GEMM shape with its calls, total time
// and share of the step's wall time, then the device's total and the rest (the host's share).
func printKernels(w io.Writer, r run.BenchResult) {
	wall := r.ProfiledStepSeconds
	var device float64
	fmt.Fprintf(w, "%-40s %7s %10s %6s\n", "kernel", "calls", "ms", "share")
	for _, k := range r.Kernels {
		device += k.Seconds
		fmt.Fprintf(w, "%-40s %7d %10.3f %5.1f%%\n", k.Name, k.Calls, k.Seconds*1e3, 100*k.Seconds/wall)
	}
	fmt.Fprintf(w, "%-40s %7s %10.3f %5.1f%%\n", "device total", "", device*1e3, 100*device/wall)
	fmt.Fprintf(w, "%-40s %7s %10.3f %5.1f%%\n", "step wall time (profiled)", "", wall*1e3, 100.0)
}
