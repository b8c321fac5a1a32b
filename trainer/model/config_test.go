package model

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// llama31Scaling is the rope_scaling of Llama 3.1 8B.
var llama31Scaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4,
	OriginalMaxPositionEmbeddings: 8192}

// llama3 is Meta-Llama-3-8B as ParseConfig should read it.
var llama3 = Config{Architecture: ArchLlama, VocabSize: 128256, HiddenSize: 4096, IntermediateSize: 14336,
	NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128, MaxPositionEmbeddings: 8192, RMSNormEps: 1e-5,
	RopeTheta: 500000, TorchDType: "bfloat16", BOSTokenID: 128000, EOSTokenIDs: []int{128001}, HiddenAct: "silu"}

// modify returns a changed copy of c.
func modify(c Config, change func(*Config)) *Config {
	change(&c)
	return &c
}

// testdataConfigs are the committed configs, each with every field it should parse to and the
// parameter count of the published model.
var testdataConfigs = []struct {
	dir    string
	want   *Config
	params int64
}{
	{"llama-2-7b", &Config{Architecture: ArchLlama, VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 11008,
		NumLayers: 32, NumHeads: 32, NumKVHeads: 32, HeadDim: 128, MaxPositionEmbeddings: 4096, RMSNormEps: 1e-5,
		RopeTheta: 10000, TorchDType: "float16", BOSTokenID: 1, EOSTokenIDs: []int{2}, HiddenAct: "silu"},
		6_738_415_616},
	{"llama-3-8b", &llama3, 8_030_261_248},
	{"llama-3.1-8b-instruct", modify(llama3, func(c *Config) {
		c.MaxPositionEmbeddings, c.RopeScaling, c.EOSTokenIDs = 131072, llama31Scaling, []int{128001, 128008, 128009}
	}), 8_030_261_248},
	{"llama-3.1-8b-instruct-v5", modify(llama3, func(c *Config) {
		c.MaxPositionEmbeddings, c.RopeScaling, c.EOSTokenIDs = 131072, llama31Scaling, []int{128001, 128008, 128009}
	}), 8_030_261_248},
	{"llama-3.2-1b", modify(llama3, func(c *Config) {
		c.HiddenSize, c.IntermediateSize, c.NumLayers, c.HeadDim, c.MaxPositionEmbeddings = 2048, 8192, 16, 64, 131072
		c.RopeScaling = &RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4,
			OriginalMaxPositionEmbeddings: 8192}
		c.TieWordEmbeddings = true
	}), 1_235_814_400},
	{"llama-3-8b-bnb-4bit", modify(llama3, func(c *Config) {
		c.Quantization = &Quantization{Method: "bitsandbytes", LoadIn4Bit: true, QuantType: "nf4", DoubleQuant: true,
			ComputeDType: "bfloat16", QuantStorage: "uint8"}
	}), 8_030_261_248},
	{"mistral-7b-v0.1", &Config{Architecture: ArchMistral, VocabSize: 32000, HiddenSize: 4096,
		IntermediateSize: 14336, NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
		MaxPositionEmbeddings: 32768, RMSNormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 4096,
		TorchDType: "bfloat16", BOSTokenID: 1, EOSTokenIDs: []int{2}, HiddenAct: "silu"}, 7_241_732_096},
	{"mistral-nemo-12b", &Config{Architecture: ArchMistral, VocabSize: 131072, HiddenSize: 5120,
		IntermediateSize: 14336, NumLayers: 40, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
		MaxPositionEmbeddings: 1024000, RMSNormEps: 1e-5, RopeTheta: 1e6, TorchDType: "bfloat16", BOSTokenID: 1,
		EOSTokenIDs: []int{2}, HiddenAct: "silu"}, 12_247_782_400},
	{"qwen2-7b", &Config{Architecture: ArchQwen2, VocabSize: 152064, HiddenSize: 3584, IntermediateSize: 18944,
		NumLayers: 28, NumHeads: 28, NumKVHeads: 4, HeadDim: 128, MaxPositionEmbeddings: 131072, RMSNormEps: 1e-6,
		RopeTheta: 1e6, AttentionBias: true, TorchDType: "bfloat16", BOSTokenID: 151643,
		EOSTokenIDs: []int{151643}, HiddenAct: "silu"}, 7_615_616_512},
}

func readTestdata(t testing.TB, dir string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edited returns the testdata config dir with keys set (a nil value deletes the key).
func edited(t testing.TB, dir string, keys map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readTestdata(t, dir), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range keys {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// null is a JSON null in an edited config (a nil value deletes the key instead).
var null = json.RawMessage("null")

func mustParse(t *testing.T, data []byte) *Config {
	t.Helper()
	c, err := ParseConfig(data, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoadConfig_Testdata ensures every committed config parses to exactly the expected fields.
func TestLoadConfig_Testdata(t *testing.T) {
	for _, tc := range testdataConfigs {
		t.Run(tc.dir, func(t *testing.T) {
			got, err := LoadConfig(filepath.Join("testdata", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParamCount_Published ensures ParamCount matches the published parameter totals.
func TestParamCount_Published(t *testing.T) {
	for _, tc := range testdataConfigs {
		if got := tc.want.ParamCount(); got != tc.params {
			t.Errorf("%s: ParamCount() = %d, want %d", tc.dir, got, tc.params)
		}
	}
}

// TestParseConfig_Llama31RopeScaling ensures Llama 3.1's llama3 RoPE scaling is read in full.
func TestParseConfig_Llama31RopeScaling(t *testing.T) {
	c := mustParse(t, readTestdata(t, "llama-3.1-8b-instruct"))
	if !reflect.DeepEqual(c.RopeScaling, llama31Scaling) || c.RopeTheta != 500000 {
		t.Errorf("RopeScaling = %v, RopeTheta = %v", c.RopeScaling, c.RopeTheta)
	}
}

// TestParseConfig_RopeParametersEqualsRopeScaling ensures the transformers 5 rope_parameters form reads
// the same as rope_theta + rope_scaling, and that both forms together are accepted when they agree.
func TestParseConfig_RopeParametersEqualsRopeScaling(t *testing.T) {
	legacy := mustParse(t, readTestdata(t, "llama-3.1-8b-instruct"))
	v5 := mustParse(t, edited(t, "llama-3.1-8b-instruct-v5", map[string]any{"dtype": nil, "torch_dtype": "bfloat16"}))
	if !reflect.DeepEqual(legacy, v5) {
		t.Errorf("rope_scaling form %+v\nrope_parameters form %+v", legacy, v5)
	}
	both := mustParse(t, edited(t, "llama-3.1-8b-instruct", map[string]any{"rope_parameters": map[string]any{
		"rope_type": "llama3", "rope_theta": 500000, "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
		"original_max_position_embeddings": 8192}}))
	if !reflect.DeepEqual(legacy, both) {
		t.Errorf("both forms %+v", both)
	}
	plain := mustParse(t, edited(t, "llama-3-8b", map[string]any{"rope_theta": nil,
		"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 500000.0}}))
	if !reflect.DeepEqual(plain, &llama3) {
		t.Errorf("default rope_parameters %+v", plain)
	}
}

// TestParseConfig_RopeTypeOldKey ensures the pre-4.43 key "type" is read as rope_type.
func TestParseConfig_RopeTypeOldKey(t *testing.T) {
	c := mustParse(t, edited(t, "llama-3.1-8b-instruct", map[string]any{"rope_scaling": map[string]any{
		"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
		"original_max_position_embeddings": 8192}}))
	if !reflect.DeepEqual(c.RopeScaling, llama31Scaling) {
		t.Errorf("RopeScaling = %v", c.RopeScaling)
	}
	c = mustParse(t, edited(t, "llama-2-7b", map[string]any{"rope_scaling": map[string]any{"type": "default"}}))
	if c.RopeScaling != nil {
		t.Errorf("default scaling read as %v", c.RopeScaling)
	}
}

// TestParseConfig_Defaults ensures a bare model_type gets its transformers config class's defaults.
func TestParseConfig_Defaults(t *testing.T) {
	tests := []struct {
		arch string
		want Config
	}{
		{ArchLlama, Config{Architecture: ArchLlama, VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 11008,
			NumLayers: 32, NumHeads: 32, NumKVHeads: 32, HeadDim: 128, MaxPositionEmbeddings: 2048, RMSNormEps: 1e-6,
			RopeTheta: 10000, BOSTokenID: 1, EOSTokenIDs: []int{2}, HiddenAct: "silu"}},
		{ArchMistral, Config{Architecture: ArchMistral, VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 14336,
			NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128, MaxPositionEmbeddings: 131072,
			RMSNormEps: 1e-6, RopeTheta: 10000, SlidingWindow: 4096, BOSTokenID: 1, EOSTokenIDs: []int{2},
			HiddenAct: "silu"}},
		{ArchQwen2, Config{Architecture: ArchQwen2, VocabSize: 151936, HiddenSize: 4096, IntermediateSize: 22016,
			NumLayers: 32, NumHeads: 32, NumKVHeads: 32, HeadDim: 128, MaxPositionEmbeddings: 32768,
			RMSNormEps: 1e-6, RopeTheta: 10000, AttentionBias: true, BOSTokenID: NoToken, HiddenAct: "silu"}},
	}
	for _, tc := range tests {
		got := mustParse(t, []byte(`{"model_type": "`+tc.arch+`"}`))
		if !reflect.DeepEqual(got, &tc.want) {
			t.Errorf("%s: got  %+v\nwant %+v", tc.arch, got, &tc.want)
		}
	}
}

// TestParseConfig_ArchitectureFromClass ensures a config without model_type is recognised by its class.
func TestParseConfig_ArchitectureFromClass(t *testing.T) {
	c := mustParse(t, edited(t, "qwen2-7b", map[string]any{"model_type": nil}))
	if c.Architecture != ArchQwen2 || !c.AttentionBias {
		t.Errorf("Architecture = %q, AttentionBias = %v", c.Architecture, c.AttentionBias)
	}
}

// TestParseConfig_KVHeadsNullVersusAbsent ensures a null num_key_value_heads means "as many as heads"
// while an absent one takes the class default (8 for mistral).
func TestParseConfig_KVHeadsNullVersusAbsent(t *testing.T) {
	if c := mustParse(t, edited(t, "mistral-7b-v0.1", map[string]any{"num_key_value_heads": null})); c.NumKVHeads != 32 {
		t.Errorf("null: NumKVHeads = %d, want 32", c.NumKVHeads)
	}
	if c := mustParse(t, []byte(`{"model_type": "mistral", "num_attention_heads": 16}`)); c.NumKVHeads != 8 {
		t.Errorf("absent: NumKVHeads = %d, want 8", c.NumKVHeads)
	}
	if c := mustParse(t, []byte(`{"model_type": "llama", "num_attention_heads": 16}`)); c.NumKVHeads != 16 {
		t.Errorf("llama absent: NumKVHeads = %d, want 16", c.NumKVHeads)
	}
}

// TestParseConfig_SlidingWindow ensures mistral's window applies to every layer, and qwen2's only
// with use_sliding_window and only from max_window_layers on.
func TestParseConfig_SlidingWindow(t *testing.T) {
	mistral := mustParse(t, readTestdata(t, "mistral-7b-v0.1"))
	if mistral.WindowForLayer(0) != 4096 || mistral.WindowForLayer(31) != 4096 {
		t.Errorf("mistral windows %d, %d", mistral.WindowForLayer(0), mistral.WindowForLayer(31))
	}
	qwen := mustParse(t, readTestdata(t, "qwen2-7b"))
	if qwen.SlidingWindow != 0 || qwen.WindowForLayer(27) != 0 {
		t.Errorf("qwen2 without use_sliding_window: SlidingWindow = %d", qwen.SlidingWindow)
	}
	qwen = mustParse(t, edited(t, "qwen2-7b", map[string]any{"use_sliding_window": true, "sliding_window": 4096,
		"max_window_layers": 20}))
	if qwen.WindowForLayer(19) != 0 || qwen.WindowForLayer(20) != 4096 || qwen.FullAttentionLayers != 20 {
		t.Errorf("qwen2 windows %d, %d", qwen.WindowForLayer(19), qwen.WindowForLayer(20))
	}
	types := make([]string, 28)
	for i := range types {
		types[i] = "full_attention"
	}
	mustParse(t, edited(t, "qwen2-7b", map[string]any{"layer_types": types}))
}

// TestParseConfig_LlamaBiases ensures llama's attention_bias covers q, k, v and o, and mlp_bias the MLP.
func TestParseConfig_LlamaBiases(t *testing.T) {
	c := mustParse(t, edited(t, "llama-2-7b", map[string]any{"attention_bias": true, "mlp_bias": true}))
	for _, p := range c.ProjectionShapes() {
		if !p.Bias {
			t.Errorf("%s has no bias", p.Name)
		}
	}
	if got, want := c.ParamCount(), int64(6_738_415_616+32*(4*4096+2*11008+4096)); got != want {
		t.Errorf("ParamCount() = %d, want %d", got, want)
	}
}

// TestProjectionShapes_Qwen2 ensures the seven projections come in HF order with [out,in] shapes and
// qwen2's biases on q, k and v only.
func TestProjectionShapes_Qwen2(t *testing.T) {
	c := mustParse(t, readTestdata(t, "qwen2-7b"))
	want := [NumProjections]Projection{
		{"self_attn.q_proj", [2]int{3584, 3584}, true},
		{"self_attn.k_proj", [2]int{512, 3584}, true},
		{"self_attn.v_proj", [2]int{512, 3584}, true},
		{"self_attn.o_proj", [2]int{3584, 3584}, false},
		{"mlp.gate_proj", [2]int{18944, 3584}, false},
		{"mlp.up_proj", [2]int{18944, 3584}, false},
		{"mlp.down_proj", [2]int{3584, 18944}, false},
	}
	if got := c.ProjectionShapes(); got != want {
		t.Errorf("got %v", got)
	}
}

// TestQDimKVDim_ExplicitHeadDim ensures an explicit head_dim (Mistral-Nemo: 128, not 5120/32) sizes
// the attention, not hidden_size.
func TestQDimKVDim_ExplicitHeadDim(t *testing.T) {
	c := mustParse(t, readTestdata(t, "mistral-nemo-12b"))
	if c.QDim() != 4096 || c.KVDim() != 1024 {
		t.Errorf("QDim = %d, KVDim = %d", c.QDim(), c.KVDim())
	}
	if o := c.ProjectionShapes()[3]; o.Shape != [2]int{5120, 4096} {
		t.Errorf("o_proj shape %v", o.Shape)
	}
}

// TestParseConfig_Refusals ensures each config the trainer cannot train is refused with an error that
// names the file and the field.
func TestParseConfig_Refusals(t *testing.T) {
	llama3Rope := func(change map[string]any) map[string]any {
		m := map[string]any{"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
			"original_max_position_embeddings": 8192}
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	quant := func(key string, value any) map[string]any {
		return map[string]any{"quantization_config": map[string]any{"quant_method": "bitsandbytes",
			"load_in_4bit": true, "bnb_4bit_quant_type": "nf4", key: value}}
	}
	tests := []struct {
		name  string
		base  string
		keys  map[string]any
		field string
		text  string
	}{
		{"gelu", "llama-2-7b", map[string]any{"hidden_act": "gelu"}, "hidden_act", `hidden_act "gelu": only silu is supported`},
		{"unknown model_type", "llama-2-7b", map[string]any{"model_type": "gemma"}, "model_type", `"gemma"`},
		{"no model_type", "llama-2-7b", map[string]any{"model_type": nil, "architectures": nil}, "model_type", "missing"},
		{"class contradicts model_type", "llama-2-7b", map[string]any{"architectures": []string{"Qwen2ForCausalLM"}}, "architectures", `contradicts model_type "llama"`},
		{"heads do not divide hidden", "llama-2-7b", map[string]any{"num_attention_heads": 30}, "num_attention_heads", "does not divide hidden_size 4096"},
		{"kv heads do not divide heads", "llama-3-8b", map[string]any{"num_key_value_heads": 6}, "num_key_value_heads", "does not divide num_attention_heads 32"},
		{"zero hidden", "llama-2-7b", map[string]any{"hidden_size": 0}, "hidden_size", "must be positive"},
		{"negative vocab", "llama-2-7b", map[string]any{"vocab_size": -5}, "vocab_size", "must be positive"},
		{"zero layers", "llama-2-7b", map[string]any{"num_hidden_layers": 0}, "num_hidden_layers", "must be positive"},
		{"huge intermediate", "llama-2-7b", map[string]any{"intermediate_size": int64(1 << 40)}, "intermediate_size", "larger than"},
		{"size as string", "llama-2-7b", map[string]any{"intermediate_size": "11008"}, "intermediate_size", "must be an integer"},
		{"size as float", "llama-2-7b", map[string]any{"hidden_size": 4096.5}, "hidden_size", "must be an integer"},
		{"null size", "llama-2-7b", map[string]any{"hidden_size": null}, "hidden_size", "must be an integer"},
		{"odd head_dim", "mistral-nemo-12b", map[string]any{"head_dim": 127}, "head_dim", "must be even"},
		{"zero eps", "llama-2-7b", map[string]any{"rms_norm_eps": 0}, "rms_norm_eps", "positive"},
		{"zero theta", "llama-2-7b", map[string]any{"rope_theta": 0}, "rope_theta", "positive"},
		{"linear rope", "llama-2-7b", map[string]any{"rope_scaling": map[string]any{"rope_type": "linear", "factor": 2.0}}, "rope_scaling.rope_type", `"linear": only "default" and "llama3"`},
		{"dynamic rope, old key", "llama-2-7b", map[string]any{"rope_scaling": map[string]any{"type": "dynamic", "factor": 2.0}}, "rope_scaling.rope_type", `older key "type"`},
		{"yarn rope", "llama-2-7b", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0}}, "rope_scaling.rope_type", `"yarn"`},
		{"longrope", "llama-2-7b", map[string]any{"rope_scaling": map[string]any{"rope_type": "longrope"}}, "rope_scaling.rope_type", `"longrope"`},
		{"yarn rope_parameters", "llama-3.1-8b-instruct-v5", map[string]any{"rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 1e4}}, "rope_parameters.rope_type", `"yarn"`},
		{"rope_type and type disagree", "llama-2-7b", map[string]any{"rope_scaling": llama3Rope(map[string]any{"type": "linear"})}, "rope_scaling.rope_type", "disagrees"},
		{"llama3 without factor", "llama-2-7b", map[string]any{"rope_scaling": llama3Rope(map[string]any{"factor": nil})}, "rope_scaling.factor", "missing"},
		{"llama3 high below low", "llama-2-7b", map[string]any{"rope_scaling": llama3Rope(map[string]any{"high_freq_factor": 0.5})}, "rope_scaling.high_freq_factor", "greater than low_freq_factor"},
		{"llama3 bad original max", "llama-3.1-8b-instruct-v5", map[string]any{"rope_parameters": llama3Rope(map[string]any{"original_max_position_embeddings": 0})}, "rope_parameters.original_max_position_embeddings", "positive"},
		{"rope forms disagree", "llama-3.1-8b-instruct", map[string]any{"rope_parameters": map[string]any{"rope_type": "default"}}, "rope_parameters", "rope_scaling says llama3"},
		{"rope thetas disagree", "llama-3.1-8b-instruct-v5", map[string]any{"rope_theta": 10000}, "rope_parameters.rope_theta", "disagrees with rope_theta 10000"},
		{"per-layer rope", "llama-3.1-8b-instruct-v5", map[string]any{"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_type": "default"}}}, "rope_parameters", "per-layer-type"},
		{"partial rotary", "llama-3.1-8b-instruct-v5", map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "partial_rotary_factor": 0.5}}, "rope_parameters.partial_rotary_factor", "not supported"},
		{"rope_scaling not an object", "llama-2-7b", map[string]any{"rope_scaling": "llama3"}, "rope_scaling", "JSON object"},
		{"float64 weights", "llama-2-7b", map[string]any{"torch_dtype": "float64"}, "torch_dtype", `"float64"`},
		{"dtype and torch_dtype disagree", "llama-3.1-8b-instruct-v5", map[string]any{"torch_dtype": "float16"}, "dtype", "disagrees with torch_dtype"},
		{"eos outside vocab", "llama-2-7b", map[string]any{"eos_token_id": []int{2, 32000}}, "eos_token_id", "outside the vocabulary"},
		{"eos as string", "llama-2-7b", map[string]any{"eos_token_id": "2"}, "eos_token_id", "must be an integer or a list"},
		{"negative bos", "llama-2-7b", map[string]any{"bos_token_id": -3}, "bos_token_id", "outside the vocabulary"},
		{"negative window", "mistral-7b-v0.1", map[string]any{"sliding_window": -1}, "sliding_window", "negative"},
		{"layer_types disagree", "qwen2-7b", map[string]any{"layer_types": []string{"sliding_attention"}}, "layer_types", "has 1 entries for 28 layers"},
		{"gptq", "llama-3-8b", map[string]any{"quantization_config": map[string]any{"quant_method": "gptq", "bits": 4}}, "quantization_config.quant_method", `"gptq"`},
		{"fp4", "llama-3-8b", quant("bnb_4bit_quant_type", "fp4"), "quantization_config.bnb_4bit_quant_type", `"fp4"`},
		{"fp4 by default", "llama-3-8b", quant("bnb_4bit_quant_type", null), "quantization_config.bnb_4bit_quant_type", `"fp4"`},
		{"8-bit", "llama-3-8b", quant("load_in_8bit", true), "quantization_config.load_in_8bit", "8-bit"},
		{"not 4-bit", "llama-3-8b", quant("load_in_4bit", false), "quantization_config.load_in_4bit", "4-bit"},
		{"bf16 storage", "llama-3-8b", quant("bnb_4bit_quant_storage", "bfloat16"), "quantization_config.bnb_4bit_quant_storage", "uint8"},
		{"int8 compute", "llama-3-8b", quant("bnb_4bit_compute_dtype", "int8"), "quantization_config.bnb_4bit_compute_dtype", `"int8"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(edited(t, tc.base, tc.keys), "some/dir/config.json")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			msg := err.Error()
			if ce.Field != tc.field || !strings.HasPrefix(msg, "some/dir/config.json: "+tc.field) ||
				!strings.Contains(msg, tc.text) {
				t.Errorf("err = %q (field %q), want field %q and %q", msg, ce.Field, tc.field, tc.text)
			}
		})
	}
}

// TestParseConfig_MalformedJSON ensures broken JSON is reported with its line, column and byte offset.
func TestParseConfig_MalformedJSON(t *testing.T) {
	tests := []struct {
		data string
		want string
	}{
		{"{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,,\n}", "line 3, column 23 (byte offset 50)"},
		{`{"model_type": "llama"`, "line 1, column 22 (byte offset 22)"},
		{"", "byte offset 0"},
		{`["llama"]`, "top level must be a JSON object"},
		{`null`, "top level must be a JSON object"},
	}
	for _, tc := range tests {
		_, err := ParseConfig([]byte(tc.data), "config.json")
		if err == nil || !strings.HasPrefix(err.Error(), "config.json: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.data, err, tc.want)
		}
	}
}

// TestLoadConfig_Missing ensures a folder without config.json gives an error naming the file.
func TestLoadConfig_Missing(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) {
		t.Errorf("err = %v", err)
	}
}

// TestConfigError_Format ensures the message reads "file: field value: reason", dropping empty parts.
func TestConfigError_Format(t *testing.T) {
	tests := []struct {
		err  ConfigError
		want string
	}{
		{ConfigError{"config.json", "hidden_act", `"gelu"`, "only silu is supported"}, `config.json: hidden_act "gelu": only silu is supported`},
		{ConfigError{"config.json", "model_type", "", "missing"}, "config.json: model_type: missing"},
		{ConfigError{"", "", "", "malformed JSON"}, "malformed JSON"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestValidate_HandBuilt ensures Validate accepts the testdata configs and refuses a hand-made
// unsupported rope type, naming rope_scaling.rope_type.
func TestValidate_HandBuilt(t *testing.T) {
	for _, tc := range testdataConfigs {
		if err := tc.want.Validate(); err != nil {
			t.Errorf("%s: %v", tc.dir, err)
		}
	}
	c := modify(llama3, func(c *Config) { c.RopeScaling = &RopeScaling{Type: "linear", Factor: 2} })
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), `rope_scaling.rope_type "linear"`) {
		t.Errorf("err = %v", err)
	}
}

// TestParseConfig_DefaultsNotShared ensures a parsed Config owns its slices, so changing one cannot
// change the defaults of the next.
func TestParseConfig_DefaultsNotShared(t *testing.T) {
	first := mustParse(t, []byte(`{"model_type": "llama"}`))
	first.EOSTokenIDs[0] = 99
	if second := mustParse(t, []byte(`{"model_type": "llama"}`)); second.EOSTokenIDs[0] != 2 {
		t.Errorf("EOSTokenIDs = %v", second.EOSTokenIDs)
	}
}
