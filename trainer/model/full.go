package model

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Full-parameter training (Options.FullTraining): every weight of the model lives in one fp32
// parameter arena, with a gradient arena of the same layout, so the optimizer, clipping and
// checkpoints treat them as they treat LoRA's A and B. The forward pass reads views of the arena
// where it otherwise reads frozen tensors; the backward pass adds the weights' gradients on the
// way down (see linear.backward, layer.backward, Model.Backward). It is meant for small models
// (pretraining one from scratch, or fully fine-tuning it): parameters, gradients and two AdamW
// moments cost 16 bytes per weight.

// WeightShape is one weight of the model, as Hugging Face names and stores it.
type WeightShape struct {
	Name  string
	Shape []int
}

// Len is the number of elements.
func (w WeightShape) Len() int {
	n := 1
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// WeightShapes lists every weight of the model in the order transformers stores them, which is
// the order of full-parameter training's arena: the embeddings; per layer the input norm, q/k/v
// (each with its bias when there is one), o, the post-attention norm, gate, up and down; the
// final norm; lm_head unless tied. The memory planner counts the same list.
func (c *Config) WeightShapes() []WeightShape {
	h, v := c.HiddenSize, c.VocabSize
	out := []WeightShape{{"model.embed_tokens.weight", []int{v, h}}}
	for l := 0; l < c.NumLayers; l++ {
		prefix := fmt.Sprintf("model.layers.%d.", l)
		out = append(out, WeightShape{prefix + "input_layernorm.weight", []int{h}})
		for p, proj := range c.ProjectionShapes() {
			if p == projGate {
				out = append(out, WeightShape{prefix + "post_attention_layernorm.weight", []int{h}})
			}
			out = append(out, WeightShape{prefix + proj.Name + ".weight", []int{proj.Shape[0], proj.Shape[1]}})
			if proj.Bias {
				out = append(out, WeightShape{prefix + proj.Name + ".bias", []int{proj.Shape[0]}})
			}
		}
	}
	out = append(out, WeightShape{"model.norm.weight", []int{h}})
	if !c.TieWordEmbeddings {
		out = append(out, WeightShape{"lm_head.weight", []int{v, h}})
	}
	return out
}

// fullParam is one weight in the parameter arena.
type fullParam struct {
	WeightShape
	offset int
}

// fullSlot is where the model keeps the views of one weight and of its gradient, and where the
// checkpoint holds it.
type fullSlot struct {
	w, dw *backend.Tensor
	src   *safetensors.Tensor // nil for a projection the checkpoint stores in NF4
}

// checkFullOptions refuses the options full-parameter training cannot run with.
func (m *Model) checkFullOptions() error {
	switch {
	case m.opt.Base != BaseFull:
		return fmt.Errorf("full-parameter training needs the base at full precision, not %s", m.opt.Base)
	case m.opt.Adapter != nil:
		return fmt.Errorf("full-parameter training trains every weight: it takes no LoRA adapter")
	}
	full, ok := m.be.(backend.FullTrainer)
	if !ok {
		return fmt.Errorf("full-parameter training needs a backend with the full-training ops (backend.FullTrainer); %s trains LoRA only", m.be.Name())
	}
	m.full = full
	return nil
}

// loadFull lays out every weight in the parameter and gradient arenas, points the model's tensors
// at their views, and uploads the checkpoint's values.
func (m *Model) loadFull(w *Weights) error {
	if err := m.checkFullOptions(); err != nil {
		return err
	}
	for i := range m.layers {
		m.layers[i].window = m.Config.WindowForLayer(i)
		for p, proj := range m.Config.ProjectionShapes() {
			m.layers[i].proj[p] = linear{out: proj.Shape[0], in: proj.Shape[1]}
		}
	}
	size := 0
	for _, ws := range m.Config.WeightShapes() {
		m.fullParams = append(m.fullParams, fullParam{ws, size})
		size += ws.Len()
	}
	m.params, m.grads = m.be.NewFP32(size), m.be.NewFP32(size)
	slots := m.fullSlots(w)
	for _, fp := range m.fullParams {
		s, ok := slots[fp.Name]
		if !ok {
			panic("model: no slot for " + fp.Name) // WeightShapes and fullSlots disagree
		}
		*s.w, *s.dw = m.be.View(m.params, fp.offset, fp.Len()), m.be.View(m.grads, fp.offset, fp.Len())
	}
	if m.Config.TieWordEmbeddings {
		m.lmHead, m.dlmHead = m.embed, m.dembed // one tensor: both gradients add into it
	}
	return m.SetWeights(w)
}

// fullSlots maps every weight's name to its place in the model and in the checkpoint.
func (m *Model) fullSlots(w *Weights) map[string]fullSlot {
	slots := map[string]fullSlot{
		"model.embed_tokens.weight": {&m.embed, &m.dembed, &w.Embed},
		"model.norm.weight":         {&m.norm, &m.dnorm, &w.Norm},
		"lm_head.weight":            {&m.lmHead, &m.dlmHead, &w.LMHead},
	}
	for i := range m.layers {
		l, lw := &m.layers[i], &w.Layers[i]
		prefix := fmt.Sprintf("model.layers.%d.", i)
		slots[prefix+"input_layernorm.weight"] = fullSlot{&l.inputNorm, &l.dInputNorm, &lw.InputNorm}
		slots[prefix+"post_attention_layernorm.weight"] = fullSlot{&l.postNorm, &l.dPostNorm, &lw.PostAttentionNorm}
		for p, proj := range m.Config.ProjectionShapes() {
			lin, pw := &l.proj[p], &lw.Projections[p]
			slots[prefix+proj.Name+".weight"] = fullSlot{&lin.dense, &lin.dweight, pw.Dense}
			if proj.Bias {
				slots[prefix+proj.Name+".bias"] = fullSlot{&lin.bias, &lin.dbias, pw.Bias}
			}
		}
	}
	return slots
}

// SetWeights uploads a checkpoint's weights into a full-training model's parameter arena: the
// model's own at New, or a full-training checkpoint's when a run resumes.
func (m *Model) SetWeights(w *Weights) error {
	if m.full == nil {
		return fmt.Errorf("SetWeights: the model is not in full-parameter training")
	}
	if len(w.Layers) != len(m.layers) {
		return fmt.Errorf("the checkpoint has %d layers, the model %d", len(w.Layers), len(m.layers))
	}
	slots := m.fullSlots(w)
	for _, fp := range m.fullParams {
		src := slots[fp.Name].src
		if src == nil {
			return fmt.Errorf("%s: the checkpoint stores it in NF4; full-parameter training needs it at full precision", fp.Name)
		}
		v, err := src.Float32s()
		if err != nil {
			return err
		}
		if len(v) != fp.Len() {
			return fmt.Errorf("%s: %d values, want %d", fp.Name, len(v), fp.Len())
		}
		m.be.Upload(m.be.View(m.params, fp.offset, fp.Len()), widen(v))
	}
	return nil
}

// NoDecay names the parameter tensors exempt from weight decay: in full-parameter training the
// vectors (norm weights and biases), as transformers' Trainer exempts them, since decay would pull
// a norm's gain toward zero; none for LoRA.
func (m *Model) NoDecay() map[string]bool {
	out := map[string]bool{}
	for _, fp := range m.fullParams {
		if len(fp.Shape) == 1 {
			out[fp.Name] = true
		}
	}
	return out
}

// FullTraining reports whether every weight of the model is trainable.
func (m *Model) FullTraining() bool { return m.full != nil }

// WeightSources lists a full-training model's current weights as safetensors sources in dtype
// (F32, or BF16/F16 rounded to nearest even), under their Hugging Face names: a complete model
// checkpoint. Each is downloaded only when the writer reaches it.
func (m *Model) WeightSources(dtype safetensors.DType) ([]safetensors.Source, error) {
	if m.full == nil {
		return nil, fmt.Errorf("WeightSources: the model is not in full-parameter training")
	}
	out := make([]safetensors.Source, len(m.fullParams))
	for i, fp := range m.fullParams {
		view := m.be.View(m.params, fp.offset, fp.Len())
		out[i] = safetensors.Source{Name: fp.Name, DType: dtype, Shape: fp.Shape,
			Data: func() ([]byte, error) { return safetensors.Encode(dtype, m.download(view)) }}
	}
	return out, nil
}

// fullParamTensors lists the weights in the arena as the optimizer's segments.
func (m *Model) fullParamTensors() []ParamTensor {
	out := make([]ParamTensor, len(m.fullParams))
	for i, fp := range m.fullParams {
		out[i] = ParamTensor{Name: fp.Name, Offset: fp.offset, Len: fp.Len()}
	}
	return out
}

// normWeightBackward adds an RMSNorm weight's gradient to dw given the norm's dout, input x and
// rstd; nothing when the weight is frozen (dw nil).
func (p *pass) normWeightBackward(dw, dout, x, rstd backend.Tensor, c int) {
	if dw != nil {
		p.full.RMSNormWeightBackward(dw, dout, x, rstd, p.n, c)
	}
}
