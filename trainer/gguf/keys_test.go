package gguf

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// keyType is a metadata key and the GGUF type llama.cpp reads it as.
type keyType struct {
	key       string
	typ, elem ValueType
}

// requiredKeys are the keys llama.cpp's loader needs (or its converter always writes) for every
// model, with their types; {arch} is replaced by the architecture.
var requiredKeys = []keyType{
	{"general.architecture", TypeString, TypeString},
	{"general.name", TypeString, TypeString},
	{"general.file_type", TypeUint32, TypeUint32},
	{"general.quantization_version", TypeUint32, TypeUint32},
	{"general.alignment", TypeUint32, TypeUint32},
	{"{arch}.vocab_size", TypeUint32, TypeUint32},
	{"{arch}.context_length", TypeUint32, TypeUint32},
	{"{arch}.embedding_length", TypeUint32, TypeUint32},
	{"{arch}.block_count", TypeUint32, TypeUint32},
	{"{arch}.feed_forward_length", TypeUint32, TypeUint32},
	{"{arch}.attention.head_count", TypeUint32, TypeUint32},
	{"{arch}.attention.head_count_kv", TypeUint32, TypeUint32},
	{"{arch}.attention.key_length", TypeUint32, TypeUint32},
	{"{arch}.attention.value_length", TypeUint32, TypeUint32},
	{"{arch}.rope.dimension_count", TypeUint32, TypeUint32},
	{"{arch}.rope.freq_base", TypeFloat32, TypeFloat32},
	{"{arch}.attention.layer_norm_rms_epsilon", TypeFloat32, TypeFloat32},
	{"tokenizer.ggml.model", TypeString, TypeString},
	{"tokenizer.ggml.pre", TypeString, TypeString},
	{"tokenizer.ggml.tokens", TypeArray, TypeString},
	{"tokenizer.ggml.token_type", TypeArray, TypeInt32},
	{"tokenizer.ggml.bos_token_id", TypeUint32, TypeUint32},
	{"tokenizer.ggml.eos_token_id", TypeUint32, TypeUint32},
	{"tokenizer.ggml.add_bos_token", TypeBool, TypeBool},
	{"tokenizer.ggml.add_eos_token", TypeBool, TypeBool},
}

// tokenizerKeys are the keys of one tokenizer kind only.
var tokenizerKeys = map[string][]keyType{
	"gpt2": {{"tokenizer.ggml.merges", TypeArray, TypeString}},
	"llama": {{"tokenizer.ggml.scores", TypeArray, TypeFloat32}, {"tokenizer.ggml.add_space_prefix", TypeBool, TypeBool},
		{"tokenizer.ggml.unknown_token_id", TypeUint32, TypeUint32}},
}

// TestPlanHF_RequiredKeys ensures every key llama.cpp needs is present with the type it reads, and
// that the architecture's values are the config's.
func TestPlanHF_RequiredKeys(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir, f, _ := exported(t, v, Q8_0)
			cfg, err := model.LoadConfig(dir)
			must(t, err)
			arch := map[string]string{"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}[cfg.Architecture]
			tokModel := getString(t, f, "tokenizer.ggml.model")
			for _, k := range append(slices.Clone(requiredKeys), tokenizerKeys[tokModel]...) {
				key := strings.ReplaceAll(k.key, "{arch}", arch)
				val, ok := f.Get(key)
				if !ok {
					t.Errorf("%s is missing", key)
					continue
				}
				if val.Type() != k.typ || val.Elem() != k.elem {
					t.Errorf("%s is %s, want %s of %s", key, val.TypeName(), k.typ, k.elem)
				}
			}
			wantUint32 := map[string]int{
				arch + ".block_count": cfg.NumLayers, arch + ".embedding_length": cfg.HiddenSize,
				arch + ".feed_forward_length": cfg.IntermediateSize, arch + ".attention.head_count": cfg.NumHeads,
				arch + ".attention.head_count_kv": cfg.NumKVHeads, arch + ".rope.dimension_count": cfg.HeadDim,
				arch + ".context_length": cfg.MaxPositionEmbeddings, arch + ".vocab_size": cfg.VocabSize,
				"general.file_type": 7, "general.quantization_version": 2, "general.alignment": 32,
			}
			for key, want := range wantUint32 {
				if got := getUint32(t, f, key); int(got) != want {
					t.Errorf("%s = %d, want %d", key, got, want)
				}
			}
			if got := getFloat32(t, f, arch+".rope.freq_base"); got != float32(cfg.RopeTheta) {
				t.Errorf("rope.freq_base %g, want %g", got, cfg.RopeTheta)
			}
			if got := getFloat32(t, f, arch+".attention.layer_norm_rms_epsilon"); got != float32(cfg.RMSNormEps) {
				t.Errorf("layer_norm_rms_epsilon %g, want %g", got, cfg.RMSNormEps)
			}
			if got := getString(t, f, "general.architecture"); got != arch {
				t.Errorf("general.architecture %q, want %q", got, arch)
			}
			if n := mustArrayLen(t, f, "tokenizer.ggml.tokens"); n != cfg.VocabSize {
				t.Errorf("%d tokens, vocab_size %d", n, cfg.VocabSize)
			}
			if n := mustArrayLen(t, f, "tokenizer.ggml.token_type"); n != cfg.VocabSize {
				t.Errorf("%d token types, vocab_size %d", n, cfg.VocabSize)
			}
		})
	}
}

// TestPlanHF_FileTypes ensures general.file_type follows the type: F32 0, F16 1, Q8_0 7, BF16 32.
func TestPlanHF_FileTypes(t *testing.T) {
	for typ, want := range map[GGMLType]uint32{F32: 0, F16: 1, Q8_0: 7, BF16: 32} {
		_, f, _ := exported(t, variantNamed("llama-chatml-gpt2"), typ)
		if got := getUint32(t, f, "general.file_type"); got != want {
			t.Errorf("%s: general.file_type %d, want %d", typ, got, want)
		}
	}
}

// TestPlanHF_ByteLevelTokenizer ensures byte-level tokenizers are gpt2 with the right pre-tokenizer,
// the merges in rank order as "a b", specials as control tokens, the BOS the post-processor adds
// and the chat template.
func TestPlanHF_ByteLevelTokenizer(t *testing.T) {
	for _, c := range []struct {
		v          variant
		pre        string
		merges     int
		firstMerge string
		bos, eos   uint32
		addBOS     bool
		control    []int
		template   string
	}{
		{v: variantNamed("llama-chatml-gpt2"), pre: "gpt-2", merges: 96, bos: 352, eos: 353, addBOS: true, control: []int{352, 353, 354, 355}, template: "<|im_start|>"},
		{v: variantNamed("llama3-ropescaled"), pre: "llama-bpe", merges: 34, firstMerge: "Ġ t", bos: 290, eos: 294, addBOS: true, control: []int{290, 291, 292, 293, 294}, template: "<|start_header_id|>"},
		{v: variantNamed("qwen2-bias-tied"), pre: "qwen2", merges: 34, firstMerge: "Ġ t", bos: 290, eos: 294, addBOS: true, control: []int{290, 291, 292, 293, 294}, template: "<|start_header_id|>"},
	} {
		t.Run(c.v.name, func(t *testing.T) {
			_, f, _ := exported(t, c.v, F16)
			if m := getString(t, f, "tokenizer.ggml.model"); m != "gpt2" {
				t.Errorf("model %q, want gpt2", m)
			}
			if p := getString(t, f, "tokenizer.ggml.pre"); p != c.pre {
				t.Errorf("pre %q, want %q", p, c.pre)
			}
			val, _ := f.Get("tokenizer.ggml.merges")
			merges, _ := val.AsStrings()
			if len(merges) != c.merges || c.firstMerge != "" && merges[0] != c.firstMerge {
				t.Errorf("%d merges starting %q, want %d starting %q", len(merges), merges[:1], c.merges, c.firstMerge)
			}
			types := getInt32s(t, f, "tokenizer.ggml.token_type")
			for id, typ := range types {
				want := TokenNormal
				if slices.Contains(c.control, id) {
					want = TokenControl
				}
				if typ != want {
					t.Errorf("token %d has type %d, want %d", id, typ, want)
				}
			}
			if got := getUint32(t, f, "tokenizer.ggml.bos_token_id"); got != c.bos {
				t.Errorf("bos %d, want %d", got, c.bos)
			}
			if got := getUint32(t, f, "tokenizer.ggml.eos_token_id"); got != c.eos {
				t.Errorf("eos %d, want %d", got, c.eos)
			}
			if got := getBool(t, f, "tokenizer.ggml.add_bos_token"); got != c.addBOS {
				t.Errorf("add_bos_token %v, want %v", got, c.addBOS)
			}
			if _, ok := f.Get("tokenizer.ggml.scores"); ok {
				t.Error("a gpt2 tokenizer has scores")
			}
			if tmpl := getString(t, f, "tokenizer.chat_template"); !strings.Contains(tmpl, c.template) {
				t.Errorf("chat template %q", tmpl)
			}
		})
	}
}

// TestPlanHF_SentencePieceTokenizer ensures a SentencePiece-style tokenizer is written as llama:
// byte tokens of type 6, <unk>, <s>, </s> as control tokens, padding ids unused, merge-rank scores
// (the first merge's token highest, unmerged tokens lowest), add_bos without add_eos, and a space
// prefix.
func TestPlanHF_SentencePieceTokenizer(t *testing.T) {
	_, f, _ := exported(t, variantNamed("llama-sentencepiece"), F16)
	if m := getString(t, f, "tokenizer.ggml.model"); m != "llama" {
		t.Fatalf("model %q, want llama", m)
	}
	if p := getString(t, f, "tokenizer.ggml.pre"); p != "default" {
		t.Errorf("pre %q, want default", p)
	}
	tokensVal, _ := f.Get("tokenizer.ggml.tokens")
	tokens, _ := tokensVal.AsStrings()
	types := getInt32s(t, f, "tokenizer.ggml.token_type")
	scoresVal, _ := f.Get("tokenizer.ggml.scores")
	scores, _ := scoresVal.AsFloat32s()
	for id, tok := range tokens {
		want := TokenNormal
		switch {
		case id <= 2:
			want = TokenControl
		case id >= 320:
			want = TokenUnused
			if tok != "[PAD"+strconv.Itoa(id)+"]" {
				t.Errorf("token %d is %q", id, tok)
			}
		case strings.HasPrefix(tok, "<0x"):
			want = TokenByte
		}
		if types[id] != want {
			t.Errorf("token %d %q has type %d, want %d", id, tok, types[id], want)
		}
	}
	first, second := slices.Index(tokens, "▁t"), slices.Index(tokens, "▁th") // merges 0 and 1
	if scores[first] != 0 || scores[second] != -1 || scores[3] != -29 {
		t.Errorf("scores of ▁t %g, ▁th %g, <0x00> %g; want 0, -1, -29 (29 merges)", scores[first], scores[second], scores[3])
	}
	for key, want := range map[string]uint32{"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
		"tokenizer.ggml.unknown_token_id": 0} {
		if got := getUint32(t, f, key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	for key, want := range map[string]bool{"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": false,
		"tokenizer.ggml.add_space_prefix": true} {
		if got := getBool(t, f, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if _, ok := f.Get("tokenizer.ggml.merges"); ok {
		t.Error("a llama tokenizer has merges")
	}
}

func getValue(t *testing.T, f *File, key string) Value {
	t.Helper()
	v, ok := f.Get(key)
	if !ok {
		t.Fatalf("%s is missing", key)
	}
	return v
}

func getString(t *testing.T, f *File, key string) string {
	t.Helper()
	s, ok := getValue(t, f, key).AsString()
	if !ok {
		t.Fatalf("%s is not a string", key)
	}
	return s
}

func getUint32(t *testing.T, f *File, key string) uint32 {
	t.Helper()
	x, ok := getValue(t, f, key).AsUint32()
	if !ok {
		t.Fatalf("%s is not a uint32", key)
	}
	return x
}

func getFloat32(t *testing.T, f *File, key string) float32 {
	t.Helper()
	x, ok := getValue(t, f, key).AsFloat32()
	if !ok {
		t.Fatalf("%s is not a float32", key)
	}
	return x
}

func getBool(t *testing.T, f *File, key string) bool {
	t.Helper()
	x, ok := getValue(t, f, key).AsBool()
	if !ok {
		t.Fatalf("%s is not a bool", key)
	}
	return x
}

func getInt32s(t *testing.T, f *File, key string) []int32 {
	t.Helper()
	x, ok := getValue(t, f, key).AsInt32s()
	if !ok {
		t.Fatalf("%s is not an int32 array", key)
	}
	return x
}

func mustArrayLen(t *testing.T, f *File, key string) int {
	t.Helper()
	v := getValue(t, f, key)
	if v.Type() != TypeArray {
		t.Fatalf("%s is not an array", key)
	}
	return v.Len()
}
