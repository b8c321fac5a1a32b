package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// referenceConfig is the real example of qlora-formats.md section 4, built field by field.
func referenceConfig() *AdapterConfig {
	c := DefaultConfig()
	c.R = 10
	c.LoraAlpha = 20
	c.TaskType = "CAUSAL_LM"
	c.TargetModules = Strings{List: []string{"gate_proj", "up_proj", "down_proj"}}
	return c
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncode_MatchesPEFTGolden ensures the config we write is byte-identical to PEFT's json.dumps output.
func TestEncode_MatchesPEFTGolden(t *testing.T) {
	got, err := referenceConfig().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t, "adapter_config_reference.json"); !bytes.Equal(got, want) {
		t.Errorf("encoded config differs from the golden:\n%s\nwant:\n%s", got, want)
	}
}

// TestEncode_RoundTripsPythonOutput ensures a file full of escapes, floats, a regex target and
// unknown keys reads and writes back byte for byte as Python printed it.
func TestEncode_RoundTripsPythonOutput(t *testing.T) {
	want := readGolden(t, "adapter_config_tricky.json")
	c, err := ParseConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseModelNameOrPath != "/models/café ☃/Llama-😀 \"q\" \\ \x7f\t\n" || c.TargetModules.One != `.*\.(q|k|v|o)_proj` {
		t.Errorf("decoded %q, %q", c.BaseModelNameOrPath, c.TargetModules.One)
	}
	if c.LoraAlpha != 0.5 || c.LoraDropout != 1e-5 || !c.UseRSLoRA || c.InitLoraWeights != "gaussian" {
		t.Errorf("decoded alpha %v dropout %v rslora %v init %v", c.LoraAlpha, c.LoraDropout, c.UseRSLoRA, c.InitLoraWeights)
	}
	if _, ok := c.Extra["megatron_core"]; !ok || len(c.Extra) != 7 {
		t.Errorf("extra keys %v", c.Extra)
	}
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("round trip differs:\n%s\nwant:\n%s", got, want)
	}
}

// TestParseConfig_Defaults ensures absent keys take LoraConfig's defaults and only peft_type is required.
func TestParseConfig_Defaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"peft_type": "LORA"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("got %+v, want %+v", c, DefaultConfig())
	}
	if c.R != 8 || c.LoraAlpha != 8 || c.LoraDropout != 0 || c.Bias != "none" || c.InitLoraWeights != true {
		t.Errorf("defaults %+v", c)
	}
}

// TestParseConfig_Forms ensures the alternative forms PEFT allows decode as documented.
func TestParseConfig_Forms(t *testing.T) {
	c, err := ParseConfig([]byte(`{"peft_type":"LORA","target_modules":["q_proj"],"layers_pattern":["layers"],
		"init_lora_weights":false,"fan_in_fan_out":null,"runtime_config":{"ephemeral_gpu_offload":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetModules.List[0] != "q_proj" || !reflect.DeepEqual(c.LayersPattern.List, []string{"layers"}) || c.InitLoraWeights != false {
		t.Errorf("got %+v", c)
	}
	if _, kept := c.Extra["runtime_config"]; kept {
		t.Error("runtime_config kept; PEFT drops it on load")
	}
	c, err = ParseConfig([]byte(`{"peft_type":"LORA","target_modules":["q_proj"],"layers_to_transform":3}`))
	if err != nil || !reflect.DeepEqual(c.LayersToTransform, []int{3}) {
		t.Errorf("layers_to_transform 3 read as %v (%v)", c.LayersToTransform, err)
	}
	c, err = ParseConfig([]byte(`{"peft_type":"LORA","target_modules":"ALL-LINEAR"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Targets(0, "mlp.down_proj"); c.TargetModules.One != "ALL-LINEAR" || !ok {
		t.Errorf("all-linear read as %#v, selects down_proj: %v", c.TargetModules, ok)
	}
	c, err = ParseConfig([]byte(`{"peft_type":"LORA","target_modules":[]}`))
	if err != nil || c.TargetModules.List == nil || c.TargetModules.IsNull() {
		t.Errorf("empty target list read as %#v (%v)", c.TargetModules, err)
	}
}

// TestParseConfig_Refusals ensures every unsupported or malformed key is refused with its name.
func TestParseConfig_Refusals(t *testing.T) {
	tests := []struct {
		json, key   string
		unsupported bool
	}{
		{`{"peft_type":"LORA","use_dora":true}`, "use_dora: ", true},
		{`{"peft_type":"LORA","bias":"all"}`, "bias: ", true},
		{`{"peft_type":"LORA","bias":"lora_only"}`, "bias: ", true},
		{`{"peft_type":"LORA","fan_in_fan_out":true}`, "fan_in_fan_out: ", true},
		{`{"peft_type":"LORA","rank_pattern":{"q_proj":16}}`, "per-module ranks", true},
		{`{"peft_type":"LORA","alpha_pattern":{"q_proj":16}}`, "alpha_pattern: ", true},
		{`{"peft_type":"LORA","modules_to_save":["lm_head"]}`, "modules_to_save: ", true},
		{`{"peft_type":"LORA","lora_bias":true}`, "lora_bias: ", true},
		{`{"peft_type":"LORA","layer_replication":[[0,4],[2,5]]}`, "layer_replication: ", true},
		{`{"peft_type":"LORA","use_qalora":true}`, "use_qalora: ", true},
		{`{"peft_type":"LORA","trainable_token_indices":[1,2]}`, "trainable_token_indices: ", true},
		{`{"peft_type":"LORA","r":0}`, "r: ", false},
		{`{"peft_type":"LORA","r":-4}`, "r: ", false},
		{`{"peft_type":"LORA","r":8.5}`, "r: ", false},
		{`{"peft_type":"LORA","r":null}`, "r: ", false},
		{`{"peft_type":"LORA","lora_alpha":"16"}`, "lora_alpha: ", false},
		{`{"peft_type":"LORA","lora_dropout":1.5}`, "lora_dropout: ", false},
		{`{"peft_type":"LORA","target_modules":5}`, "target_modules: ", false},
		{`{"peft_type":"LORA","target_modules":""}`, "target_modules: ", false},
		{`{"peft_type":"LORA","target_modules":"(?<=self_attn\\.)q_proj"}`, "target_modules: ", false},
		{`{"peft_type":"LORA","target_modules":".*q_proj","layers_to_transform":[0]}`, "layers_to_transform: ", false},
		{`{"peft_type":"LORA","target_modules":"all-linear","layers_pattern":"layers"}`, "layers_pattern: ", false},
		{`{"peft_type":"LORA","init_lora_weights":3}`, "init_lora_weights: ", false},
		{`{"peft_type":"LORA","layers_to_transform":"0"}`, "layers_to_transform: ", false},
		{`{"peft_type":"IA3"}`, "peft_type: ", false},
		{`{"peft_type":null}`, "peft_type: ", false},
		{`{"r":8}`, "peft_type: ", false},
		{`[1,2]`, "JSON object", false},
		{`{"peft_type":"LORA",`, "JSON object", false},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.json))
		t.Logf("%v", err)
		named := err != nil && strings.Contains(err.Error(), tt.key)
		if strings.HasSuffix(tt.key, ": ") { // a key: the message starts with it
			named = err != nil && strings.HasPrefix(err.Error(), tt.key)
		}
		if !named {
			t.Errorf("%s: error %v, want one naming %q", tt.json, err, tt.key)
			continue
		}
		if errors.Is(err, ErrUnsupported) != tt.unsupported {
			t.Errorf("%s: errors.Is(ErrUnsupported) = %v, want %v", tt.json, !tt.unsupported, tt.unsupported)
		}
	}
}

// TestParseConfig_NewerKeysAtDefault ensures newer PEFT keys left at their defaults are accepted and kept.
func TestParseConfig_NewerKeysAtDefault(t *testing.T) {
	in := `{"peft_type":"LORA","use_qalora":false,"alora_invocation_tokens":null,"target_parameters":[],"exclude_modules":["lm_head"]}`
	c, err := ParseConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	js, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back["exclude_modules"], []any{"lm_head"}) || back["use_qalora"] != false {
		t.Errorf("newer keys not kept: %s", js)
	}
}

// TestReadConfig_NamesFile ensures errors from a file carry its path.
func TestReadConfig_NamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfigName)
	if err := os.WriteFile(path, []byte(`{"peft_type":"LORA","use_dora":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "use_dora") {
		t.Errorf("error %v, want one naming %s and use_dora", err, path)
	}
}

// TestScaling ensures alpha/r, and alpha/sqrt(r) with rsLoRA.
func TestScaling(t *testing.T) {
	c := DefaultConfig()
	c.R, c.LoraAlpha = 64, 16
	if got := c.Scaling(); got != 0.25 {
		t.Errorf("scaling %v, want 0.25", got)
	}
	c.UseRSLoRA = true
	if got := c.Scaling(); got != 2 {
		t.Errorf("rsLoRA scaling %v, want 2", got)
	}
	c.R, c.LoraAlpha = 10, 20
	if got, want := c.Scaling(), 20/math.Sqrt(10); got != want {
		t.Errorf("rsLoRA scaling %v, want %v", got, want)
	}
}

// TestTargets ensures PEFT's matching rule: list by exact name or "."+suffix, string by full regex
// match, all-linear for all seven, and layers_to_transform for lists.
func TestTargets(t *testing.T) {
	tests := []struct {
		targets Strings
		layers  []int
		layer   int
		module  string
		want    bool
	}{
		{Strings{List: []string{"q_proj", "v_proj"}}, nil, 3, "self_attn.q_proj", true},
		{Strings{List: []string{"q_proj", "v_proj"}}, nil, 3, "self_attn.k_proj", false},
		{Strings{List: []string{"proj"}}, nil, 0, "mlp.up_proj", false}, // a suffix must start at a dot
		{Strings{List: []string{"mlp.up_proj"}}, nil, 0, "mlp.up_proj", true},
		{Strings{List: []string{"model.layers.2.mlp.up_proj"}}, nil, 2, "mlp.up_proj", true},
		{Strings{List: []string{"up_proj"}}, []int{0, 1}, 2, "mlp.up_proj", false},
		{Strings{List: []string{"up_proj"}}, []int{0, 2}, 2, "mlp.up_proj", true},
		{Strings{List: []string{}}, nil, 0, "mlp.up_proj", false},
		{Strings{One: "all-linear"}, nil, 9, "mlp.down_proj", true},
		{Strings{One: `.*\.(q|v)_proj`}, nil, 1, "self_attn.v_proj", true},
		{Strings{One: `.*\.(q|v)_proj`}, nil, 1, "self_attn.o_proj", false},
		{Strings{One: `q_proj`}, nil, 1, "self_attn.q_proj", false}, // full match, not search
		{Strings{One: `model\.layers\.1\..*`}, nil, 1, "mlp.gate_proj", true},
		{Strings{}, nil, 5, "mlp.gate_proj", true},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.TargetModules, c.LayersToTransform = tt.targets, tt.layers
		got, err := c.Targets(tt.layer, tt.module)
		if err != nil || got != tt.want {
			t.Errorf("targets %v layers %v: layer %d %s = %v, %v; want %v", tt.targets, tt.layers, tt.layer, tt.module, got, err, tt.want)
		}
	}
}
