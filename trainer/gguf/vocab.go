package gguf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Tokenizer metadata keys.
const (
	KeyTokenizerModel = "tokenizer.ggml.model"
	KeyTokenizerPre   = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenTypes     = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyBOS            = "tokenizer.ggml.bos_token_id"
	KeyEOS            = "tokenizer.ggml.eos_token_id"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyPAD            = "tokenizer.ggml.padding_token_id"
	KeyAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	KeyChatTemplate   = "tokenizer.chat_template"
)

// Token types of tokenizer.ggml.token_type (llama.h's llama_token_type).
const (
	TokenNormal      int32 = 1
	TokenUnknown     int32 = 2
	TokenControl     int32 = 3
	TokenUserDefined int32 = 4
	TokenUnused      int32 = 5
	TokenByte        int32 = 6
)

// preNames are the tokenizer.ggml.pre values of the byte-level pre-tokenizers llama.cpp knows by
// their regex.
var preNames = map[string]string{
	tokenizer.SplitLlama3: "llama-bpe",
	tokenizer.SplitQwen2:  "qwen2",
	tokenizer.SplitGPT2:   "gpt-2",
}

var byteToken = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// vocab is a tokenizer laid out as llama.cpp reads it.
type vocab struct {
	tokens []string
	types  []int32
	scores []float32 // SentencePiece style only
}

// tokenizerKVs is the tokenizer.* metadata. A byte-level BPE tokenizer is written as "gpt2" (tokens,
// types, merges, the pre-tokenizer's name); a SentencePiece-style one as "llama" (tokens, types,
// scores). pre overrides the pre-tokenizer's name for byte-level regexes this package does not
// recognize.
func tokenizerKVs(cfg *model.Config, tok *tokenizer.Tokenizer, pre string) ([]KV, error) {
	e := tok.Export()
	if len(e.Tokens) > cfg.VocabSize {
		return nil, fmt.Errorf("the tokenizer has %d tokens, more than vocab_size %d", len(e.Tokens), cfg.VocabSize)
	}
	v := buildVocab(e, cfg.VocabSize)
	var kvs []KV
	if e.ByteLevel {
		name, err := preName(e, pre)
		if err != nil {
			return nil, err
		}
		merges := make([]string, len(e.Merges))
		for i, m := range e.Merges {
			merges[i] = m[0] + " " + m[1]
		}
		kvs = []KV{{KeyTokenizerModel, String("gpt2")}, {KeyTokenizerPre, String(name)},
			{KeyTokens, Strings(v.tokens)}, {KeyTokenTypes, Int32s(v.types)}, {KeyMerges, Strings(merges)}}
	} else {
		kvs = []KV{{KeyTokenizerModel, String("llama")}, {KeyTokenizerPre, String("default")},
			{KeyTokens, Strings(v.tokens)}, {KeyScores, Float32s(v.scores)}, {KeyTokenTypes, Int32s(v.types)},
			{KeyAddSpacePrefix, Bool(e.PrependSpace)}}
	}
	special, err := specialKVs(cfg, e)
	if err != nil {
		return nil, err
	}
	kvs = append(kvs, special...)
	if e.ChatTemplate != "" {
		kvs = append(kvs, KV{KeyChatTemplate, String(e.ChatTemplate)})
	}
	return kvs, nil
}

// preName is tokenizer.ggml.pre for a byte-level tokenizer: llama.cpp tokenizes differently for
// each, so an unknown regex is refused rather than guessed.
func preName(e tokenizer.Export, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	if name, ok := preNames[e.Split]; ok {
		return name, nil
	}
	return "", fmt.Errorf("the byte-level pre-tokenizer splits with %s, not with one of the regexes llama.cpp is "+
		"known to match (GPT-2's, Llama 3's, Qwen2's); name llama.cpp's pre-tokenizer for it explicitly", describeSplit(e.Split))
}

func describeSplit(s string) string {
	if s == tokenizer.SplitNone {
		return "no regex"
	}
	return "another regex"
}

// buildVocab lays out n tokens: holes and ids beyond the tokenizer become "[PADn]" tokens of type
// unused, as llama.cpp's converter pads them.
func buildVocab(e tokenizer.Export, n int) vocab {
	v := vocab{tokens: make([]string, n), types: make([]int32, n)}
	for id := range n {
		v.tokens[id], v.types[id] = tokenAndType(e, int32(id))
	}
	if !e.ByteLevel {
		v.scores = mergeScores(e, v.tokens)
	}
	return v
}

// tokenAndType follows llama.cpp's converter: added tokens are control tokens when special (or
// when they look like "<|...|>"), else user-defined with "▁" written as a space; <0xNN> tokens of
// a byte-fallback vocabulary are bytes; the unknown token is unknown.
func tokenAndType(e tokenizer.Export, id int32) (string, int32) {
	var text string
	if int(id) < len(e.Tokens) {
		text = e.Tokens[id]
	}
	special, added := e.Added[id]
	switch {
	case text == "":
		return fmt.Sprintf("[PAD%d]", id), TokenUnused
	case added && (special || looksSpecial(text)):
		return text, TokenControl
	case added:
		return strings.ReplaceAll(text, "\u2581", " "), TokenUserDefined
	case !e.ByteLevel && e.ByteFallback && byteToken.MatchString(text):
		return text, TokenByte
	case id == e.UNK:
		return text, TokenUnknown
	}
	return text, TokenNormal
}

// looksSpecial is the converter's does_token_look_special: tokens some models fail to mark special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>") ||
		strings.HasPrefix(t, "<｜") && strings.HasSuffix(t, "｜>") ||
		strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">")
}

// mergeScores gives each token -r, r the rank of the first merge that makes it, and every token no
// merge makes a score below them all. llama.cpp's SentencePiece tokenizer merges the adjacent pair
// whose joined token scores highest, so these scores make it merge in the order of the BPE merges;
// llama.cpp's converter writes -1000 for every token of a tokenizer.json-only model, which makes it
// merge leftmost-first instead.
func mergeScores(e tokenizer.Export, tokens []string) []float32 {
	rank := make(map[string]int, len(e.Merges))
	for r, m := range e.Merges {
		if _, seen := rank[m[0]+m[1]]; !seen {
			rank[m[0]+m[1]] = r
		}
	}
	scores := make([]float32, len(tokens))
	for id, t := range tokens {
		r, ok := rank[t]
		if _, added := e.Added[int32(id)]; !ok || added {
			r = len(e.Merges)
		}
		scores[id] = -float32(r)
	}
	return scores
}

// specialKVs is the special token ids and whether llama.cpp adds BOS and EOS. Ids come from the
// tokenizer (tokenizer_config.json, then its post-processor), then config.json, as the converter
// takes them.
func specialKVs(cfg *model.Config, e tokenizer.Export) ([]KV, error) {
	bos, eos := e.BOS, e.EOS
	if bos < 0 && cfg.BOSTokenID != model.NoToken {
		bos = int32(cfg.BOSTokenID)
	}
	if eos < 0 && len(cfg.EOSTokenIDs) > 0 {
		eos = int32(cfg.EOSTokenIDs[0])
	}
	var kvs []KV
	for _, s := range []struct {
		key string
		id  int32
	}{{KeyBOS, bos}, {KeyEOS, eos}, {KeyUNK, e.UNK}, {KeyPAD, e.PAD}} {
		if s.id < 0 {
			continue
		}
		if int(s.id) >= cfg.VocabSize {
			return nil, fmt.Errorf("%s %d is outside the vocabulary of %d", s.key, s.id, cfg.VocabSize)
		}
		kvs = append(kvs, KV{s.key, Uint32(uint32(s.id))})
	}
	addBOS := bos >= 0 && slices.Contains(e.Prefix, bos)
	addEOS := eos >= 0 && slices.Contains(e.Suffix, eos)
	return append(kvs, KV{KeyAddBOS, Bool(addBOS)}, KV{KeyAddEOS, Bool(addEOS)}), nil
}
