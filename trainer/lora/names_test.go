package lora

import (
	"strings"
	"testing"
)

// TestTensorName_PEFTKeys ensures the keys are PEFT's saved names.
func TestTensorName_PEFTKeys(t *testing.T) {
	tests := []struct {
		layer  int
		module string
		f      Factor
		want   string
	}{
		{0, "self_attn.q_proj", FactorA, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"},
		{31, "mlp.down_proj", FactorB, "base_model.model.model.layers.31.mlp.down_proj.lora_B.weight"},
	}
	for _, tt := range tests {
		if got := TensorName(tt.layer, tt.module, tt.f); got != tt.want {
			t.Errorf("TensorName(%d, %s, %v) = %s, want %s", tt.layer, tt.module, tt.f, got, tt.want)
		}
	}
}

// TestParseTensorName_RoundTrip ensures every module and factor parses back, with and without an adapter name.
func TestParseTensorName_RoundTrip(t *testing.T) {
	for _, layer := range []int{0, 7, 79} {
		for _, module := range Modules {
			for _, f := range []Factor{FactorA, FactorB} {
				key := TensorName(layer, module, f)
				named := strings.Replace(key, f.String()+".weight", f.String()+".default.weight", 1)
				for _, k := range []string{key, named} {
					l, m, g, err := ParseTensorName(k)
					if err != nil || l != layer || m != module || g != f {
						t.Errorf("ParseTensorName(%s) = %d, %s, %v, %v", k, l, m, g, err)
					}
				}
			}
		}
	}
}

// TestParseTensorName_Rejects ensures keys that are not LoRA factors of a Llama projection are errors quoting the key.
func TestParseTensorName_Rejects(t *testing.T) {
	for _, key := range []string{
		"base_model.model.lm_head.lora_A.weight",
		"base_model.model.model.embed_tokens.lora_embedding_A",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias",
		"base_model.model.model.layers.0.self_attn.q_proj.weight",
		"base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight",
		"base_model.model.model.layers.0.q_proj.lora_A.weight",
		"base_model.model.model.layers.x.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.01.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.-1.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A..weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A.a.b.weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight",
		"model.layers.0.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.0.mlp.gate_proj.modules_to_save.default.weight",
		"",
	} {
		if _, _, _, err := ParseTensorName(key); err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("ParseTensorName(%q) error %v, want one quoting the key", key, err)
		}
	}
}

// TestTensorName_PanicsOnBadModule ensures a module outside Modules is treated as a programming error.
func TestTensorName_PanicsOnBadModule(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	TensorName(0, "lm_head", FactorA)
}
