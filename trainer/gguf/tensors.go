package gguf

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Tensors gives a model's weights by their Hugging Face names (model.layers.0.self_attn.q_proj.weight),
// each as float32 in the Hugging Face (row-major, [out, in]) layout, one tensor at a time.
type Tensors interface {
	Names() []string
	Shape(name string) ([]int, bool)
	Float32s(name string) ([]float32, error)
}

// DirTensors serves the tensors of an opened safetensors checkpoint.
func DirTensors(d *safetensors.Dir) Tensors { return dirTensors{d} }

type dirTensors struct{ d *safetensors.Dir }

func (t dirTensors) Names() []string { return t.d.Names() }

func (t dirTensors) Shape(name string) ([]int, bool) {
	info, ok := t.d.Info(name)
	return info.Shape, ok
}

func (t dirTensors) Float32s(name string) ([]float32, error) {
	x, err := t.d.Tensor(name)
	if err != nil {
		return nil, err
	}
	return x.Float32s()
}

// mapping is one Hugging Face tensor and what it becomes in the GGUF file.
type mapping struct {
	hf, gguf string
	shape    []int // as Hugging Face stores it: [out, in], or [n]
	heads    int   // > 0: rows reordered for llama.cpp's rotary layout, in this many heads
}

// projectionNames maps the projections of a decoder layer to llama.cpp's names.
var projectionNames = map[string]string{
	"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
	"self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
	"mlp.down_proj": "ffn_down",
}

// mappings lists every tensor of the model in the order they are written. Llama and Mistral have
// their q and k rows permuted (llama.cpp's llama graph rotates interleaved pairs, transformers
// rotates halves); qwen2's graph rotates halves itself, so its rows stay as they are.
func mappings(cfg *model.Config, withOutput bool) []mapping {
	h, v := cfg.HiddenSize, cfg.VocabSize
	permute := cfg.Architecture != model.ArchQwen2
	list := []mapping{{"model.embed_tokens.weight", "token_embd.weight", []int{v, h}, 0}}
	for l := range cfg.NumLayers {
		hf, gg := fmt.Sprintf("model.layers.%d.", l), fmt.Sprintf("blk.%d.", l)
		list = append(list, mapping{hf + "input_layernorm.weight", gg + "attn_norm.weight", []int{h}, 0})
		for _, p := range cfg.ProjectionShapes() {
			heads := 0
			if permute && p.Name == "self_attn.q_proj" {
				heads = cfg.NumHeads
			} else if permute && p.Name == "self_attn.k_proj" {
				heads = cfg.NumKVHeads
			}
			name := gg + projectionNames[p.Name]
			list = append(list, mapping{hf + p.Name + ".weight", name + ".weight", p.Shape[:], heads})
			if p.Bias {
				list = append(list, mapping{hf + p.Name + ".bias", name + ".bias", []int{p.Shape[0]}, heads})
			}
		}
		list = append(list, mapping{hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", []int{h}, 0})
	}
	list = append(list, mapping{"model.norm.weight", "output_norm.weight", []int{h}, 0})
	if withOutput {
		list = append(list, mapping{"lm_head.weight", "output.weight", []int{v, h}, 0})
	}
	return list
}

// ignored tensors are checkpoint entries that are not weights: old transformers saved RoPE's
// inverse frequencies as buffers. llama.cpp's converter skips them too.
func ignored(name string) bool { return strings.HasSuffix(name, ".rotary_emb.inv_freq") }

// checkTensors requires the checkpoint to hold exactly the tensors the config describes, with the
// shapes it describes.
func checkTensors(list []mapping, src Tensors, arch string) error {
	want := map[string]bool{}
	for _, m := range list {
		want[m.hf] = true
		shape, ok := src.Shape(m.hf)
		if !ok {
			return fmt.Errorf("tensor %q is missing", m.hf)
		}
		if !slices.Equal(shape, m.shape) {
			return fmt.Errorf("tensor %q has shape %v, the config says %v", m.hf, shape, m.shape)
		}
	}
	for _, name := range src.Names() {
		if !want[name] && !ignored(name) {
			return fmt.Errorf("tensor %q has no place in a GGUF %s model", name, arch)
		}
	}
	return nil
}

// tensorType is the GGUF type of a tensor: vectors (norms, biases) stay F32, as llama.cpp expects;
// matrices take the requested type, except that Q8_0 falls back to F16 for rows that are not whole
// blocks of 32, as llama.cpp's converter does.
func tensorType(m mapping, t GGMLType) (GGMLType, string) {
	if len(m.shape) == 1 {
		return F32, ""
	}
	if t == Q8_0 && m.shape[1]%qk8 != 0 {
		return F16, fmt.Sprintf("%s: rows of %d are not whole Q8_0 blocks of %d, written as F16", m.gguf, m.shape[1], qk8)
	}
	return t, ""
}

// source is the TensorSource of a mapping: reversed to ggml's dimension order, permuted, encoded.
func source(m mapping, t GGMLType, src Tensors) TensorSource {
	dims := slices.Clone(m.shape)
	slices.Reverse(dims)
	return Floats(m.gguf, t, dims, func() ([]float32, error) {
		v, err := src.Float32s(m.hf)
		if err != nil {
			return nil, err
		}
		if m.heads > 0 {
			cols := 1
			if len(m.shape) == 2 {
				cols = m.shape[1]
			}
			v = PermuteRotary(v, m.shape[0], cols, m.heads)
		}
		return v, nil
	})
}

// PermuteRotary reorders the rows of a q or k projection ([rows, cols], row-major; a bias has one
// column) as llama.cpp's converter does for the llama architecture: within each of the heads, the
// row at (half j, position i) moves to 2i+j, so that the two halves transformers rotates together
// become the adjacent pairs ggml rotates. It returns a new slice.
func PermuteRotary(w []float32, rows, cols, heads int) []float32 {
	if rows%(2*heads) != 0 || len(w) != rows*cols {
		panic(fmt.Sprintf("gguf: PermuteRotary of %d values as [%d, %d] in %d heads", len(w), rows, cols, heads))
	}
	out := make([]float32, len(w))
	headDim := rows / heads
	half := headDim / 2
	for h := range heads {
		for j := range 2 {
			for i := range half {
				from, to := h*headDim+j*half+i, h*headDim+2*i+j
				copy(out[to*cols:(to+1)*cols], w[from*cols:(from+1)*cols])
			}
		}
	}
	return out
}

// UnpermuteRotary undoes PermuteRotary.
func UnpermuteRotary(w []float32, rows, cols, heads int) []float32 {
	if rows%(2*heads) != 0 || len(w) != rows*cols {
		panic(fmt.Sprintf("gguf: UnpermuteRotary of %d values as [%d, %d] in %d heads", len(w), rows, cols, heads))
	}
	out := make([]float32, len(w))
	headDim := rows / heads
	half := headDim / 2
	for h := range heads {
		for j := range 2 {
			for i := range half {
				from, to := h*headDim+2*i+j, h*headDim+j*half+i
				copy(out[to*cols:(to+1)*cols], w[from*cols:(from+1)*cols])
			}
		}
	}
	return out
}

// RopeFreqFactors are the HeadDim/2 values of llama.cpp's rope_freqs tensor for a config with
// Llama 3.1 ("llama3") RoPE scaling: each unscaled inverse frequency divided by its scaled one, so
// that ggml, which divides by the factor, rotates as transformers does.
func RopeFreqFactors(cfg *model.Config) []float32 {
	scaled := cfg.InvFreq()
	out := make([]float32, len(scaled))
	for i, s := range scaled {
		base := 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(cfg.HeadDim))
		out[i] = float32(base / s)
	}
	return out
}

// ropeFreqsSource is the rope_freqs.weight tensor.
func ropeFreqsSource(cfg *model.Config) TensorSource {
	return Floats("rope_freqs.weight", F32, []int{cfg.HeadDim / 2}, func() ([]float32, error) {
		return RopeFreqFactors(cfg), nil
	})
}
