package backend

// KernelTime is the device time one kind of work took over a profiled span: a kernel by name, or
// a library call such as a GEMM by its shape. A backend that can profile (the CUDA backend, timed
// with CUDA events) reports these; the caller declares the interface it needs.
type KernelTime struct {
	Name    string  `json:"name"`
	Calls   int     `json:"calls"`
	Seconds float64 `json:"s"`
}
