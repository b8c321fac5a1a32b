package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// causalLMClasses maps the architectures entries we know to their model_type.
var causalLMClasses = map[string]string{
	"LlamaForCausalLM":   ArchLlama,
	"MistralForCausalLM": ArchMistral,
	"Qwen2ForCausalLM":   ArchQwen2,
}

func decodeConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			line, column := lineColumn(data, syntax.Offset)
			return nil, refuse("", "", fmt.Sprintf("malformed JSON at line %d, column %d (byte offset %d): %v",
				line, column, syntax.Offset, err))
		}
		return nil, refuse("", "", "the top level must be a JSON object")
	}
	if raw == nil {
		return nil, refuse("", "", "the top level must be a JSON object, not null")
	}
	f := &fields{err: new(error), raw: raw}
	c := &Config{Architecture: decodeArchitecture(f)}
	if *f.err != nil {
		return nil, *f.err
	}
	d := archDefaults[c.Architecture]
	decodeSizes(f, c, d)
	decodeAttention(f, c, d)
	decodeRope(f, c, d)
	decodeTokens(f, c, d)
	c.HiddenAct = read(f, "hidden_act", "silu", wantString)
	c.RMSNormEps = read(f, "rms_norm_eps", d.rmsNormEps, wantNumber)
	c.TieWordEmbeddings = read(f, "tie_word_embeddings", false, wantBool)
	c.TorchDType = decodeDType(f)
	c.Quantization = decodeQuantization(f)
	checkLayerTypes(f, c)
	if *f.err != nil {
		return nil, *f.err
	}
	return c, nil
}

// lineColumn places a json.SyntaxError: its Offset counts the bytes read, the bad one included.
func lineColumn(data []byte, offset int64) (line, column int) {
	read := data[:min(max(offset, 0), int64(len(data)))]
	lineStart := bytes.LastIndexByte(read, '\n') + 1
	return 1 + bytes.Count(read, []byte{'\n'}), max(len(read)-lineStart, 1)
}

// decodeArchitecture takes model_type, or the architectures class when model_type is absent, and
// refuses an architectures entry of another supported family.
func decodeArchitecture(f *fields) string {
	classes, _ := readOptional[[]string](f, "architectures", "a list of class names")
	fromClass := ""
	for _, class := range classes {
		if arch, ok := causalLMClasses[class]; ok && fromClass == "" {
			fromClass = arch
		}
	}
	arch, ok := readOptional[string](f, "model_type", wantString)
	if !ok && fromClass == "" {
		f.fail("model_type", "", "missing, and architectures names no LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM")
	}
	if !ok {
		arch = fromClass
	}
	if !supported(arch) {
		f.fail("model_type", fmt.Sprintf("%q", arch), "not a supported architecture (llama, mistral, qwen2)")
	}
	for _, class := range classes {
		if other, ok := causalLMClasses[class]; ok && other != arch {
			f.fail("architectures", fmt.Sprintf("%q", class), fmt.Sprintf("contradicts model_type %q", arch))
		}
	}
	return arch
}

func decodeSizes(f *fields, c *Config, d defaults) {
	c.VocabSize = read(f, "vocab_size", d.vocab, wantInt)
	c.HiddenSize = read(f, "hidden_size", d.hidden, wantInt)
	c.IntermediateSize = read(f, "intermediate_size", d.intermediate, wantInt)
	c.NumLayers = read(f, "num_hidden_layers", d.layers, wantInt)
	c.NumHeads = read(f, "num_attention_heads", d.heads, wantInt)
	c.MaxPositionEmbeddings = read(f, "max_position_embeddings", d.maxPositions, wantInt)

	// null means "as many as heads" for every architecture; absent means the class default.
	c.NumKVHeads = d.kvHeads
	if kv, ok := readOptional[int](f, "num_key_value_heads", wantInt); ok {
		c.NumKVHeads = kv
	} else if f.isNull("num_key_value_heads") || d.kvHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}

	if dim, ok := readOptional[int](f, "head_dim", wantInt); ok {
		c.HeadDim = dim
	} else if c.NumHeads > 0 && c.HiddenSize%c.NumHeads != 0 {
		f.fail("num_attention_heads", fmt.Sprint(c.NumHeads),
			fmt.Sprintf("does not divide hidden_size %d, and no head_dim is given", c.HiddenSize))
	} else if c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
}

// decodeAttention reads the biases and the sliding window, which each architecture hard-codes or
// names differently; keys a class does not read are ignored, as transformers ignores them.
func decodeAttention(f *fields, c *Config, d defaults) {
	switch c.Architecture {
	case ArchLlama:
		c.AttentionBias = read(f, "attention_bias", false, wantBool)
		c.OProjBias = c.AttentionBias
		c.MLPBias = read(f, "mlp_bias", false, wantBool)
	case ArchMistral:
		c.SlidingWindow = readWindow(f, d.slidingWindow)
	case ArchQwen2:
		c.AttentionBias = true
		if read(f, "use_sliding_window", false, wantBool) {
			c.SlidingWindow = readWindow(f, d.slidingWindow)
			c.FullAttentionLayers = read(f, "max_window_layers", d.maxWindowLayers, wantInt)
		}
		if c.SlidingWindow == 0 {
			c.FullAttentionLayers = 0
		}
	}
}

// readWindow reads sliding_window: absent is the class default, null is no window.
func readWindow(f *fields, def int) int {
	if f.isNull("sliding_window") {
		return 0
	}
	return read(f, "sliding_window", def, wantInt)
}

// decodeRope accepts transformers 4.x's rope_theta + rope_scaling and 5.x's rope_parameters (which
// also carries rope_theta), and refuses a config where they disagree.
func decodeRope(f *fields, c *Config, d defaults) {
	c.RopeTheta = d.ropeTheta
	thetaKey := ""
	stateTheta := func(key string, theta float64, stated bool) {
		switch {
		case !stated:
		case thetaKey == "":
			thetaKey, c.RopeTheta = key, theta
		case theta != c.RopeTheta:
			f.fail(key, fmt.Sprint(theta), fmt.Sprintf("disagrees with %s %v", thetaKey, c.RopeTheta))
		}
	}
	theta, stated := readOptional[float64](f, "rope_theta", wantNumber)
	stateTheta("rope_theta", theta, stated)
	legacy, hasLegacy := decodeRopeObject(f, "rope_scaling", stateTheta)
	params, hasParams := decodeRopeObject(f, "rope_parameters", stateTheta)
	c.RopeScaling = legacy
	if hasParams {
		c.RopeScaling = params
	}
	if hasLegacy && hasParams && !sameScaling(legacy, params) {
		f.fail("rope_parameters", "", fmt.Sprintf("says %v but rope_scaling says %v", params, legacy))
	}
}

func sameScaling(a, b *RopeScaling) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// decodeRopeObject reads rope_scaling or rope_parameters, handing its rope_theta to stateTheta; false
// when the key is absent or null.
func decodeRopeObject(f *fields, key string, stateTheta func(string, float64, bool)) (*RopeScaling, bool) {
	o, ok := f.object(key)
	if !ok {
		return nil, false
	}
	for _, v := range o.raw {
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' {
			o.fail("", "", "per-layer-type RoPE parameters are not supported")
			return nil, true
		}
	}
	if factor, ok := readOptional[float64](o, "partial_rotary_factor", wantNumber); ok && factor != 1 {
		o.fail("partial_rotary_factor", fmt.Sprint(factor), "partial rotary embeddings are not supported")
	}
	theta, stated := readOptional[float64](o, "rope_theta", wantNumber)
	stateTheta(o.prefix+"rope_theta", theta, stated)
	if decodeRopeType(o) != "llama3" {
		return nil, true
	}
	s := &RopeScaling{
		Type:                          "llama3",
		Factor:                        readRequired(o, "factor", 0.0, wantNumber),
		LowFreqFactor:                 readRequired(o, "low_freq_factor", 0.0, wantNumber),
		HighFreqFactor:                readRequired(o, "high_freq_factor", 0.0, wantNumber),
		OriginalMaxPositionEmbeddings: readRequired(o, "original_max_position_embeddings", 0, wantInt),
	}
	if *o.err == nil {
		*o.err = firstBroken(ropeChecks(o.prefix, s))
	}
	return s, true
}

// decodeRopeType reads rope_type, or the older key type; absent means "default".
func decodeRopeType(o *fields) string {
	ropeType, hasRopeType := readOptional[string](o, "rope_type", wantString)
	oldType, hasOldType := readOptional[string](o, "type", wantString)
	switch {
	case hasRopeType && hasOldType && ropeType != oldType:
		o.fail("rope_type", fmt.Sprintf("%q", ropeType), fmt.Sprintf("disagrees with type %q", oldType))
	case !hasRopeType && hasOldType:
		ropeType = oldType
	case !hasRopeType:
		ropeType = "default"
	}
	if ropeType != "default" && ropeType != "llama3" {
		reason := unsupportedRope
		if !hasRopeType {
			reason += ` (given under the older key "type")`
		}
		o.fail("rope_type", fmt.Sprintf("%q", ropeType), reason)
	}
	return ropeType
}

func decodeTokens(f *fields, c *Config, d defaults) {
	c.BOSTokenID = NoToken
	if !f.isNull("bos_token_id") {
		c.BOSTokenID = read(f, "bos_token_id", d.bos, wantInt)
	}
	raw, present := f.raw["eos_token_id"]
	if !present {
		c.EOSTokenIDs = slices.Clone(d.eos)
		return
	}
	var one int
	var list []int
	switch {
	case isNull(raw):
	case json.Unmarshal(raw, &one) == nil:
		list = []int{one}
	case json.Unmarshal(raw, &list) != nil:
		f.fail("eos_token_id", shortJSON(raw), "must be an integer or a list of integers")
	}
	if len(list) > 0 {
		c.EOSTokenIDs = list
	}
}

// decodeDType reads torch_dtype (transformers 4.x) or dtype (5.x).
func decodeDType(f *fields) string {
	old, hasOld := readOptional[string](f, "torch_dtype", wantString)
	current, hasCurrent := readOptional[string](f, "dtype", wantString)
	if hasOld && hasCurrent && old != current {
		f.fail("dtype", fmt.Sprintf("%q", current), fmt.Sprintf("disagrees with torch_dtype %q", old))
	}
	if hasCurrent {
		return current
	}
	return old
}

// decodeQuantization reads a bitsandbytes quantization_config with BitsAndBytesConfig's defaults.
func decodeQuantization(f *fields) *Quantization {
	o, ok := f.object("quantization_config")
	if !ok {
		return nil
	}
	in4 := read(o, "load_in_4bit", false, wantBool) || read(o, "_load_in_4bit", false, wantBool)
	in8 := read(o, "load_in_8bit", false, wantBool) || read(o, "_load_in_8bit", false, wantBool)
	method, hasMethod := readOptional[string](o, "quant_method", wantString)
	if !hasMethod && (in4 || in8) {
		method = "bitsandbytes" // transformers infers it from load_in_*bit
	}
	if in8 && method == "bitsandbytes" {
		o.fail("load_in_8bit", "true", "8-bit checkpoints cannot be trained; use the 16-bit base or a 4-bit nf4 one")
	}
	return &Quantization{
		Method:       method,
		LoadIn4Bit:   in4,
		QuantType:    readDefaulted(o, "bnb_4bit_quant_type", "fp4"),
		DoubleQuant:  read(o, "bnb_4bit_use_double_quant", false, wantBool),
		ComputeDType: readDefaulted(o, "bnb_4bit_compute_dtype", "float32"),
		QuantStorage: readDefaulted(o, "bnb_4bit_quant_storage", "uint8"),
	}
}

// readDefaulted reads a string where null, like absence, means the default.
func readDefaulted(o *fields, key, def string) string {
	if s, ok := readOptional[string](o, key, wantString); ok {
		return s
	}
	return def
}

// checkLayerTypes refuses a transformers 5.x layer_types list that does not match the attention the
// other keys describe: the trainer has no other per-layer pattern.
func checkLayerTypes(f *fields, c *Config) {
	types, ok := readOptional[[]string](f, "layer_types", "a list of strings")
	if !ok || *f.err != nil {
		return
	}
	if len(types) != c.NumLayers {
		f.fail("layer_types", "", fmt.Sprintf("has %d entries for %d layers", len(types), c.NumLayers))
		return
	}
	for i, t := range types {
		want := "full_attention"
		if c.WindowForLayer(i) > 0 {
			want = "sliding_attention"
		}
		if t != want {
			f.fail(fmt.Sprintf("layer_types[%d]", i), fmt.Sprintf("%q", t),
				fmt.Sprintf("sliding_window, use_sliding_window and max_window_layers say %q", want))
			return
		}
	}
}

// fields is one JSON object of config.json, read key by key so each error names its key and so
// absent, null and present stay distinct. The first error sticks: reads after it return defaults.
type fields struct {
	err    *error // shared by the top level and its nested objects
	prefix string // "" at the top, "rope_scaling." inside rope_scaling
	raw    map[string]json.RawMessage
}

const (
	wantInt    = "an integer"
	wantNumber = "a number"
	wantBool   = "true or false"
	wantString = "a string"
)

func (f *fields) fail(key, value, reason string) {
	if *f.err == nil {
		name := f.prefix + key
		if key == "" {
			name = strings.TrimSuffix(f.prefix, ".")
		}
		*f.err = refuse(name, value, reason)
	}
}

func (f *fields) isNull(key string) bool {
	raw, ok := f.raw[key]
	return ok && isNull(raw)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// object returns the JSON object under key; false when absent or null.
func (f *fields) object(key string) (*fields, bool) {
	raw, ok := f.raw[key]
	if !ok || isNull(raw) || *f.err != nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		f.fail(key, shortJSON(raw), "must be a JSON object")
		return nil, false
	}
	return &fields{err: f.err, prefix: f.prefix + key + ".", raw: m}, true
}

// read returns the value under key, def when absent; null is an error, as the class would fail on it.
func read[T any](f *fields, key string, def T, want string) T {
	raw, ok := f.raw[key]
	if !ok || *f.err != nil {
		return def
	}
	var v T
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		f.fail(key, shortJSON(raw), "must be "+want)
		return def
	}
	return v
}

// readOptional returns the value under key; false when absent or null.
func readOptional[T any](f *fields, key string, want string) (T, bool) {
	var v T
	if raw, ok := f.raw[key]; !ok || isNull(raw) || *f.err != nil {
		return v, false
	}
	v = read(f, key, v, want)
	return v, *f.err == nil
}

// readRequired is read for a key without a default.
func readRequired[T any](f *fields, key string, zero T, want string) T {
	if _, ok := f.raw[key]; !ok {
		f.fail(key, "", "missing; llama3 RoPE needs it")
	}
	return read(f, key, zero, want)
}

// shortJSON is raw for an error message, cut to a readable length.
func shortJSON(raw json.RawMessage) string {
	const limit = 40
	s := string(bytes.TrimSpace(raw))
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
