package optim

import (
	"fmt"
	"math"
)

// The schedule types, as the run configuration's lr_scheduler_type names them.
const (
	Constant = "constant"
	Linear   = "linear"
	Cosine   = "cosine"
)

// Schedule is a learning rate per update: BaseLR times transformers' factor for the type, with
// a linear warmup from 0 over the first Warmup updates in every type. Updates count from 0, as
// in transformers' LambdaLR schedulers: the first update uses LR(0), which is 0 when there is
// a warmup.
//
// "constant" is get_constant_schedule_with_warmup: transformers' own "constant" ignores the
// warmup, so a recipe that sets lr_scheduler_type constant and a warmup (QLoRA's) gets a warmup
// here and none there; "constant_with_warmup" is accepted as the same schedule.
type Schedule struct {
	Type          string
	BaseLR        float64
	Warmup, Total int
}

// NewSchedule checks its arguments and returns the schedule.
func NewSchedule(typ string, baseLR float64, warmup, total int) (Schedule, error) {
	switch typ {
	case Constant, Linear, Cosine:
	case "constant_with_warmup":
		typ = Constant
	default:
		return Schedule{}, fmt.Errorf("optim: unknown lr_scheduler_type %q (want %s, %s or %s)", typ, Constant, Linear, Cosine)
	}
	if !(baseLR >= 0 && baseLR < math.Inf(1)) {
		return Schedule{}, fmt.Errorf("optim: learning_rate = %v, want a finite value ≥ 0", baseLR)
	}
	if warmup < 0 || total < 0 {
		return Schedule{}, fmt.Errorf("optim: %d warmup steps of %d, want counts ≥ 0", warmup, total)
	}
	return Schedule{Type: typ, BaseLR: baseLR, Warmup: warmup, Total: total}, nil
}

// LR is the learning rate of update step (from 0): BaseLR · factor(step), with the factor of
// transformers' _get_{constant,linear,cosine}_schedule_with_warmup_lr_lambda (cosine with
// num_cycles 0.5), in the same float64 operations. Past Total, linear stays at 0 and cosine
// rises again, as in transformers.
func (s Schedule) LR(step int) float64 {
	return s.BaseLR * s.factor(step)
}

func (s Schedule) factor(step int) float64 {
	if step < s.Warmup {
		return float64(step) / float64(max(1, s.Warmup))
	}
	switch s.Type {
	case Linear:
		return math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	case Cosine:
		const numCycles = 0.5
		progress := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		return math.Max(0, 0.5*(1+cosRN(math.Pi*numCycles*2*progress)))
	}
	return 1
}

// WarmupSteps is transformers' TrainingArguments.get_warmup_steps: warmupSteps when it is
// positive, else ceil(total · warmupRatio).
func WarmupSteps(total, warmupSteps int, warmupRatio float64) int {
	if warmupSteps > 0 {
		return warmupSteps
	}
	return int(math.Ceil(float64(total) * warmupRatio))
}
