package model

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// BasePrecision is how the frozen projections are held during training.
type BasePrecision string

const (
	BaseNF4  BasePrecision = "nf4"  // QLoRA: quantized to NF4, dequantized on the fly
	BaseFull BasePrecision = "full" // at the checkpoint's own precision (plain LoRA)
)

// Options choose how a model is put on a backend.
type Options struct {
	Base        BasePrecision
	Blocksize   int  // NF4 block size when quantizing a 16-bit checkpoint
	DoubleQuant bool // double-quantize the NF4 block scales

	// Adapter configures LoRA; nil trains nothing (evaluation of the base alone).
	Adapter *lora.AdapterConfig
	// Init holds adapter weights to start from; nil initialises them as PEFT does, from Seed.
	Init *lora.Adapter
	Seed uint64

	// GradientCheckpointing keeps only each layer's input and recomputes the rest in the backward pass.
	GradientCheckpointing bool

	// FullTraining makes every weight trainable (embeddings, norms, the seven projections, their
	// biases, lm_head) in one fp32 parameter arena with its gradients (full.go), for pretraining or
	// fully fine-tuning a small model. It needs BaseFull, no Adapter, and a backend that implements
	// backend.FullTrainer (the CPU backend does; the CUDA backend trains LoRA only).
	FullTraining bool
}

// Model is a Llama-family model on a backend: the frozen base, its LoRA adapters with their
// gradients in two flat arenas, and the activations of the last forward pass. In full-parameter
// training the arenas hold every weight instead, and nothing is frozen.
type Model struct {
	Config *Config
	be     backend.Backend
	opt    Options

	embed, norm, lmHead backend.Tensor // (V,C), (C), (V,C); lmHead is embed when tied
	layers              []layer
	invFreq             []float64

	params, grads backend.Tensor // every adapter's A and B, and their gradients, in one layout
	adapters      []*adapter     // in layer, then projection order

	// Full-parameter training (full.go): the arenas above hold every weight instead.
	full                   backend.FullTrainer // nil unless Options.FullTraining
	fullParams             []fullParam         // the weights in the arenas, in WeightShapes order
	dembed, dnorm, dlmHead backend.Tensor      // gradients of embed, norm, lmHead; dlmHead is dembed when tied

	acts *activations // sized for the largest batch seen
}

// New puts the model bound in w on the backend: the projections quantized to NF4 (or loaded as
// they are for BaseFull), the rest at the checkpoint's precision, and the adapters initialised.
func New(be backend.Backend, cfg *Config, w *Weights, opt Options) (*Model, error) {
	m := &Model{Config: cfg, be: be, opt: opt, invFreq: cfg.InvFreq(), layers: make([]layer, cfg.NumLayers)}
	if opt.FullTraining {
		if err := m.loadFull(w); err != nil {
			return nil, err
		}
		return m, nil
	}
	var err error
	if m.embed, err = be.Load(w.Embed); err != nil {
		return nil, err
	}
	if m.norm, err = be.Load(w.Norm); err != nil {
		return nil, err
	}
	m.lmHead = m.embed
	if !cfg.TieWordEmbeddings {
		if m.lmHead, err = be.Load(w.LMHead); err != nil {
			return nil, err
		}
	}
	for i := range m.layers {
		if err := m.loadLayer(i, &w.Layers[i]); err != nil {
			return nil, err
		}
	}
	if opt.Adapter != nil {
		if err := m.addAdapters(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Model) loadLayer(i int, lw *LayerWeights) error {
	l := &m.layers[i]
	l.window = m.Config.WindowForLayer(i)
	var err error
	if l.inputNorm, err = m.be.Load(lw.InputNorm); err != nil {
		return err
	}
	if l.postNorm, err = m.be.Load(lw.PostAttentionNorm); err != nil {
		return err
	}
	for p := range l.proj {
		if l.proj[p], err = m.loadLinear(&lw.Projections[p]); err != nil {
			return err
		}
	}
	return nil
}

// loadLinear puts one frozen projection on the backend in the precision the options ask for.
func (m *Model) loadLinear(pw *Linear) (linear, error) {
	l := linear{out: pw.Shape[0], in: pw.Shape[1]}
	var err error
	if pw.Bias != nil {
		if l.bias, err = m.be.Load(*pw.Bias); err != nil {
			return l, err
		}
	}
	switch {
	case m.opt.Base == BaseFull && pw.Dense == nil:
		return l, fmt.Errorf("%s: the checkpoint is pre-quantized, so its base can only be used in NF4", pw.Name)
	case m.opt.Base == BaseFull:
		l.dense, err = m.be.Load(*pw.Dense)
	case pw.NF4 != nil:
		l.nf4 = m.be.LoadNF4(pw.NF4)
	default:
		var q *nf4.Quantized
		if q, err = quantize(pw, m.opt); err == nil {
			l.nf4 = m.be.LoadNF4(q)
		}
	}
	return l, err
}

// quantize turns a 16-bit projection into NF4 as bitsandbytes would.
func quantize(pw *Linear, opt Options) (*nf4.Quantized, error) {
	w, err := pw.Dense.Float32s()
	if err != nil {
		return nil, err
	}
	blocksize := opt.Blocksize
	if blocksize == 0 {
		blocksize = nf4.DefaultBlocksize
	}
	q, err := nf4.Quantize(w, pw.Shape[:], blocksize, opt.DoubleQuant)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pw.Dense.Name, err)
	}
	return q, nil
}

// Backend is the backend the model lives on.
func (m *Model) Backend() backend.Backend { return m.be }

// Load reads the model folder dir (config.json and its safetensors) and puts it on the backend. The
// backend copies what it keeps, so the files are closed again before Load returns.
func Load(be backend.Backend, dir string, opt Options) (*Model, error) {
	cfg, ckpt, w, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer ckpt.Close()
	return New(be, cfg, w, opt)
}
