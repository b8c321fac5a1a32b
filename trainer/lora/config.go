package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
)

// ErrUnsupported marks a valid PEFT configuration that asks for something this engine cannot train
// or apply (DoRA, trained biases, per-module ranks, ...). Test for it with errors.Is.
var ErrUnsupported = errors.New("not supported")

// Strings is a value PEFT lets be null, one string or a list of strings (target_modules,
// layers_pattern). The zero value is null; a non-nil List, even an empty one, is the list form;
// otherwise a non-empty One is the string form.
type Strings struct {
	List []string
	One  string
}

// IsNull reports whether s is JSON null.
func (s Strings) IsNull() bool { return s.List == nil && s.One == "" }

// String prints s as it appears in adapter_config.json, for messages.
func (s Strings) String() string {
	b, _ := json.Marshal(s.value())
	return string(b)
}

func (s Strings) value() any {
	switch {
	case s.List != nil:
		return s.List
	case s.One != "":
		return s.One
	}
	return nil
}

// AllLinear is the target_modules shorthand for every linear layer but the output head; in a
// Llama-family model that is all seven Modules of every layer.
const AllLinear = "all-linear"

// AdapterConfig is PEFT's LoraConfig as adapter_config.json holds it; the JSON key of each field is
// in its comment. Strings that PEFT allows to be None read and write "" as null.
type AdapterConfig struct {
	PeftType            string         // peft_type: must be "LORA"
	TaskType            string         // task_type, e.g. "CAUSAL_LM"; "" is null
	BaseModelNameOrPath string         // base_model_name_or_path; "" is null
	Revision            string         // revision; "" is null
	InferenceMode       bool           // inference_mode
	AutoMapping         map[string]any // auto_mapping; nil is null

	R                 int            // r: the rank
	LoraAlpha         float64        // lora_alpha; written as an integer when it is one, as PEFT's type is int
	LoraDropout       float64        // lora_dropout: probability of dropping an input of the LoRA branch
	TargetModules     Strings        // target_modules: module names, AllLinear or a regular expression
	UseRSLoRA         bool           // use_rslora: scale by alpha/sqrt(r) instead of alpha/r
	Bias              string         // bias: only "none" is supported
	FanInFanOut       bool           // fan_in_fan_out: not supported (Llama weights are (out, in))
	ModulesToSave     []string       // modules_to_save; nil is null; must be empty
	InitLoraWeights   any            // init_lora_weights: true, false or a method name such as "gaussian"
	LayersToTransform []int          // layers_to_transform; nil is null; a lone integer reads as [n]
	LayersPattern     Strings        // layers_pattern: kept, not interpreted
	RankPattern       map[string]any // rank_pattern; must be empty
	AlphaPattern      map[string]any // alpha_pattern; must be empty
	UseDoRA           bool           // use_dora: not supported
	LoraBias          bool           // lora_bias (a bias on lora_B): not supported
	LayerReplication  [][2]int       // layer_replication; nil is null; must be empty
	LoftQConfig       map[string]any // loftq_config; written {} when empty

	// Extra holds the keys of a file that this package does not know (keys from other PEFT
	// versions such as exclude_modules or megatron_config) as decoded JSON, numbers as json.Number.
	// They are written back unchanged, so reading and writing a file loses nothing. A known key
	// placed here is ignored.
	Extra map[string]any
}

// DefaultConfig returns PEFT's LoraConfig() defaults: r 8, lora_alpha 8, no dropout, bias "none",
// init_lora_weights true, target_modules null (PEFT then picks q_proj and v_proj for Llama).
func DefaultConfig() *AdapterConfig {
	return &AdapterConfig{
		PeftType:        "LORA",
		R:               8,
		LoraAlpha:       8,
		Bias:            "none",
		InitLoraWeights: true,
	}
}

// Scaling is the factor on the LoRA branch: lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA.
func (c *AdapterConfig) Scaling() float64 {
	if c.UseRSLoRA {
		return c.LoraAlpha / math.Sqrt(float64(c.R))
	}
	return c.LoraAlpha / float64(c.R)
}

// Targets reports whether target_modules (and layers_to_transform) select the module of the given
// layer, by PEFT's rule: a list matches a module path equal to a name or ending in "."+name; a string
// is AllLinear (any case) or a regular expression that must match the whole path, e.g.
// "model.layers.3.mlp.up_proj". Go's RE2 syntax is close enough to Python's re for such patterns;
// one it cannot compile (look-arounds, backreferences) is an error. Null selects everything, as a
// saved PEFT file never has null there (PEFT writes the modules it picked).
func (c *AdapterConfig) Targets(layer int, module string) (bool, error) {
	path := ModulePath(layer, module)
	t := c.TargetModules
	switch {
	case t.List != nil:
		return matchesName(path, t.List) && c.transformsLayer(layer), nil
	case strings.EqualFold(t.One, AllLinear):
		return c.transformsLayer(layer), nil
	case t.One != "":
		re, err := compileTarget(t.One)
		if err != nil {
			return false, err
		}
		return re.MatchString(path), nil
	}
	return c.transformsLayer(layer), nil
}

func matchesName(path string, names []string) bool {
	for _, n := range names {
		if path == n || strings.HasSuffix(path, "."+n) {
			return true
		}
	}
	return false
}

func (c *AdapterConfig) transformsLayer(layer int) bool {
	if c.LayersToTransform == nil {
		return true
	}
	for _, l := range c.LayersToTransform {
		if l == layer {
			return true
		}
	}
	return false
}

func compileTarget(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("target_modules: %q is not a regular expression Go can match: %w", pattern, err)
	}
	return re, nil
}

// unsupportedExtras are keys of newer PEFT versions that change what the weights mean; set to
// anything but null, false or empty they are refused.
var unsupportedExtras = map[string]string{
	"use_qalora":              "QA-LoRA (pooled input of lora_A)",
	"alora_invocation_tokens": "Activated LoRA (applied only after its invocation tokens)",
	"trainable_token_indices": "trainable token embeddings",
	"target_parameters":       "LoRA on bare parameters such as MoE experts",
	"use_bdlora":              "block-diagonal LoRA",
	"arrow_config":            "Arrow routing between adapters",
}

// unsupported is the refusal of a key's value; what names the feature it asks for.
func unsupported(key, what string) error { return fmt.Errorf("%s: %s: %w", key, what, ErrUnsupported) }

// Validate checks that the configuration is a LoRA configuration this engine can train and apply.
// Its errors name the offending key; refusals wrap ErrUnsupported.
func (c *AdapterConfig) Validate() error {
	if c.PeftType != "LORA" {
		return fmt.Errorf("peft_type: %q, want \"LORA\"", c.PeftType)
	}
	if c.R <= 0 {
		return fmt.Errorf("r: %d, want a positive rank", c.R)
	}
	if math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0) {
		return fmt.Errorf("lora_alpha: %v is not a finite number", c.LoraAlpha)
	}
	if !(c.LoraDropout >= 0 && c.LoraDropout <= 1) {
		return fmt.Errorf("lora_dropout: %v, want a probability in [0, 1]", c.LoraDropout)
	}
	if err := c.validateTargets(); err != nil {
		return err
	}
	switch c.InitLoraWeights.(type) {
	case bool, string:
	default:
		return fmt.Errorf("init_lora_weights: %v, want true, false or a method name", c.InitLoraWeights)
	}
	if err := c.validateVariant(); err != nil {
		return err
	}
	return validateExtras(c.Extra)
}

func (c *AdapterConfig) validateTargets() error {
	t := c.TargetModules
	if t.List == nil && t.One != "" {
		if c.LayersToTransform != nil {
			return errors.New("layers_to_transform: cannot be used when target_modules is a string (PEFT refuses it too)")
		}
		if !c.LayersPattern.IsNull() {
			return errors.New("layers_pattern: cannot be used when target_modules is a string (PEFT refuses it too)")
		}
		if !strings.EqualFold(t.One, AllLinear) {
			_, err := compileTarget(t.One)
			return err
		}
	}
	return nil
}

// validateVariant refuses the LoRA variants the engine cannot train or apply.
func (c *AdapterConfig) validateVariant() error {
	switch {
	case c.Bias != "none":
		return unsupported("bias", fmt.Sprintf("%q (trained biases of the base model)", c.Bias))
	case c.FanInFanOut:
		return unsupported("fan_in_fan_out", "true (weights stored (in, out) as GPT-2's Conv1D; Llama's are (out, in))")
	case c.UseDoRA:
		return unsupported("use_dora", "DoRA (a magnitude vector per module)")
	case c.LoraBias:
		return unsupported("lora_bias", "a bias on lora_B")
	case len(c.RankPattern) > 0:
		return unsupported("rank_pattern", "per-module ranks")
	case len(c.AlphaPattern) > 0:
		return unsupported("alpha_pattern", "per-module alphas")
	case len(c.ModulesToSave) > 0:
		return unsupported("modules_to_save", fmt.Sprintf("fully trained modules %q", c.ModulesToSave))
	case len(c.LayerReplication) > 0:
		return unsupported("layer_replication", "replicated layers")
	}
	return nil
}

func validateExtras(extra map[string]any) error {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		why, refused := unsupportedExtras[k]
		if refused && !isUnset(extra[k]) {
			return unsupported(k, why)
		}
	}
	return nil
}

// isUnset reports whether a decoded JSON value is null, false, empty or zero.
func isUnset(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	case json.Number:
		f, err := v.Float64()
		return err == nil && f == 0
	}
	return false
}

// ReadConfig reads and validates an adapter_config.json. Errors name the file and the key.
func ReadConfig(path string) (*AdapterConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and validates the contents of an adapter_config.json written by any PEFT
// version: only peft_type is required, absent keys keep DefaultConfig's values, unknown keys go to
// Extra (except runtime_config, which PEFT itself drops on load).
func ParseConfig(data []byte) (*AdapterConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if _, ok := raw["peft_type"]; !ok {
		return nil, errors.New("peft_type: missing; PEFT requires it")
	}
	c := DefaultConfig()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.decodeKey(k, raw[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *AdapterConfig) decodeKey(key string, msg json.RawMessage) error {
	if decode, known := configDecoders[key]; known {
		return decode(c, msg)
	}
	if key == "runtime_config" {
		return nil
	}
	v, err := decodeAny(msg)
	if err != nil {
		return err
	}
	if c.Extra == nil {
		c.Extra = map[string]any{}
	}
	c.Extra[key] = v
	return nil
}

// Encode returns the configuration exactly as PEFT's save_pretrained writes it:
// json.dumps(asdict(cfg), indent=2, sort_keys=True), without a final newline.
func (c *AdapterConfig) Encode() ([]byte, error) {
	m := make(map[string]any, len(c.Extra)+len(configDecoders))
	for k, v := range c.Extra {
		m[k] = v
	}
	for k, v := range c.known() {
		m[k] = v
	}
	return encodePython(m)
}

// known returns the fields as the Python values asdict(cfg) would hold.
func (c *AdapterConfig) known() map[string]any {
	return map[string]any{
		"alpha_pattern":           dict(c.AlphaPattern),
		"auto_mapping":            nullDict(c.AutoMapping),
		"base_model_name_or_path": nullString(c.BaseModelNameOrPath),
		"bias":                    c.Bias,
		"fan_in_fan_out":          c.FanInFanOut,
		"inference_mode":          c.InferenceMode,
		"init_lora_weights":       c.InitLoraWeights,
		"layer_replication":       pairs(c.LayerReplication),
		"layers_pattern":          c.LayersPattern.value(),
		"layers_to_transform":     nullInts(c.LayersToTransform),
		"loftq_config":            dict(c.LoftQConfig),
		"lora_alpha":              intIfWhole(c.LoraAlpha),
		"lora_bias":               c.LoraBias,
		"lora_dropout":            c.LoraDropout,
		"modules_to_save":         nullStrings(c.ModulesToSave),
		"peft_type":               c.PeftType,
		"r":                       c.R,
		"rank_pattern":            dict(c.RankPattern),
		"revision":                nullString(c.Revision),
		"target_modules":          c.TargetModules.value(),
		"task_type":               nullString(c.TaskType),
		"use_dora":                c.UseDoRA,
		"use_rslora":              c.UseRSLoRA,
	}
}

func dict(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func nullDict(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullStrings(s []string) any {
	if s == nil {
		return nil
	}
	return s
}

func nullInts(s []int) any {
	if s == nil {
		return nil
	}
	return s
}

func pairs(p [][2]int) any {
	if p == nil {
		return nil
	}
	out := make([]any, len(p))
	for i, q := range p {
		out[i] = []int{q[0], q[1]}
	}
	return out
}

func intIfWhole(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f)
	}
	return f
}

// decodeAny decodes one JSON value keeping numbers as written.
func decodeAny(msg json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
