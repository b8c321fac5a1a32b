package model

import "github.com/qlora-studio/qlora-studio/trainer/safetensors"

// Open reads dir's config.json, opens its safetensors and binds every tensor the model needs. The
// weights are views into the files: the caller closes the Dir when done with them.
func Open(dir string) (*Config, *safetensors.Dir, *Weights, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := BindWeights(cfg, ckpt)
	if err != nil {
		ckpt.Close()
		return nil, nil, nil, err
	}
	return cfg, ckpt, w, nil
}
