package lora

import (
	"fmt"
	"strconv"
	"strings"
)

// Modules are the seven projections of a Llama-family decoder layer that LoRA adapts, named by their
// path inside the layer as in Hugging Face checkpoints, in the order of the layer's forward pass.
var Modules = [...]string{
	"self_attn.q_proj",
	"self_attn.k_proj",
	"self_attn.v_proj",
	"self_attn.o_proj",
	"mlp.gate_proj",
	"mlp.up_proj",
	"mlp.down_proj",
}

// moduleIndex returns the position of module in Modules, or -1.
func moduleIndex(module string) int {
	for i, m := range Modules {
		if m == module {
			return i
		}
	}
	return -1
}

// Factor tells the two matrices of a LoRA pair apart: the update is B @ A.
type Factor byte

// The two factors, named as in PEFT's lora_A and lora_B.
const (
	FactorA Factor = 'A' // (r, in): projects the input down to rank r
	FactorB Factor = 'B' // (out, r): projects back up
)

func (f Factor) String() string { return "lora_" + string(f) }

// The parts of a PEFT tensor name around the layer index, module and factor.
const (
	keyPrefix = "base_model.model.model.layers."
	keySuffix = ".weight"
)

// ModulePath is the module's name in the Hugging Face model ("model.layers.3.mlp.up_proj"): the name
// PEFT matches target_modules against.
func ModulePath(layer int, module string) string {
	return "model.layers." + strconv.Itoa(layer) + "." + module
}

// TensorName is the key under which PEFT saves one factor of the adapter of a layer's module, e.g.
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. A negative layer or a module
// outside Modules is a programming error and panics.
func TensorName(layer int, module string, f Factor) string {
	if layer < 0 || moduleIndex(module) < 0 || (f != FactorA && f != FactorB) {
		panic(fmt.Sprintf("lora.TensorName: no LoRA tensor for layer %d, module %q, factor %q", layer, module, byte(f)))
	}
	return keyPrefix + strconv.Itoa(layer) + "." + module + "." + f.String() + keySuffix
}

// ParseTensorName splits a PEFT tensor key into its layer, module and factor. Besides the names
// PEFT saves it accepts those with the adapter name still inserted (…q_proj.lora_A.default.weight),
// which PEFT's loader accepts too. Any other key, e.g. an lm_head adapter, a DoRA magnitude vector
// or a lora_B bias, is an error that quotes the key.
func ParseTensorName(key string) (layer int, module string, f Factor, err error) {
	bad := func(why string) (int, string, Factor, error) {
		return 0, "", 0, fmt.Errorf("%q is not a LoRA tensor of a Llama-family layer: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return bad("it does not start with " + keyPrefix)
	}
	rest, ok = strings.CutSuffix(rest, keySuffix)
	if !ok {
		return bad("it does not end with " + keySuffix)
	}
	index, rest, _ := strings.Cut(rest, ".")
	if layer, ok = parseLayerIndex(index); !ok {
		return bad(fmt.Sprintf("layer index %q is not a decimal number", index))
	}
	module, f, ok = splitModuleFactor(rest)
	if !ok {
		return bad("want <module>.lora_A or <module>.lora_B, optionally followed by an adapter name")
	}
	if moduleIndex(module) < 0 {
		return bad(fmt.Sprintf("module %q is not one of %v", module, Modules))
	}
	return layer, module, f, nil
}

// parseLayerIndex reads a module list index as PyTorch names it: decimal digits, no sign, no
// leading zero.
func parseLayerIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// splitModuleFactor splits "self_attn.q_proj.lora_A" or "self_attn.q_proj.lora_A.default".
func splitModuleFactor(s string) (string, Factor, bool) {
	for _, f := range []Factor{FactorA, FactorB} {
		marker := "." + f.String()
		i := strings.LastIndex(s, marker)
		if i <= 0 {
			continue
		}
		after := s[i+len(marker):]
		adapterName, named := strings.CutPrefix(after, ".")
		if after == "" || (named && adapterName != "" && !strings.Contains(adapterName, ".")) {
			return s[:i], f, true
		}
	}
	return "", 0, false
}
