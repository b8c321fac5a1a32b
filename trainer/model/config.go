package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The architectures the trainer implements, as config.json's model_type names them.
const (
	ArchLlama   = "llama"
	ArchMistral = "mistral"
	ArchQwen2   = "qwen2"
)

// NoToken is the id of a special token that the config does not name (Qwen2 has no bos_token_id).
const NoToken = -1

// NumProjections is the number of linear projections in one decoder layer.
const NumProjections = 7

// Bounds that no real model comes near (the largest have hidden 16384, vocab 256000, 126 layers);
// they keep every product in ParamCount well inside int64, even for hostile input.
const (
	maxDimension = 1 << 20
	maxLayers    = 1 << 14
)

// Config is the architecture of a Llama-family model, every field resolved: what config.json left out
// is the default of its model_type's transformers config class.
type Config struct {
	Architecture          string  // ArchLlama, ArchMistral or ArchQwen2 (model_type)
	VocabSize             int     // vocab_size
	HiddenSize            int     // hidden_size
	IntermediateSize      int     // intermediate_size, the MLP width
	NumLayers             int     // num_hidden_layers
	NumHeads              int     // num_attention_heads
	NumKVHeads            int     // num_key_value_heads; NumHeads when null (or absent for llama)
	HeadDim               int     // head_dim, else HiddenSize/NumHeads
	MaxPositionEmbeddings int     // max_position_embeddings
	RMSNormEps            float64 // rms_norm_eps
	RopeTheta             float64 // rope_theta, or rope_parameters.rope_theta
	RopeScaling           *RopeScaling

	// SlidingWindow is the attention window in tokens, 0 for full causal attention. Layers below
	// FullAttentionLayers attend fully even so (qwen2's max_window_layers; 0 for mistral).
	SlidingWindow       int
	FullAttentionLayers int

	AttentionBias     bool // q_proj, k_proj and v_proj have biases (always for qwen2)
	OProjBias         bool // o_proj has a bias (llama's attention_bias sets both; qwen2 has none)
	MLPBias           bool // gate_proj, up_proj and down_proj have biases (llama's mlp_bias)
	TieWordEmbeddings bool // lm_head shares model.embed_tokens.weight and is not stored

	// TorchDType is the dtype the weights were saved in: "bfloat16", "float16", "float32", or ""
	// when the config does not say (then the safetensors headers do).
	TorchDType string

	BOSTokenID  int   // NoToken when none
	EOSTokenIDs []int // Llama 3.x lists several; nil when none
	HiddenAct   string

	// Quantization is set for a pre-quantized bitsandbytes checkpoint, nil for a 16/32-bit one.
	Quantization *Quantization
}

// RopeScaling is a RoPE frequency scaling. Only Llama 3.1's "llama3" is implemented; default RoPE is
// a nil *RopeScaling.
type RopeScaling struct {
	Type                          string // "llama3"
	Factor                        float64
	LowFreqFactor                 float64
	HighFreqFactor                float64
	OriginalMaxPositionEmbeddings int
}

// Quantization is the bitsandbytes quantization_config of a pre-quantized checkpoint. Only 4-bit nf4
// with uint8 storage is accepted, the layout the trainer dequantizes.
type Quantization struct {
	Method       string // quant_method: "bitsandbytes"
	LoadIn4Bit   bool   // load_in_4bit (or _load_in_4bit)
	QuantType    string // bnb_4bit_quant_type: "nf4" (bitsandbytes' own default is "fp4")
	DoubleQuant  bool   // bnb_4bit_use_double_quant: absmax quantized again to 8 bits
	ComputeDType string // bnb_4bit_compute_dtype: "bfloat16", "float16" or "float32"
	QuantStorage string // bnb_4bit_quant_storage: "uint8"
}

// Projection is one linear layer of a decoder layer.
type Projection struct {
	Name  string // the Hugging Face name under model.layers.N., e.g. "self_attn.q_proj"
	Shape [2]int // [out, in], as the weight is stored
	Bias  bool   // there is a bias of length out
}

// ConfigError is a config.json the trainer refuses. Its message reads
// `config.json: hidden_act "gelu": only silu is supported`.
type ConfigError struct {
	Path   string // the file; empty for a Config checked by Validate
	Field  string // the JSON key, dotted when nested ("rope_scaling.rope_type"); empty for the whole file
	Value  string // the offending value as JSON, when there is one
	Reason string
}

func (e *ConfigError) Error() string {
	var parts []string
	if e.Path != "" {
		parts = append(parts, e.Path)
	}
	if e.Field != "" {
		parts = append(parts, strings.TrimSpace(e.Field+" "+e.Value))
	}
	return strings.Join(append(parts, e.Reason), ": ")
}

// LoadConfig reads and checks dir/config.json.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig reads a Hugging Face config.json; path only names the file in errors. Unknown keys are
// ignored, as transformers ignores them. Every error is a *ConfigError.
func ParseConfig(data []byte, path string) (*Config, error) {
	c, err := decodeConfig(data)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return nil, err
	}
	return c, nil
}

// QDim is the width of the attention queries: NumHeads*HeadDim.
func (c *Config) QDim() int { return c.NumHeads * c.HeadDim }

// KVDim is the width of the keys and of the values: NumKVHeads*HeadDim.
func (c *Config) KVDim() int { return c.NumKVHeads * c.HeadDim }

// WindowForLayer is the sliding window of layer i in tokens, 0 when it attends to the whole prefix.
func (c *Config) WindowForLayer(i int) int {
	if c.SlidingWindow == 0 || i < c.FullAttentionLayers {
		return 0
	}
	return c.SlidingWindow
}

// ProjectionShapes lists the seven projections of every decoder layer in a fixed order: q, k, v, o,
// gate, up, down.
func (c *Config) ProjectionShapes() [NumProjections]Projection {
	h, q, kv, m := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	return [NumProjections]Projection{
		{"self_attn.q_proj", [2]int{q, h}, c.AttentionBias},
		{"self_attn.k_proj", [2]int{kv, h}, c.AttentionBias},
		{"self_attn.v_proj", [2]int{kv, h}, c.AttentionBias},
		{"self_attn.o_proj", [2]int{h, q}, c.OProjBias},
		{"mlp.gate_proj", [2]int{m, h}, c.MLPBias},
		{"mlp.up_proj", [2]int{m, h}, c.MLPBias},
		{"mlp.down_proj", [2]int{h, m}, c.MLPBias},
	}
}

// ParamCount is the number of weights and biases of the projection.
func (p Projection) ParamCount() int64 {
	n := int64(p.Shape[0]) * int64(p.Shape[1])
	if p.Bias {
		n += int64(p.Shape[0])
	}
	return n
}

// ParamCount is the exact number of parameters of the Hugging Face model: embeddings, per layer the
// seven projections and two RMSNorm weights, the final norm, and lm_head unless tied.
func (c *Config) ParamCount() int64 {
	hidden := int64(c.HiddenSize)
	perLayer := 2 * hidden // input_layernorm, post_attention_layernorm
	for _, p := range c.ProjectionShapes() {
		perLayer += p.ParamCount()
	}
	embeddings := int64(c.VocabSize) * hidden
	total := embeddings + int64(c.NumLayers)*perLayer + hidden
	if !c.TieWordEmbeddings {
		total += embeddings
	}
	return total
}

// String describes the scaling for logs and errors.
func (s *RopeScaling) String() string {
	if s == nil {
		return "default"
	}
	return fmt.Sprintf("%s (factor %g, low_freq_factor %g, high_freq_factor %g, original_max_position_embeddings %d)",
		s.Type, s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositionEmbeddings)
}

// Validate checks that c describes a model the trainer can build. ParseConfig calls it; call it on a
// Config made by hand. Each group of checks may assume the groups before it passed.
func (c *Config) Validate() error {
	groups := []func() []check{c.architectureChecks, c.attentionChecks,
		func() []check { return ropeChecks("rope_scaling.", c.RopeScaling) }, c.tokenChecks, c.quantizationChecks}
	for _, group := range groups {
		if err := firstBroken(group()); err != nil {
			return err
		}
	}
	return nil
}

// check is one rule of Validate: when broken, the config is refused for field.
type check struct {
	broken               bool
	field, value, reason string
}

func firstBroken(checks []check) error {
	for _, k := range checks {
		if k.broken {
			return refuse(k.field, k.value, k.reason)
		}
	}
	return nil
}

func refuse(field, value, reason string) error {
	return &ConfigError{Field: field, Value: value, Reason: reason}
}

func (c *Config) architectureChecks() []check {
	checks := []check{{!supported(c.Architecture), "model_type", fmt.Sprintf("%q", c.Architecture),
		"not a supported architecture (llama, mistral, qwen2)"}}
	for _, s := range []struct {
		field        string
		value, limit int
	}{
		{"vocab_size", c.VocabSize, maxDimension}, {"hidden_size", c.HiddenSize, maxDimension},
		{"intermediate_size", c.IntermediateSize, maxDimension}, {"num_hidden_layers", c.NumLayers, maxLayers},
		{"num_attention_heads", c.NumHeads, maxDimension}, {"num_key_value_heads", c.NumKVHeads, maxDimension},
		{"head_dim", c.HeadDim, maxDimension}, {"max_position_embeddings", c.MaxPositionEmbeddings, math.MaxInt32},
	} {
		checks = append(checks, check{s.value <= 0, s.field, fmt.Sprint(s.value), "must be positive"},
			check{s.value > s.limit, s.field, fmt.Sprint(s.value),
				fmt.Sprintf("larger than %d, the most the trainer accepts", s.limit)})
	}
	return checks
}

func (c *Config) attentionChecks() []check {
	return []check{
		{c.NumHeads > maxDimension/c.HeadDim, "num_attention_heads", fmt.Sprint(c.NumHeads),
			fmt.Sprintf("times head_dim %d is larger than %d, the most the trainer accepts", c.HeadDim, maxDimension)},
		{c.NumHeads%c.NumKVHeads != 0, "num_key_value_heads", fmt.Sprint(c.NumKVHeads),
			fmt.Sprintf("does not divide num_attention_heads %d", c.NumHeads)},
		{c.HeadDim%2 != 0, "head_dim", fmt.Sprint(c.HeadDim), "must be even: RoPE rotates the two halves of each head"},
		{c.SlidingWindow < 0, "sliding_window", fmt.Sprint(c.SlidingWindow), "must not be negative"},
		{c.FullAttentionLayers < 0, "max_window_layers", fmt.Sprint(c.FullAttentionLayers), "must not be negative"},
		{c.HiddenAct != "silu", "hidden_act", fmt.Sprintf("%q", c.HiddenAct), "only silu is supported"},
		{!positiveFinite(c.RMSNormEps), "rms_norm_eps", fmt.Sprint(c.RMSNormEps), "must be a positive number"},
		{!positiveFinite(c.RopeTheta), "rope_theta", fmt.Sprint(c.RopeTheta), "must be a positive number"},
		{!slices.Contains([]string{"", "bfloat16", "float16", "float32"}, c.TorchDType), "torch_dtype",
			fmt.Sprintf("%q", c.TorchDType), "only bfloat16, float16 and float32 checkpoints are supported"},
	}
}

func positiveFinite(x float64) bool { return x > 0 && !math.IsInf(x, 1) }

const unsupportedRope = `only "default" and "llama3" RoPE are supported`

// ropeChecks checks a scaling found under prefix ("rope_scaling." or "rope_parameters.").
func ropeChecks(prefix string, s *RopeScaling) []check {
	if s == nil {
		return nil
	}
	return []check{
		{s.Type != "llama3", prefix + "rope_type", fmt.Sprintf("%q", s.Type), unsupportedRope},
		{!positiveFinite(s.Factor), prefix + "factor", fmt.Sprint(s.Factor), "must be a positive number"},
		{!positiveFinite(s.LowFreqFactor), prefix + "low_freq_factor", fmt.Sprint(s.LowFreqFactor), "must be a positive number"},
		{!positiveFinite(s.HighFreqFactor) || s.HighFreqFactor <= s.LowFreqFactor, prefix + "high_freq_factor",
			fmt.Sprint(s.HighFreqFactor), fmt.Sprintf("must be finite and greater than low_freq_factor %g", s.LowFreqFactor)},
		{s.OriginalMaxPositionEmbeddings <= 0, prefix + "original_max_position_embeddings",
			fmt.Sprint(s.OriginalMaxPositionEmbeddings), "must be positive"},
	}
}

func (c *Config) tokenChecks() []check {
	outside := func(id int) bool { return id < 0 || id >= c.VocabSize }
	reason := fmt.Sprintf("outside the vocabulary of %d", c.VocabSize)
	checks := []check{{c.BOSTokenID != NoToken && outside(c.BOSTokenID), "bos_token_id", fmt.Sprint(c.BOSTokenID), reason}}
	for _, id := range c.EOSTokenIDs {
		checks = append(checks, check{outside(id), "eos_token_id", fmt.Sprint(id), reason})
	}
	return checks
}

func (c *Config) quantizationChecks() []check {
	q := c.Quantization
	if q == nil {
		return nil
	}
	const key, onlyNF4 = "quantization_config.", "only bitsandbytes 4-bit nf4 checkpoints can be trained"
	return []check{
		{q.Method != "bitsandbytes", key + "quant_method", fmt.Sprintf("%q", q.Method), onlyNF4},
		{!q.LoadIn4Bit, key + "load_in_4bit", "false", onlyNF4},
		{q.QuantType != "nf4", key + "bnb_4bit_quant_type", fmt.Sprintf("%q", q.QuantType),
			"only nf4 is trainable (bitsandbytes defaults to fp4)"},
		{q.QuantStorage != "uint8", key + "bnb_4bit_quant_storage", fmt.Sprintf("%q", q.QuantStorage),
			"only uint8 storage is supported"},
		{!slices.Contains([]string{"bfloat16", "float16", "float32"}, q.ComputeDType), key + "bnb_4bit_compute_dtype",
			fmt.Sprintf("%q", q.ComputeDType), "must be bfloat16, float16 or float32"},
	}
}

// defaults are the values of one transformers config class's constructor arguments.
type defaults struct {
	vocab, hidden, intermediate, layers, heads int
	kvHeads                                    int // 0: as many as heads
	maxPositions                               int
	rmsNormEps, ropeTheta                      float64
	bos                                        int
	eos                                        []int
	slidingWindow, maxWindowLayers             int // mistral's sliding_window; qwen2's when enabled
}

// archDefaults follows LlamaConfig, MistralConfig and Qwen2Config in transformers.
var archDefaults = map[string]defaults{
	ArchLlama: {vocab: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32, maxPositions: 2048,
		rmsNormEps: 1e-6, ropeTheta: 10000, bos: 1, eos: []int{2}},
	ArchMistral: {vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8,
		maxPositions: 4096 * 32, rmsNormEps: 1e-6, ropeTheta: 10000, bos: 1, eos: []int{2}, slidingWindow: 4096},
	ArchQwen2: {vocab: 151936, hidden: 4096, intermediate: 22016, layers: 32, heads: 32, kvHeads: 32,
		maxPositions: 32768, rmsNormEps: 1e-6, ropeTheta: 10000, bos: NoToken, slidingWindow: 4096, maxWindowLayers: 28},
}

func supported(arch string) bool {
	_, ok := archDefaults[arch]
	return ok
}
