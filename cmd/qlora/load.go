package main

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// parseBase reads --base-precision.
func parseBase(s string) (model.BasePrecision, error) {
	if s != string(model.BaseNF4) && s != string(model.BaseFull) {
		return "", fmt.Errorf("%w: --base-precision %q: want nf4 or full", errUsage, s)
	}
	return model.BasePrecision(s), nil
}

// loadForInference puts a model (and, when adapterDir is set, its PEFT adapter) on the float32 CPU
// backend, with the base in NF4 or at full precision, for eval and generate.
func loadForInference(modelDir, adapterDir string, base model.BasePrecision) (*model.Model, error) {
	opt := model.Options{Base: base, Blocksize: 64, DoubleQuant: true}
	if adapterDir != "" {
		ad, err := lora.Load(adapterDir)
		if err != nil {
			return nil, err
		}
		opt.Adapter, opt.Init = ad.Config, ad
	}
	return model.Load(cpu.New[float32](), modelDir, opt)
}
