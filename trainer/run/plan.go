package run

import (
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

// PlanRequest is what the memory planner needs of this configuration, for the model mc on a backend
// (plan.CPU or plan.CUDA).
func (c Config) PlanRequest(mc *model.Config, backend string) plan.Request {
	rank := c.LoRAR
	if c.FullTraining {
		rank = 0
	}
	return plan.Request{
		Model:          mc,
		Backend:        backend,
		MicroBatchSize: c.MicroBatchSize,
		SeqLen:         c.MaxSeqLength,
		LoRARank:       rank,
		LoRATargets:    c.LoRATargetModules,
		LoRADropout:    c.LoRADropout > 0,
		Quantized:      c.LoadIn4Bit,
		Blocksize:      c.BnB4bitBlocksize,
		DoubleQuant:    c.BnB4bitUseDoubleQuant,
		Optim:          c.Optim,
		Checkpointing:  c.GradientCheckpointing,
		FullTraining:   c.FullTraining,
	}
}
