//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"sort"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// StartProfile starts timing every launch and GEMM on the device, each by its own pair of events,
// until StopProfile. It costs a few microseconds a launch: time a step without it.
func (b *Backend) StartProfile() { b.dev.do(b.dev.drv.startProfile) }

// StopProfile waits for the profiled work and returns the time of each kernel and GEMM shape,
// the longest first.
func (b *Backend) StopProfile() []backend.KernelTime {
	var spans []timedSpan
	b.dev.do(func() { spans = b.dev.drv.stopProfile() })
	return summarize(spans)
}

// timedSpan is one profiled launch: what ran, and how long the device took.
type timedSpan struct {
	name    string
	seconds float64
}

// gemmName names a GEMM by its row-major shape, (rows × cols) · inner, so that each projection's
// products show apart.
func gemmName(g *gemmCall) string { return fmt.Sprintf("gemm %d×%d·%d", g.n, g.m, g.k) }

// summarize adds the spans up by name, the longest total first.
func summarize(spans []timedSpan) []backend.KernelTime {
	index := map[string]int{}
	var out []backend.KernelTime
	for _, s := range spans {
		i, ok := index[s.name]
		if !ok {
			i = len(out)
			index[s.name] = i
			out = append(out, backend.KernelTime{Name: s.name})
		}
		out[i].Calls++
		out[i].Seconds += s.seconds
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	return out
}
