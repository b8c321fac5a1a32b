package lora

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig ensures no input panics the config reader and that whatever it accepts writes out
// as a fixed point: reading our own output back gives the same bytes again.
func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"adapter_config_reference.json", "adapter_config_tricky.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"peft_type":"LORA"}`,
		`{"peft_type":"LORA","layers_to_transform":3,"target_modules":["q_proj"],"lora_alpha":16.0}`,
		`{"peft_type":"LORA","extra":[1e400,-0,1.50,"\ud800"],"lora_dropout":0.1}`,
		`{"peft_type":"LORA","target_modules":"all-linear","init_lora_weights":"pissa_niter_4"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		first, err := c.Encode()
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		again, err := ParseConfig(first)
		if err != nil {
			t.Fatalf("cannot read our own output %s: %v", first, err)
		}
		second, err := again.Encode()
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("output is not a fixed point:\n%s\nthen:\n%s (%v)", first, second, err)
		}
	})
}

// FuzzParseTensorName ensures no key panics the parser and every accepted key names the tensor
// TensorName gives for the same layer, module and factor, up to the adapter name.
func FuzzParseTensorName(f *testing.F) {
	f.Add("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
	f.Add("base_model.model.model.layers.12.mlp.down_proj.lora_B.default.weight")
	f.Add("base_model.model.lm_head.lora_A.weight")
	f.Fuzz(func(t *testing.T, key string) {
		layer, module, factor, err := ParseTensorName(key)
		if err != nil {
			return
		}
		canonical := TensorName(layer, module, factor)
		l, m, g, err := ParseTensorName(canonical)
		if err != nil || l != layer || m != module || g != factor {
			t.Fatalf("%q parsed as %d %s %v, but %q parses as %d %s %v (%v)", key, layer, module, factor, canonical, l, m, g, err)
		}
		if len(key) < len(canonical) {
			t.Fatalf("%q is shorter than its canonical name %q", key, canonical)
		}
	})
}
