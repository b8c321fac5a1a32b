package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
)

// `qlora gpu` works in every build: NVML (cuda/gpuinfo) is loaded at run time, so a machine
// without an NVIDIA driver gets a sentence, not a crash. `qlora gpu --check` is in gpucheck.go. (qlora-cuda itself cannot start without a
// working GPU: gorgonia.org/cu exits it first.)

func init() {
	commands["gpu"] = command{"the NVIDIA GPUs: memory, utilisation, temperature, power, driver and CUDA versions", runGPU}
}

// gpuReport is `qlora gpu --json`: gpuinfo's report, the build, and the reason when there is no
// GPU to report.
type gpuReport struct {
	*gpuinfo.Report
	Build string `json:"build"`
	Error string `json:"error,omitempty"`
}

// runGPU prints the GPUs; without a driver or a GPU it says so and exits 1, as nvidia-smi does.
func runGPU(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gpu", "[--check] [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	check := fs.Bool("check", false, "train one step of a tiny model on the GPU and on the CPU, and compare (gpucheck.go)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *check {
		return runGPUCheck(*asJSON, stdout)
	}
	r, err := gpuinfo.Query()
	if err == nil && len(r.Devices) == 0 {
		err = fmt.Errorf("%w: the driver (%s) sees no GPU", gpuinfo.ErrNoDriver, r.Driver)
	}
	out := gpuReport{Report: r, Build: buildKind()}
	if out.Report == nil {
		out.Report = &gpuinfo.Report{Devices: []gpuinfo.Device{}}
	}
	if err != nil {
		out.Error = err.Error()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(out); jerr != nil {
			return jerr
		}
	} else {
		printGPUs(stdout, out, err)
	}
	if err != nil {
		return exitCode(1)
	}
	return nil
}

func printGPUs(w io.Writer, r gpuReport, err error) {
	if err != nil {
		fmt.Fprintf(w, "%v\nqlora trains on the CPU here (--backend auto or cpu).\n", err)
		fmt.Fprintf(w, "build: %s\n", r.Build)
		return
	}
	fmt.Fprintf(w, "NVIDIA driver %s, CUDA %s\n", r.Driver, r.CUDA)
	for _, d := range r.Devices {
		fmt.Fprintf(w, "GPU %d: %s (compute capability %s)\n", d.Index, d.Name, d.ComputeCapability)
		if d.MemoryTotal >= 0 {
			fmt.Fprintf(w, "  memory       %s used of %s (%s free)\n", gib(d.MemoryUsed), gib(d.MemoryTotal), gib(d.MemoryFree))
		}
		if d.UtilizationGPU >= 0 {
			fmt.Fprintf(w, "  utilisation  %d%% (memory %d%%)\n", d.UtilizationGPU, d.UtilizationMemory)
		}
		if d.TemperatureC >= 0 {
			fmt.Fprintf(w, "  temperature  %d °C\n", d.TemperatureC)
		}
		if d.PowerW >= 0 {
			fmt.Fprintf(w, "  power        %.0f W of %.0f W\n", d.PowerW, d.PowerLimitW)
		}
	}
	fmt.Fprintf(w, "build: %s\n", r.Build)
}
