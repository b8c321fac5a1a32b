//go:build cgo

package gpuinfo

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// start initialises NVML, explaining a failure; the caller shuts it down after a nil error.
func start() error {
	switch r := nvml.Init(); r {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("%w: libnvidia-ml.so.1 is not installed (no NVIDIA GPU driver on this machine)", ErrNoDriver)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("%w: the NVIDIA kernel driver is not loaded (no NVIDIA GPU, or the driver is not running)", ErrNoDriver)
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("%w: no permission to use the NVIDIA driver", ErrNoDriver)
	default:
		return fmt.Errorf("%w: NVML: %v", ErrNoDriver, r)
	}
}

// Query reports the driver and every GPU.
func Query() (*Report, error) {
	if err := start(); err != nil {
		return nil, err
	}
	defer nvml.Shutdown()
	r := &Report{}
	if v, ret := nvml.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		r.Driver = v
	}
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		r.CUDA = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: NVML cannot count the GPUs: %v", ErrNoDriver, ret)
	}
	for i := range n {
		h, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("NVML: GPU %d: %v", i, ret)
		}
		r.Devices = append(r.Devices, describe(i, h))
	}
	return r, nil
}

func describe(i int, h nvml.Device) Device {
	d := Device{Index: i, MemoryTotal: -1, MemoryUsed: -1, MemoryFree: -1, UtilizationGPU: -1, UtilizationMemory: -1,
		TemperatureC: -1, PowerW: -1, PowerLimitW: -1}
	d.Name, _ = h.GetName()
	d.UUID, _ = h.GetUUID()
	if major, minor, ret := h.GetCudaComputeCapability(); ret == nvml.SUCCESS {
		d.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	}
	if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotal, d.MemoryUsed, d.MemoryFree = int64(m.Total), int64(m.Used), int64(m.Free)
	}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		d.UtilizationGPU, d.UtilizationMemory = int(u.Gpu), int(u.Memory)
	}
	if t, ret := h.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		d.TemperatureC = int(t)
	}
	if p, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
		d.PowerW = float64(p) / 1000
	}
	if p, ret := h.GetEnforcedPowerLimit(); ret == nvml.SUCCESS {
		d.PowerLimitW = float64(p) / 1000
	}
	return d
}

// Sampler reads one GPU's figures repeatedly (the CUDA backend's memory and utilisation in the
// step events) with NVML started once.
type Sampler struct {
	h   nvml.Device
	pid uint32
}

// NewSampler starts NVML for the GPU whose UUID is uuid ("GPU-…", as NVML and nvidia-smi write it;
// CUDA's device numbers need not be NVML's) on behalf of process pid; Close ends it.
func NewSampler(uuid string, pid int) (*Sampler, error) {
	if err := start(); err != nil {
		return nil, err
	}
	n, _ := nvml.DeviceGetCount()
	for i := range n {
		h, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if id, _ := h.GetUUID(); id == uuid {
			return &Sampler{h: h, pid: uint32(pid)}, nil
		}
	}
	nvml.Shutdown()
	return nil, fmt.Errorf("NVML has no GPU %s", uuid)
}

func (s *Sampler) Sample() Sample {
	out := Sample{DeviceUsed: -1, UtilizationGPU: -1}
	if m, ret := s.h.GetMemoryInfo(); ret == nvml.SUCCESS {
		out.DeviceUsed = int64(m.Used)
	}
	if u, ret := s.h.GetUtilizationRates(); ret == nvml.SUCCESS {
		out.UtilizationGPU = int(u.Gpu)
	}
	if procs, ret := s.h.GetComputeRunningProcesses(); ret == nvml.SUCCESS {
		for _, p := range procs {
			if p.Pid == s.pid {
				out.ProcessUsed, out.ProcessKnown = int64(p.UsedGpuMemory), true
			}
		}
	}
	return out
}

// Close shuts NVML down.
func (s *Sampler) Close() { nvml.Shutdown() }
