package model

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Weights are a checkpoint's tensors bound to the model's parts by their Hugging Face names. The
// tensors are views into the memory-mapped files: binding reads no weight data, except the small
// quantization state of a pre-quantized checkpoint.
type Weights struct {
	Embed  safetensors.Tensor // model.embed_tokens.weight (V,H)
	Norm   safetensors.Tensor // model.norm.weight (H)
	LMHead safetensors.Tensor // lm_head.weight (V,H); the embeddings themselves when tied
	Layers []LayerWeights
}

// LayerWeights are one decoder layer's tensors.
type LayerWeights struct {
	InputNorm         safetensors.Tensor // input_layernorm.weight (H)
	PostAttentionNorm safetensors.Tensor // post_attention_layernorm.weight (H)
	Projections       [NumProjections]Linear
}

// Linear is one projection: a 16/32-bit weight, or the NF4 weight of a pre-quantized checkpoint.
type Linear struct {
	Name  string              // full HF prefix, e.g. "model.layers.0.self_attn.q_proj"
	Shape [2]int              // (out, in)
	Dense *safetensors.Tensor // the floating-point weight; nil when NF4 is set
	NF4   *nf4.Quantized      // the bitsandbytes 4-bit weight of a pre-quantized checkpoint
	Bias  *safetensors.Tensor // (out), when the architecture has one
}

// Checkpoint is what binding reads: a folder of safetensors files, addressed by tensor name.
type Checkpoint interface {
	Info(name string) (safetensors.Info, bool)
	Tensor(name string) (safetensors.Tensor, error)
}

// BindWeights binds every tensor the config's model needs, checking dtypes and shapes. A missing or
// mis-shaped tensor is an error that names it; tensors the model does not use are ignored.
func BindWeights(c *Config, ckpt Checkpoint) (*Weights, error) {
	h, v := c.HiddenSize, c.VocabSize
	w := &Weights{Layers: make([]LayerWeights, c.NumLayers)}
	b := binder{ckpt: ckpt}
	b.float(&w.Embed, "model.embed_tokens.weight", v, h)
	b.float(&w.Norm, "model.norm.weight", h)
	if c.TieWordEmbeddings {
		w.LMHead = w.Embed
	} else {
		b.float(&w.LMHead, "lm_head.weight", v, h)
	}
	for i := range w.Layers {
		l := &w.Layers[i]
		prefix := fmt.Sprintf("model.layers.%d.", i)
		b.float(&l.InputNorm, prefix+"input_layernorm.weight", h)
		b.float(&l.PostAttentionNorm, prefix+"post_attention_layernorm.weight", h)
		for p, proj := range c.ProjectionShapes() {
			l.Projections[p] = b.linear(prefix+proj.Name, proj)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	return w, nil
}

// binder binds tensors one after another and keeps the first error, so the table in BindWeights
// reads as a list of names.
type binder struct {
	ckpt Checkpoint
	err  error
}

func (b *binder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

// float binds a floating-point tensor of exactly the given shape.
func (b *binder) float(dst *safetensors.Tensor, name string, shape ...int) {
	if b.err != nil {
		return
	}
	t, err := b.ckpt.Tensor(name)
	if err != nil {
		b.fail("%v: the model needs it", err)
		return
	}
	if t.DType != safetensors.BF16 && t.DType != safetensors.F16 && t.DType != safetensors.F32 {
		b.fail("%s: tensor %q: dtype %s, want BF16, F16 or F32", t.File, name, t.DType)
		return
	}
	if !sameShape(t.Shape, shape) {
		b.fail("%s: tensor %q: shape %v, want %v", t.File, name, t.Shape, shape)
		return
	}
	*dst = t
}

// linear binds a projection stored either as a floating-point weight or in the bitsandbytes 4-bit
// layout, and its bias when the architecture has one.
func (b *binder) linear(prefix string, p Projection) Linear {
	l := Linear{Name: prefix, Shape: p.Shape}
	if nf4.Stored(b.ckpt, prefix) {
		q, _, err := nf4.Read(b.ckpt, prefix)
		switch {
		case err != nil:
			b.fail("%v", err)
		case len(q.Shape) != 2 || q.Shape[0] != p.Shape[0] || q.Shape[1] != p.Shape[1]:
			b.fail("tensor %q: quantized shape %v, want %v", prefix+".weight", q.Shape, p.Shape)
		}
		l.NF4 = q
	} else {
		l.Dense = &safetensors.Tensor{}
		b.float(l.Dense, prefix+".weight", p.Shape[0], p.Shape[1])
	}
	if p.Bias {
		l.Bias = &safetensors.Tensor{}
		b.float(l.Bias, prefix+".bias", p.Shape[0])
	}
	return l
}

func sameShape(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
