package gguf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// TestLlamaCpp_Dump writes every test variant, exported in every type, into $GGUF_LLAMACPP_OUT with
// results.json: each text's Hugging Face token ids and our model's greedy continuation. Then
// testdata/llamacpp/check.mjs loads each file in llama.cpp (node-llama-cpp's prebuilt build) and
// requires the same tokens and, for F32, F16 and BF16, the same continuation. Skipped unless the
// variable is set: the default tests need neither node nor llama.cpp.
func TestLlamaCpp_Dump(t *testing.T) {
	out := os.Getenv("GGUF_LLAMACPP_OUT")
	if out == "" {
		t.Skip("set GGUF_LLAMACPP_OUT to write the files testdata/llamacpp/check.mjs checks")
	}
	texts := []string{"Hello world, this is a test.", "The capital of France is Paris. 12345", " the then these there"}
	type result struct {
		Name   string
		Files  map[string]string
		Texts  []string
		Tokens [][]int32
		Greedy [][]int32 // our model's greedy continuation (float32 CPU backend, weights unquantized)
	}
	var results []result
	for _, v := range variants {
		dir := filepath.Join(out, v.name)
		must(t, os.MkdirAll(dir, 0o755))
		v.make(t, dir)
		r := result{Name: v.name, Files: map[string]string{}, Texts: texts}
		for _, typ := range exportTypes {
			plan, err := PlanHF(dir, Options{Type: typ})
			must(t, err)
			path := filepath.Join(out, FileName(v.name, typ))
			must(t, plan.Write(path))
			plan.Close()
			r.Files[typ.String()] = path
		}
		tok, err := tokenizer.Load(dir)
		must(t, err)
		m, err := model.Load(cpu.New[float32](), dir, model.Options{Base: model.BaseFull})
		must(t, err)
		for _, text := range texts {
			ids := tok.Encode(text, true)
			r.Tokens = append(r.Tokens, ids)
			g, err := m.Generate(ids, model.Sampling{MaxTokens: 12})
			must(t, err)
			r.Greedy = append(r.Greedy, g)
		}
		results = append(results, r)
	}
	js, err := json.MarshalIndent(results, "", " ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(out, "results.json"), js, 0o644))
}
