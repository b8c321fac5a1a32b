// Package gpuinfo asks the NVIDIA driver, through NVML (github.com/NVIDIA/go-nvml), what GPUs there
// are and how they are doing: memory, utilisation, temperature, power. go-nvml loads
// libnvidia-ml.so.1 when asked, so this package builds and runs everywhere and says clearly when
// there is no driver.
//
// Built without cgo (go-nvml needs it), every query says so instead.
//
// It serves `qlora gpu`, the handover of `qlora --backend auto|cuda` to qlora-cuda, and the CUDA
// backend's memory figures. It must not import gorgonia.org/cu or package cuda: those start CUDA
// when they load, and this package is linked into every build.
package gpuinfo

import (
	"errors"
	"fmt"
)

// Device is one GPU as NVML sees it. Figures NVML cannot give (a field a GPU does not report) are
// negative.
type Device struct {
	Index             int     `json:"index"`
	Name              string  `json:"name"`
	UUID              string  `json:"uuid"`
	ComputeCapability string  `json:"compute_capability"` // "8.6"
	MemoryTotal       int64   `json:"memory_total_bytes"`
	MemoryUsed        int64   `json:"memory_used_bytes"`
	MemoryFree        int64   `json:"memory_free_bytes"`
	UtilizationGPU    int     `json:"utilization_gpu_percent"`
	UtilizationMemory int     `json:"utilization_memory_percent"`
	TemperatureC      int     `json:"temperature_c"`
	PowerW            float64 `json:"power_w"`
	PowerLimitW       float64 `json:"power_limit_w"`
}

// Report is the driver and its GPUs.
type Report struct {
	Driver  string   `json:"driver_version"`
	CUDA    string   `json:"cuda_version"` // the newest CUDA the driver supports, "12.2"
	Devices []Device `json:"devices"`
}

// ErrNoDriver is the cause of every error when there is no usable NVIDIA driver.
var ErrNoDriver = errors.New("no NVIDIA driver")

// Present reports whether there is at least one NVIDIA GPU with a working driver, and when there
// is not, why.
func Present() (bool, error) {
	r, err := Query()
	if err != nil {
		return false, err
	}
	if len(r.Devices) == 0 {
		return false, fmt.Errorf("%w: the driver (%s) sees no GPU", ErrNoDriver, r.Driver)
	}
	return true, nil
}

// Sample is the GPU now: its memory in use by everything, what NVML counts for this process
// (ProcessKnown is false when NVML does not list it: some containers hide processes), and its
// utilisation in percent. Unknown figures are -1.
type Sample struct {
	DeviceUsed     int64
	ProcessUsed    int64
	ProcessKnown   bool
	UtilizationGPU int
}
