package lora

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This file builds adapter folders the way PEFT lays them out, by hand (a literal JSON header and
// little-endian bytes), independently of this package's and the safetensors package's writers.

// rawTensor is one tensor of a hand-built safetensors file.
type rawTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// bf16Bytes truncates, which is exact for the values used here (multiples of 1/4 below 64).
func bf16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(math.Float32bits(x)>>16))
	}
	return b
}

// rawSafetensors lays tensors out in the given order under a literal header, padded to 8 bytes.
func rawSafetensors(tensors []rawTensor) []byte {
	var head strings.Builder
	head.WriteString(`{"__metadata__":{"format":"pt"}`)
	var data []byte
	for _, t := range tensors {
		shape := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(t.shape)), ","), "[]")
		fmt.Fprintf(&head, `,"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}`, t.name, t.dtype, shape, len(data), len(data)+len(t.data))
		data = append(data, t.data...)
	}
	head.WriteString("}")
	for head.Len()%8 != 0 {
		head.WriteByte(' ')
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(head.Len()))
	b.WriteString(head.String())
	b.Write(data)
	return b.Bytes()
}

// peftReferenceTensors are the weights of the reference example's adapter (r 10, gate/up/down) for
// two layers of a model with hidden size 4 and MLP size 6: A in F32, B in BF16 as a bf16 run saves
// them. Element i of a factor is base + i/4.
func peftReferenceTensors(keyOf func(layer int, module string, f Factor) string) []rawTensor {
	var out []rawTensor
	for layer := range 2 {
		for k, module := range []string{"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"} {
			in, outDim := 4, 6
			if module == "mlp.down_proj" {
				in, outDim = 6, 4
			}
			base := float32(10*layer + 3*k)
			out = append(out,
				rawTensor{keyOf(layer, module, FactorA), "F32", []int{10, in}, f32Bytes(ramp(10*in, base))},
				rawTensor{keyOf(layer, module, FactorB), "BF16", []int{outDim, 10}, bf16Bytes(ramp(outDim*10, -base))})
		}
	}
	return out
}

func ramp(n int, base float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = base + float32(i)/4
	}
	return v
}

func savedKey(layer int, module string, f Factor) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%c.weight", layer, module, f)
}

func defaultKey(layer int, module string, f Factor) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%c.default.weight", layer, module, f)
}

// writePEFTFolder writes a hand-built adapter folder; an empty config leaves adapter_config.json out.
func writePEFTFolder(t *testing.T, config string, weights []byte) string {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if weights != nil {
		if err := os.WriteFile(filepath.Join(dir, WeightsName), weights, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoad_PEFTLayout ensures a folder as PEFT saves it (and with the adapter name left in the keys)
// loads with the right modules, shapes and values.
func TestLoad_PEFTLayout(t *testing.T) {
	config := string(readGolden(t, "adapter_config_reference.json"))
	for _, keyOf := range []func(int, string, Factor) string{savedKey, defaultKey} {
		dir := writePEFTFolder(t, config, rawSafetensors(peftReferenceTensors(keyOf)))
		a, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if a.Config.R != 10 || a.Config.LoraAlpha != 20 || a.Config.Scaling() != 2 || a.Config.TaskType != "CAUSAL_LM" {
			t.Errorf("config %+v", a.Config)
		}
		if len(a.Modules) != 6 {
			t.Fatalf("%d modules, want 6", len(a.Modules))
		}
		for i, m := range a.Modules {
			layer, k := i/3, i%3
			wantModule := []string{"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}[k]
			in, out := 4, 6
			if k == 2 {
				in, out = 6, 4
			}
			if m.Layer != layer || m.Module != wantModule || m.R != 10 || m.In != in || m.Out != out {
				t.Fatalf("module %d: layer %d %s (r %d, in %d, out %d)", i, m.Layer, m.Module, m.R, m.In, m.Out)
			}
			base := float32(10*layer + 3*k)
			compare(t, wantModule+" A", m.A, ramp(10*in, base), 0)
			compare(t, wantModule+" B", m.B, ramp(out*10, -base), 0)
		}
		if a.Module(1, "mlp.up_proj") != &a.Modules[4] || a.Module(0, "self_attn.q_proj") != nil {
			t.Error("Module looks up the wrong entry")
		}
	}
}

// TestLoad_Malformed ensures every broken folder is an error naming the file and the key or tensor.
func TestLoad_Malformed(t *testing.T) {
	config := string(readGolden(t, "adapter_config_reference.json"))
	good := peftReferenceTensors(savedKey)
	gateA, gateB := savedKey(0, "mlp.gate_proj", FactorA), savedKey(0, "mlp.gate_proj", FactorB)
	with := func(edit func([]rawTensor) []rawTensor) []byte {
		return rawSafetensors(edit(append([]rawTensor(nil), good...)))
	}
	valid := rawSafetensors(good)
	tests := []struct {
		name    string
		config  string
		weights []byte
		file    string   // the file the error must name
		want    []string // and these
	}{
		{"no config", "", valid, ConfigName, nil},
		{"no peft_type", `{"r": 10}`, valid, ConfigName, []string{"peft_type"}},
		{"dora", strings.Replace(config, `"use_dora": false`, `"use_dora": true`, 1), valid, ConfigName, []string{"use_dora"}},
		{"no weights", config, nil, WeightsName, nil},
		{"no tensors", config, rawSafetensors(nil), WeightsName, []string{"no LoRA tensors"}},
		{"truncated", config, valid[:len(valid)-10], WeightsName, nil},
		{"A without B", config, with(func(ts []rawTensor) []rawTensor { return ts[:5] }), WeightsName, []string{savedKey(0, "mlp.down_proj", FactorA), "lora_B"}},
		{"B without A", config, with(func(ts []rawTensor) []rawTensor { return ts[1:] }), WeightsName, []string{gateB, "lora_A"}},
		{"wrong A rank", config, with(func(ts []rawTensor) []rawTensor {
			ts[0] = rawTensor{gateA, "F32", []int{8, 5}, make([]byte, 160)}
			return ts
		}), WeightsName, []string{gateA, "[8 5]", "r=10"}},
		{"wrong B rank", config, with(func(ts []rawTensor) []rawTensor {
			ts[1] = rawTensor{gateB, "BF16", []int{10, 6}, make([]byte, 120)}
			return ts
		}), WeightsName, []string{gateB, "[10 6]"}},
		{"1-D", config, with(func(ts []rawTensor) []rawTensor {
			ts[0] = rawTensor{gateA, "F32", []int{40}, make([]byte, 160)}
			return ts
		}), WeightsName, []string{gateA, "matrix"}},
		{"I32", config, with(func(ts []rawTensor) []rawTensor {
			ts[0].dtype = "I32"
			return ts
		}), WeightsName, []string{gateA, "I32"}},
		{"lm_head", config, with(func(ts []rawTensor) []rawTensor {
			return append(ts, rawTensor{"base_model.model.lm_head.lora_A.weight", "F32", []int{10, 4}, make([]byte, 160)})
		}), WeightsName, []string{"base_model.model.lm_head.lora_A.weight"}},
		{"untargeted", config, with(func(ts []rawTensor) []rawTensor {
			ts[0].name = savedKey(0, "self_attn.q_proj", FactorA)
			ts[1].name = savedKey(0, "self_attn.q_proj", FactorB)
			return ts
		}), WeightsName, []string{savedKey(0, "self_attn.q_proj", FactorA), "target_modules"}},
		{"twice", config, with(func(ts []rawTensor) []rawTensor {
			return append(ts, rawTensor{defaultKey(0, "mlp.gate_proj", FactorA), "F32", []int{10, 4}, make([]byte, 160)})
		}), WeightsName, []string{"a second lora_A", gateA}},
	}
	for _, tt := range tests {
		dir := writePEFTFolder(t, tt.config, tt.weights)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		t.Logf("%s: %v", tt.name, err)
		for _, s := range append([]string{filepath.Join(dir, tt.file)}, tt.want...) {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, s)
			}
		}
	}
}

// TestLoad_PickleHint ensures a folder with only adapter_model.bin says why it cannot be read.
func TestLoad_PickleHint(t *testing.T) {
	dir := writePEFTFolder(t, string(readGolden(t, "adapter_config_reference.json")), nil)
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.bin"), []byte("PK"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "adapter_model.bin") {
		t.Errorf("error %v, want a hint about adapter_model.bin", err)
	}
}
