package gguf

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/npmtok"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// tokenizerMetadata writes the tokenizer's metadata into a File, as the reader would see it.
func tokenizerMetadata(t *testing.T, tok *tokenizer.Tokenizer) *File {
	t.Helper()
	cfg := &model.Config{VocabSize: tok.VocabSize(), BOSTokenID: model.NoToken}
	kvs, err := tokenizerKVs(cfg, tok, "")
	must(t, err)
	h, err := encodeHeader(kvs, nil)
	must(t, err)
	f, err := parseBytes(h.bytes)
	must(t, err)
	return f
}

// TestTokenizerKVs_RealByteLevel ensures Llama 3's and Qwen3's real tokenizers are recognized by
// their regexes, keep every token and merge, and mark their special tokens as control tokens.
func TestTokenizerKVs_RealByteLevel(t *testing.T) {
	for _, c := range []struct{ name, pre string }{{"llama3", "llama-bpe"}, {"qwen3", "qwen2"}} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := tokenizer.Load(npmtok.Dir(t, c.name))
			must(t, err)
			f := tokenizerMetadata(t, tok)
			if got := getString(t, f, KeyTokenizerPre); got != c.pre {
				t.Errorf("pre %q, want %q", got, c.pre)
			}
			e := tok.Export()
			if n := mustArrayLen(t, f, KeyMerges); n != len(e.Merges) || n < 100000 {
				t.Errorf("%d merges, the tokenizer has %d", n, len(e.Merges))
			}
			types := getInt32s(t, f, KeyTokenTypes)
			for id, special := range e.Added {
				if special && types[id] != TokenControl {
					t.Errorf("special token %d %q has type %d", id, e.Tokens[id], types[id])
				}
			}
			// add_bos_token says what Hugging Face's encode does (this copy of Llama 3's adds none)
			if bos, ok := tok.BOS(); ok {
				adds := tok.Encode("a", true)[0] == bos
				if getUint32(t, f, KeyBOS) != uint32(bos) || getBool(t, f, KeyAddBOS) != adds {
					t.Errorf("bos %d, add_bos %v; want %d, %v", getUint32(t, f, KeyBOS), getBool(t, f, KeyAddBOS), bos, adds)
				}
			}
		})
	}
}

// TestTokenizerKVs_SentencePieceScores ensures the scores make llama.cpp's SentencePiece
// tokenizer (merge the adjacent pair whose joined token scores highest, leftmost first) give the
// ids the Hugging Face tokenizer gives, on the tiny tokenizer and on Mistral's real one; and that
// on the real one the -1000 everywhere that llama.cpp's converter writes does not.
func TestTokenizerKVs_SentencePieceScores(t *testing.T) {
	texts := []string{
		"Hello world, this is a test of the tokenizer.",
		"The quick brown fox jumps over the lazy dog; 1234567890 times!",
		"the then these there their theatre thermal",
		"Ünïcödé ☃, emoji 🦙 and 日本語 too",
		"   multiple   spaces\nand\ttabs  ",
	}
	for _, name := range []string{"tiny-sentencepiece", "llama2"} {
		t.Run(name, func(t *testing.T) {
			dir := tokenizerData + "/" + name
			if name == "llama2" {
				dir = npmtok.Dir(t, name)
			}
			tok, err := tokenizer.Load(dir)
			must(t, err)
			f := tokenizerMetadata(t, tok)
			tokens, _ := getValue(t, f, KeyTokens).AsStrings()
			scores, _ := getValue(t, f, KeyScores).AsFloat32s()
			types := getInt32s(t, f, KeyTokenTypes)
			flat := slices.Repeat([]float32{-1000}, len(scores))
			differs := false
			for _, text := range texts {
				want := fmt.Sprint(tok.Encode(text, false))
				if got := fmt.Sprint(spmTokenize(text, tokens, scores, types)); got != want {
					t.Errorf("%q: llama.cpp would give %s, Hugging Face gives %s", text, got, want)
				}
				differs = differs || fmt.Sprint(spmTokenize(text, tokens, flat, types)) != want
			}
			if name == "llama2" && !differs {
				t.Error("flat scores tokenize these texts right too: the test proves nothing")
			}
		})
	}
}

// spmTokenize is llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm) as far as these texts
// need: spaces as "▁" with one in front, UTF-8 characters merged pair by pair (highest score of the
// joined token first, leftmost among equals), what is not a token spelled as <0xNN> byte tokens.
func spmTokenize(text string, tokens []string, scores []float32, types []int32) []int32 {
	ids := map[string]int32{}
	for id, tok := range tokens {
		if types[id] != TokenUnused {
			ids[tok] = int32(id)
		}
	}
	var syms []string
	for _, r := range "▁" + strings.ReplaceAll(text, " ", "▁") {
		syms = append(syms, string(r))
	}
	for {
		best, bestScore := -1, float32(0)
		for i := 0; i+1 < len(syms); i++ {
			id, ok := ids[syms[i]+syms[i+1]]
			if ok && (best < 0 || scores[id] > bestScore) {
				best, bestScore = i, scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms = slices.Replace(syms, best, best+2, syms[best]+syms[best+1])
	}
	var out []int32
	for _, s := range syms {
		if id, ok := ids[s]; ok {
			out = append(out, id)
			continue
		}
		for _, b := range []byte(s) {
			out = append(out, ids[fmt.Sprintf("<0x%02X>", b)])
		}
	}
	return out
}
