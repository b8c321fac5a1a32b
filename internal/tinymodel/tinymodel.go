// Package tinymodel writes small Llama-family checkpoints with seeded random weights: config.json and
// model.safetensors in bfloat16, named and laid out as transformers saves them. The bundled demo
// checkpoint and the tests' models come from here.
package tinymodel

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Shape is the architecture of a tiny model.
type Shape struct {
	Arch                                                string // llama, mistral or qwen2
	Vocab, Hidden, Intermediate, Layers, Heads, KVHeads int
	Tied                                                bool  // lm_head shares the embeddings
	BOS                                                 int   // bos_token_id; 0 means 1
	EOS                                                 []int // eos_token_id; nil means [2]
}

// Tiny is the shape of testdata/models/tiny-llama.
var Tiny = Shape{Arch: "llama", Vocab: 256, Hidden: 64, Intermediate: 176, Layers: 2, Heads: 4, KVHeads: 2}

// Write writes config.json and model.safetensors (bfloat16) for s into dir.
func Write(dir string, s Shape, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var eos any = s.EOS // a list when there are several, as Llama 3's configs write it
	switch len(s.EOS) {
	case 0:
		eos = 2
	case 1:
		eos = s.EOS[0]
	}
	cfg := map[string]any{
		"architectures":           []string{map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[s.Arch]},
		"model_type":              s.Arch,
		"vocab_size":              s.Vocab,
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Intermediate,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"hidden_act":              "silu",
		"max_position_embeddings": 512,
		"rms_norm_eps":            1e-6,
		"rope_theta":              10000.0,
		"tie_word_embeddings":     s.Tied,
		"torch_dtype":             "bfloat16",
		"bos_token_id":            cmp.Or(s.BOS, 1),
		"eos_token_id":            eos,
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	_, err = safetensors.WriteShards(dir, "model", 5<<30, map[string]string{"format": "pt"}, tensors(s, seed))
	return err
}

// tensors lists every weight with the names and shapes transformers uses.
func tensors(s Shape, seed uint64) []safetensors.Source {
	rng := rand.New(rand.NewPCG(seed, 0x71a4))
	headDim := s.Hidden / s.Heads
	var out []safetensors.Source
	add := func(name string, std float64, dims ...int) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			if std == 0 {
				v[i] = 1 + float32(rng.NormFloat64()*0.1) // norms: near one, not exactly
			} else {
				v[i] = float32(rng.NormFloat64() * std)
			}
		}
		out = append(out, safetensors.Bytes(name, safetensors.BF16, dims, safetensors.EncodeBF16s(v)))
	}
	// Matrices are scaled by 1/sqrt(fan-in), so activations and logits have the magnitudes of a
	// trained model's and adapters can move the output (0.02 at these widths would pin every
	// logit near zero).
	fanIn := func(in int) float64 { return 1 / math.Sqrt(float64(in)) }
	add("model.embed_tokens.weight", 1, s.Vocab, s.Hidden)
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", 0, s.Hidden)
		add(p+"self_attn.q_proj.weight", fanIn(s.Hidden), s.Heads*headDim, s.Hidden)
		add(p+"self_attn.k_proj.weight", fanIn(s.Hidden), s.KVHeads*headDim, s.Hidden)
		add(p+"self_attn.v_proj.weight", fanIn(s.Hidden), s.KVHeads*headDim, s.Hidden)
		if s.Arch == "qwen2" {
			add(p+"self_attn.q_proj.bias", 0.02, s.Heads*headDim)
			add(p+"self_attn.k_proj.bias", 0.02, s.KVHeads*headDim)
			add(p+"self_attn.v_proj.bias", 0.02, s.KVHeads*headDim)
		}
		add(p+"self_attn.o_proj.weight", fanIn(s.Heads*headDim), s.Hidden, s.Heads*headDim)
		add(p+"post_attention_layernorm.weight", 0, s.Hidden)
		add(p+"mlp.gate_proj.weight", fanIn(s.Hidden), s.Intermediate, s.Hidden)
		add(p+"mlp.up_proj.weight", fanIn(s.Hidden), s.Intermediate, s.Hidden)
		add(p+"mlp.down_proj.weight", fanIn(s.Intermediate), s.Hidden, s.Intermediate)
	}
	add("model.norm.weight", 0, s.Hidden)
	if !s.Tied {
		add("lm_head.weight", fanIn(s.Hidden), s.Vocab, s.Hidden)
	}
	return out
}
