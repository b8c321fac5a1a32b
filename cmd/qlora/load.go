package main

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// loadForInference puts a model (and, when adapterDir is set, its PEFT adapter) on the float32 CPU
// backend, with the base in NF4 or at full precision, for eval and generate.
func loadForInference(modelDir, adapterDir, base string) (*model.Model, error) {
	if base != string(model.BaseNF4) && base != string(model.BaseFull) {
		return nil, fmt.Errorf("%w: --base-precision %q: want nf4 or full", errUsage, base)
	}
	opt := model.Options{Base: model.BasePrecision(base), Blocksize: 64, DoubleQuant: true}
	if adapterDir != "" {
		ad, err := lora.Load(adapterDir)
		if err != nil {
			return nil, err
		}
		opt.Adapter, opt.Init = ad.Config, ad
	}
	return model.Load(cpu.New[float32](), modelDir, opt)
}
