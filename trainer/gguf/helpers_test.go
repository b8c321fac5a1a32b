package gguf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
)

const tokenizerData = "../../testdata/tokenizer"

// variant is a tiny Hugging Face model folder the tests export.
type variant struct {
	name string
	make func(t *testing.T, dir string)
}

// variants cover both tokenizer kinds, the three architectures, GQA, tied embeddings, biases,
// Llama 3.1 RoPE scaling, a padded vocabulary and rows that are not whole Q8_0 blocks.
var variants = []variant{
	{"llama-chatml-gpt2", func(t *testing.T, dir string) {
		// byte-level BPE with GPT-2's regex, ChatML template; hidden 32, 4 heads over 2 KV heads
		must(t, fixtures.ChatModel(dir, 7))
	}},
	{"llama-sentencepiece", func(t *testing.T, dir string) {
		// vocab_size 324 over a 320-token tokenizer; ffn_down rows of 176 are not whole Q8_0 blocks
		writeModel(t, dir, tinymodel.Shape{Arch: "llama", Vocab: 324, Hidden: 64, Intermediate: 176, Layers: 2, Heads: 4, KVHeads: 2})
		copyTokenizer(t, dir, "tiny-sentencepiece", nil)
	}},
	{"llama3-ropescaled", func(t *testing.T, dir string) {
		// Llama 3.1 RoPE scaling with an original context of 32, so that few frequencies escape it
		writeModel(t, dir, tinymodel.Shape{Arch: "llama", Vocab: 295, Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 1})
		editConfig(t, dir, func(c map[string]any) {
			c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
				"high_freq_factor": 4.0, "original_max_position_embeddings": 32}
			c["max_position_embeddings"] = 4096
		})
		copyTokenizer(t, dir, "tiny-bytelevel", nil)
	}},
	{"mistral-sentencepiece", func(t *testing.T, dir string) {
		writeModel(t, dir, tinymodel.Shape{Arch: "mistral", Vocab: 320, Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 2})
		copyTokenizer(t, dir, "tiny-sentencepiece", nil)
	}},
	{"qwen2-bias-tied", func(t *testing.T, dir string) {
		// q, k and v biases, tied embeddings as the small Qwen2 models have them
		writeModel(t, dir, tinymodel.Shape{Arch: "qwen2", Vocab: 295, Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2, Tied: true})
		copyTokenizer(t, dir, "tiny-bytelevel", qwen2Regex)
	}},
}

// variantNamed returns the variant called name.
func variantNamed(name string) variant {
	for _, v := range variants {
		if v.name == name {
			return v
		}
	}
	panic("no test variant " + name)
}

// qwen2Regex turns the Llama 3 style tokenizer into a Qwen2 style one: single digits.
func qwen2Regex(js string) string {
	return strings.Replace(js, `\\p{N}{1,3}`, `\\p{N}`, 1)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeModel(t *testing.T, dir string, s tinymodel.Shape) {
	t.Helper()
	must(t, tinymodel.Write(dir, s, 11))
}

// copyTokenizer copies a test tokenizer's files into dir, passing tokenizer.json through edit.
func copyTokenizer(t *testing.T, dir, name string, edit func(string) string) {
	t.Helper()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokenizerData, name, f))
		must(t, err)
		if edit != nil && f == "tokenizer.json" {
			edited := edit(string(b))
			if edited == string(b) {
				t.Fatalf("%s: the edit changed nothing", name)
			}
			b = []byte(edited)
		}
		must(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	must(t, err)
	var c map[string]any
	must(t, json.Unmarshal(b, &c))
	edit(c)
	b, err = json.MarshalIndent(c, "", "  ")
	must(t, err)
	must(t, os.WriteFile(path, b, 0o644))
}

// exported writes the variant's model folder and exports it as type typ; it returns the folder and
// the GGUF file, opened.
func exported(t *testing.T, v variant, typ GGMLType) (string, *File, *Plan) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), v.name)
	must(t, os.MkdirAll(dir, 0o755))
	v.make(t, dir)
	plan, err := PlanHF(dir, Options{Type: typ})
	must(t, err)
	t.Cleanup(func() { plan.Close() })
	path := filepath.Join(t.TempDir(), FileName(v.name, typ))
	must(t, plan.Write(path))
	f, err := Open(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return dir, f, plan
}
