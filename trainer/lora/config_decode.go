package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// configDecoders read each known key of adapter_config.json into its field. Null is accepted where
// PEFT's type is Optional and for flags (None is falsy in Python); for r, lora_alpha,
// lora_dropout, bias and peft_type it is an error.
var configDecoders = map[string]func(c *AdapterConfig, msg json.RawMessage) error{
	"peft_type":               func(c *AdapterConfig, m json.RawMessage) error { return decodeString(m, &c.PeftType, false) },
	"task_type":               func(c *AdapterConfig, m json.RawMessage) error { return decodeString(m, &c.TaskType, true) },
	"base_model_name_or_path": func(c *AdapterConfig, m json.RawMessage) error { return decodeString(m, &c.BaseModelNameOrPath, true) },
	"revision":                func(c *AdapterConfig, m json.RawMessage) error { return decodeString(m, &c.Revision, true) },
	"inference_mode":          func(c *AdapterConfig, m json.RawMessage) error { return decodeBool(m, &c.InferenceMode) },
	"auto_mapping":            func(c *AdapterConfig, m json.RawMessage) error { return decodeDict(m, &c.AutoMapping) },
	"r":                       func(c *AdapterConfig, m json.RawMessage) error { return decodeInt(m, &c.R) },
	"lora_alpha":              func(c *AdapterConfig, m json.RawMessage) error { return decodeNumber(m, &c.LoraAlpha) },
	"lora_dropout":            func(c *AdapterConfig, m json.RawMessage) error { return decodeNumber(m, &c.LoraDropout) },
	"target_modules":          func(c *AdapterConfig, m json.RawMessage) error { return decodeStrings(m, &c.TargetModules) },
	"use_rslora":              func(c *AdapterConfig, m json.RawMessage) error { return decodeBool(m, &c.UseRSLoRA) },
	"bias":                    func(c *AdapterConfig, m json.RawMessage) error { return decodeString(m, &c.Bias, false) },
	"fan_in_fan_out":          func(c *AdapterConfig, m json.RawMessage) error { return decodeBool(m, &c.FanInFanOut) },
	"modules_to_save":         func(c *AdapterConfig, m json.RawMessage) error { return decodeList(m, &c.ModulesToSave) },
	"init_lora_weights":       decodeInitWeights,
	"layers_to_transform":     decodeLayers,
	"layers_pattern":          func(c *AdapterConfig, m json.RawMessage) error { return decodeStrings(m, &c.LayersPattern) },
	"rank_pattern":            func(c *AdapterConfig, m json.RawMessage) error { return decodeDict(m, &c.RankPattern) },
	"alpha_pattern":           func(c *AdapterConfig, m json.RawMessage) error { return decodeDict(m, &c.AlphaPattern) },
	"use_dora":                func(c *AdapterConfig, m json.RawMessage) error { return decodeBool(m, &c.UseDoRA) },
	"lora_bias":               func(c *AdapterConfig, m json.RawMessage) error { return decodeBool(m, &c.LoraBias) },
	"layer_replication":       func(c *AdapterConfig, m json.RawMessage) error { return decodeList(m, &c.LayerReplication) },
	"loftq_config":            func(c *AdapterConfig, m json.RawMessage) error { return decodeDict(m, &c.LoftQConfig) },
}

func isNull(m json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(m), []byte("null")) }

// want is the error for a value of the wrong JSON type.
func want(m json.RawMessage, what string) error {
	s := string(bytes.TrimSpace(m))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Errorf("%s, want %s", s, what)
}

func decodeString(m json.RawMessage, dst *string, nullable bool) error {
	if isNull(m) {
		if !nullable {
			return want(m, "a string")
		}
		*dst = ""
		return nil
	}
	if json.Unmarshal(m, dst) != nil {
		return want(m, "a string")
	}
	return nil
}

func decodeBool(m json.RawMessage, dst *bool) error {
	if isNull(m) {
		*dst = false
		return nil
	}
	if json.Unmarshal(m, dst) != nil {
		return want(m, "true or false")
	}
	return nil
}

func decodeInt(m json.RawMessage, dst *int) error {
	if isNull(m) || json.Unmarshal(m, dst) != nil {
		return want(m, "an integer")
	}
	return nil
}

func decodeNumber(m json.RawMessage, dst *float64) error {
	if isNull(m) || json.Unmarshal(m, dst) != nil {
		return want(m, "a number")
	}
	return nil
}

func decodeList[E any](m json.RawMessage, dst *[]E) error {
	if isNull(m) {
		*dst = nil
		return nil
	}
	var list []E
	if json.Unmarshal(m, &list) != nil || list == nil {
		return want(m, fmt.Sprintf("null or a list of %T", *new(E)))
	}
	*dst = list
	return nil
}

func decodeDict(m json.RawMessage, dst *map[string]any) error {
	if isNull(m) {
		*dst = nil
		return nil
	}
	v, err := decodeAny(m)
	d, ok := v.(map[string]any)
	if err != nil || !ok {
		return want(m, "null or an object")
	}
	*dst = d
	return nil
}

func decodeStrings(m json.RawMessage, dst *Strings) error {
	var s Strings
	switch {
	case isNull(m):
	case json.Unmarshal(m, &s.One) == nil:
		if s.One == "" {
			return errors.New(`"" matches no module; want a list of names or a non-empty pattern`)
		}
	case json.Unmarshal(m, &s.List) == nil && s.List != nil:
	default:
		return want(m, "null, a string or a list of strings")
	}
	*dst = s
	return nil
}

func decodeInitWeights(c *AdapterConfig, m json.RawMessage) error {
	var b bool
	var s string
	switch {
	case json.Unmarshal(m, &b) == nil && !isNull(m):
		c.InitLoraWeights = b
	case json.Unmarshal(m, &s) == nil && !isNull(m):
		c.InitLoraWeights = s
	default:
		return want(m, "true, false or a method name")
	}
	return nil
}

// decodeLayers reads layers_to_transform, which PEFT allows to be one index or a list of them.
func decodeLayers(c *AdapterConfig, m json.RawMessage) error {
	var one int
	if !isNull(m) && json.Unmarshal(m, &one) == nil {
		c.LayersToTransform = []int{one}
		return nil
	}
	if err := decodeList(m, &c.LayersToTransform); err != nil {
		return want(m, "null, a layer index or a list of them")
	}
	return nil
}
