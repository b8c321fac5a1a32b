package gguf

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Options are the choices of a model export.
type Options struct {
	// Type is the type of the weight matrices: F16, BF16, Q8_0, or F32 (the zero value). Norms,
	// biases and rope_freqs are F32 whatever it is.
	Type GGMLType
	// Name is general.name; PlanHF uses the model folder's name when it is empty.
	Name string
	// Pre names llama.cpp's pre-tokenizer (tokenizer.ggml.pre) for a byte-level tokenizer whose
	// regex is not GPT-2's, Llama 3's or Qwen2's; empty to have it recognized.
	Pre string
	// Progress, when set, is called after each tensor is written with the tensors done and in all.
	Progress func(done, total int)
}

// Plan is a model ready to be written as GGUF: its metadata, and its tensors, each read, converted
// and encoded only when it is written.
type Plan struct {
	KV       []KV
	Tensors  []TensorSource
	Warnings []string // what llama.cpp will run differently, and tensors written in another type

	progress func(done, total int)
	closer   io.Closer
}

// PlanHF plans the export of the Hugging Face model in dir (config.json, tokenizer.json with
// tokenizer_config.json, safetensors), the folder a merged export writes. Nothing is written: check
// Size against the free disk space, then Write. Close it when done.
func PlanHF(dir string, opt Options) (*Plan, error) {
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = filepath.Base(filepath.Clean(dir))
	}
	p, err := NewPlan(cfg, tok, DirTensors(ckpt), opt)
	if err != nil {
		ckpt.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	p.closer = ckpt
	return p, nil
}

// NewPlan plans the export of a model given as its config, tokenizer and weights (by Hugging Face
// names). It checks that the weights are the ones the config describes.
func NewPlan(cfg *model.Config, tok *tokenizer.Tokenizer, src Tensors, opt Options) (*Plan, error) {
	if err := checkArchitecture(cfg); err != nil {
		return nil, err
	}
	name := opt.Name
	if name == "" {
		name = cfg.Architecture
	}
	kvs, err := modelKVs(cfg, name, opt.Type)
	if err != nil {
		return nil, err
	}
	tokKVs, err := tokenizerKVs(cfg, tok, opt.Pre)
	if err != nil {
		return nil, err
	}
	p := &Plan{KV: append(kvs, tokKVs...), progress: opt.Progress}
	_, hasLMHead := src.Shape("lm_head.weight")
	list := mappings(cfg, !cfg.TieWordEmbeddings || hasLMHead)
	if err := checkTensors(list, src, Arch(cfg)); err != nil {
		return nil, err
	}
	if cfg.RopeScaling != nil {
		p.Tensors = append(p.Tensors, ropeFreqsSource(cfg))
	}
	for _, m := range list {
		t, warning := tensorType(m, opt.Type)
		if warning != "" {
			p.Warnings = append(p.Warnings, warning)
		}
		p.Tensors = append(p.Tensors, source(m, t, src))
	}
	if w := cfg.SlidingWindow; w > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("sliding_window %d: llama.cpp's %s graph attends to the "+
			"whole context, so its output differs beyond %d tokens", w, Arch(cfg), w))
	}
	return p, nil
}

// Size is the exact size in bytes of the file Write writes.
func (p *Plan) Size() (int64, error) { return FileSize(p.KV, p.Tensors) }

// Write writes the GGUF file at path, tensor by tensor, through a temporary file beside it that is
// renamed into place when complete.
func (p *Plan) Write(path string) error { return Write(path, p.KV, p.Tensors, p.progress) }

// Close releases the weights PlanHF opened.
func (p *Plan) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}
