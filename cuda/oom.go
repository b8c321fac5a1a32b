package cuda

import (
	"fmt"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// OutOfMemoryError is a run that does not fit the GPU: the arena cannot be reserved, or an
// allocation does not fit in it. It says what was asked, what the planner expected when the
// backend was given a plan, and what to change. Ops that cannot return an error (New, LoadNF4, the
// first Forward's activations) panic with it; Load returns it, so that a model too large for the
// GPU ends as a failed run with this reason.
type OutOfMemoryError struct {
	Op        string     // what allocated: "New", "Load", "reserve", ...
	Requested int64      // bytes asked for
	Arena     arenaStats // the arena when it failed (Size 0: not reserved)
	Free      int64      // the device's free memory when the arena was reserved (or now)
	Total     int64      // the device's memory
	Plan      *plan.Plan // the run's plan, when the backend was given one
}

// OutOfMemory marks the error for callers that only know the interface.
func (e *OutOfMemoryError) OutOfMemory() bool { return true }

func (e *OutOfMemoryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "out of GPU memory: %s needs %s", e.Op, gib(e.Requested))
	if e.Arena.Size == 0 {
		fmt.Fprintf(&b, ", and the GPU has %s free of %s", gib(e.Free), gib(e.Total))
	} else {
		fmt.Fprintf(&b, ", and the arena of %s holds %s in %d tensors (largest free block %s; the GPU has %s)",
			gib(e.Arena.Size), gib(e.Arena.InUse), e.Arena.Allocations, gib(e.Arena.LargestFree), gib(e.Total))
	}
	if e.Plan != nil {
		fmt.Fprintf(&b, ". The plan for this run: %s in all (", gib(e.Plan.TotalBytes))
		for i, c := range e.Plan.Components {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", c.Name, gib(c.Bytes))
		}
		b.WriteString(")")
		if tensors := tensorBytes(e.Plan); e.Arena.Size > 0 && e.Arena.InUse+e.Requested > tensors+scratchAllowance {
			fmt.Fprintf(&b, "; the backend has now asked for %s more than the plan's tensors (%s): the planner is wrong for this configuration, please report it",
				gib(e.Arena.InUse+e.Requested-tensors), gib(tensors))
		}
	}
	b.WriteString(". To fit: lower micro_batch_size or max_seq_length, turn on gradient_checkpointing, use optim adamw_8bit, " +
		"target fewer lora_target_modules or a lower lora_r, or close what else uses the GPU; " +
		"`qlora plan --model DIR --gpu-memory SIZE` shows what fits.")
	return b.String()
}

// tensorBytes is what the plan expects the arena to hold: every component but the CUDA context
// and the allocator's slack (the tensors, exact to the byte, and the cuBLAS workspace).
func tensorBytes(p *plan.Plan) int64 {
	var n int64
	for _, c := range p.Components {
		if c.Name != "CUDA context" && c.Name != "allocator fragmentation" {
			n += c.Bytes
		}
	}
	return n
}

// arenaBytesFor is the arena a run with plan p reserves: its tensors and the backend's scratch.
func arenaBytesFor(p *plan.Plan) int64 { return tensorBytes(p) + scratchAllowance }

// scratchAllowance is room for the backend's scratch, which the planner does not count: bf16
// copies of the LoRA matrices for cuBLAS, the batch's token ids, positions and segments, the
// partial sums of the gradient norm, flash attention's row dots (a few MiB for the largest models),
// plus alignment.
const scratchAllowance = 64 << 20

func gib(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
