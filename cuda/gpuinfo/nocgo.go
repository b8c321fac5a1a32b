//go:build !cgo

package gpuinfo

import "fmt"

// Without cgo there is no go-nvml: every query says so.

var errNoCgo = fmt.Errorf("%w: this qlora was built without cgo, so it cannot ask NVML (build with CGO_ENABLED=1)", ErrNoDriver)

// Query reports the driver and every GPU: here, that it cannot.
func Query() (*Report, error) { return nil, errNoCgo }

// Sampler is NVML on one GPU: never available here.
type Sampler struct{}

// NewSampler fails: there is no NVML without cgo.
func NewSampler(uuid string, pid int) (*Sampler, error) { return nil, errNoCgo }

// Sample reports nothing known.
func (s *Sampler) Sample() Sample { return Sample{DeviceUsed: -1, UtilizationGPU: -1} }

// Close does nothing.
func (s *Sampler) Close() {}
