package export

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// base is an open base model: its configuration, its memory-mapped checkpoint and the seven
// projections of every layer, keyed by the name of their weight tensor.
type base struct {
	dir         string
	cfg         *model.Config
	ckpt        *safetensors.Dir
	projections map[string]*projection // "model.layers.0.self_attn.q_proj.weight" -> projection
	quantized   bool                   // some projection is stored in the bitsandbytes 4-bit layout
}

// projection is one linear layer of the base, located but not read.
type projection struct {
	prefix string // "model.layers.0.self_attn.q_proj"
	layer  int
	module string // as lora.Modules names it, "self_attn.q_proj"
	shape  [2]int // (out, in)
	nf4    bool   // stored pre-quantized: read with nf4.Read when its turn comes
}

// openBase opens the model in dir and locates every tensor the model needs, checking dtypes and
// shapes, without reading weights. Unlike model.BindWeights it does not decode the 4-bit weights
// of a pre-quantized checkpoint up front: for a 65B model those alone are 35 GB, and an export
// needs one projection at a time.
func openBase(dir string) (*base, error) {
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	b := &base{dir: dir, cfg: cfg, ckpt: ckpt, projections: map[string]*projection{}}
	if err := b.locate(); err != nil {
		ckpt.Close()
		return nil, err
	}
	return b, nil
}

func (b *base) Close() error { return b.ckpt.Close() }

// locate finds every tensor of the model and records the projections.
func (b *base) locate() error {
	c := b.cfg
	h, v := c.HiddenSize, c.VocabSize
	type tensor struct {
		name  string
		shape []int
	}
	need := []tensor{{"model.embed_tokens.weight", []int{v, h}}, {"model.norm.weight", []int{h}}}
	if !c.TieWordEmbeddings {
		need = append(need, tensor{"lm_head.weight", []int{v, h}})
	}
	for l := 0; l < c.NumLayers; l++ {
		prefix := fmt.Sprintf("model.layers.%d.", l)
		need = append(need, tensor{prefix + "input_layernorm.weight", []int{h}}, tensor{prefix + "post_attention_layernorm.weight", []int{h}})
		for p, proj := range c.ProjectionShapes() {
			pr := &projection{prefix: prefix + proj.Name, layer: l, module: lora.Modules[p], shape: proj.Shape}
			if nf4.Stored(b.ckpt, pr.prefix) {
				pr.nf4, b.quantized = true, true
			} else {
				need = append(need, tensor{pr.prefix + ".weight", proj.Shape[:]})
			}
			if proj.Bias {
				need = append(need, tensor{pr.prefix + ".bias", []int{proj.Shape[0]}})
			}
			b.projections[pr.prefix+".weight"] = pr
		}
	}
	for _, t := range need {
		if err := b.checkFloat(t.name, t.shape); err != nil {
			return err
		}
	}
	return nil
}

// checkFloat requires a floating-point tensor of the given shape, with the errors BindWeights gives.
func (b *base) checkFloat(name string, shape []int) error {
	info, ok := b.ckpt.Info(name)
	if !ok {
		return fmt.Errorf("%s: no tensor %q: the model needs it", b.dir, name)
	}
	if !isFloat(info.DType) {
		return fmt.Errorf("%s: tensor %q: dtype %s, want BF16, F16 or F32", b.dir, name, info.DType)
	}
	if !slices.Equal(info.Shape, shape) {
		return fmt.Errorf("%s: tensor %q: shape %v, want %v", b.dir, name, info.Shape, shape)
	}
	return nil
}

// skipped reports whether a tensor of the checkpoint is part of a pre-quantized projection's
// bitsandbytes state (absmax, quant_map, quant_state, ...), which the projection's own entry
// replaces.
func (b *base) skipped(name string) bool {
	prefix, _, ok := strings.Cut(name, ".weight.")
	if !ok {
		return false
	}
	p := b.projections[prefix+".weight"]
	return p != nil && p.nf4
}

// dtype is the dtype of the base's 16-bit weights, as config.json's torch_dtype names it: the
// default for a merged model, so that it keeps its base's precision.
func (b *base) dtype() string {
	if q := b.cfg.Quantization; q != nil && q.ComputeDType != "" {
		return q.ComputeDType
	}
	if b.cfg.TorchDType != "" {
		return b.cfg.TorchDType
	}
	return "bfloat16"
}

// readNF4 reads the 4-bit weight of a pre-quantized projection, a copy that outlives the mapping.
func (b *base) readNF4(p *projection) (*nf4.Quantized, error) {
	q, _, err := nf4.Read(b.ckpt, p.prefix)
	if err != nil {
		return nil, err
	}
	if len(q.Shape) != 2 || q.Shape[0] != p.shape[0] || q.Shape[1] != p.shape[1] {
		return nil, fmt.Errorf("%s: tensor %q: quantized shape %v, want %v", b.dir, p.prefix+".weight", q.Shape, p.shape)
	}
	return q, nil
}

func isFloat(d safetensors.DType) bool {
	return d == safetensors.BF16 || d == safetensors.F16 || d == safetensors.F32
}

// torchNames maps safetensors float dtypes to the names config.json and bitsandbytes use.
var torchNames = map[safetensors.DType]string{safetensors.BF16: "bfloat16", safetensors.F16: "float16", safetensors.F32: "float32"}

// ParseDType reads a dtype as users and config files spell it: bf16, bfloat16, f16, fp16, float16,
// f32, fp32, float32 (any case).
func ParseDType(s string) (safetensors.DType, error) {
	switch strings.ToLower(s) {
	case "bf16", "bfloat16":
		return safetensors.BF16, nil
	case "f16", "fp16", "float16", "half":
		return safetensors.F16, nil
	case "f32", "fp32", "float32", "float":
		return safetensors.F32, nil
	}
	return "", fmt.Errorf("dtype %q: want bf16, f16 or f32", s)
}
