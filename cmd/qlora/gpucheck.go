package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/parity"
)

// `qlora gpu --check` trains one step of a tiny model on the GPU and on the CPU and compares them
// (trainer/parity). qlora-cuda runs it as a child process before every GPU run (preflight in
// backend_cuda.go), so that a GPU, driver or kernel that computes another function stops the run
// instead of training the wrong one.

// skipGPUCheck, set to 1, lets a GPU run start without the check.
const skipGPUCheck = "QLORA_SKIP_GPU_CHECK"

// gpuCheckReport is `qlora gpu --check --json`.
type gpuCheckReport struct {
	Passed  bool    `json:"passed"`
	Seconds float64 `json:"seconds"`
	parity.Result
	Figures string `json:"figures"`         // Result in a sentence
	Error   string `json:"error,omitempty"` // what differs, when it did not pass
}

// runGPUCheck runs the check on the GPU (gpuForCheck: this build's, or qlora-cuda's after a
// handover) and prints the figures; a failed check exits 1.
func runGPUCheck(asJSON bool, stdout io.Writer) error {
	be, err := gpuForCheck()
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := parity.Check(be)
	rep := gpuCheckReport{Passed: err == nil, Seconds: time.Since(start).Seconds(), Result: r, Figures: r.String()}
	if err != nil {
		rep.Error = err.Error()
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
	} else if err != nil {
		fmt.Fprintf(stdout, "GPU parity check FAILED: %v\n(%v)\nTraining on this GPU would train another function than the CPU's reference.\n", err, r)
	} else {
		fmt.Fprintf(stdout, "GPU parity check passed in %.1f s: %v\n", rep.Seconds, r)
	}
	if err != nil {
		return exitCode(1)
	}
	return nil
}
