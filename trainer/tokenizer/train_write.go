package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
)

// Writing a trained tokenizer as Llama 3's tokenizer.json is laid out (Split with Llama 3's pattern
// then ByteLevel, ignore_merges, a ByteLevel decoder, BOS added by a TemplateProcessing
// post-processor) with tokenizer_config.json for ChatML. Keys are written in the order HF writes
// them, the vocabulary in id order, so that the files read well and diff small.

// TrainedChatTemplate is a trained tokenizer's chat template: ChatML, after the BOS that starts
// every sequence the model was trained on.
const TrainedChatTemplate = "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// WriteTrained writes t into dir as tokenizer.json and tokenizer_config.json, creating dir.
func WriteTrained(dir string, t *TrainedBPE) error {
	tokenizer, err := marshalOrdered(t.tokenizerJSON())
	if err != nil {
		return err
	}
	config, err := marshalOrdered(trainedConfig{
		BOS: TrainedBOS, EOS: TrainedEOS, Pad: TrainedEOS, ChatTemplate: TrainedChatTemplate,
		TokenizerClass: "PreTrainedTokenizerFast",
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safefile.WriteFile(filepath.Join(dir, "tokenizer.json"), tokenizer); err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), config)
}

// marshalOrdered is JSON indented by two spaces, without HTML escapes ("<|im_end|>" stays as it
// is), ending in a newline.
func marshalOrdered(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return b.Bytes(), err
}

type trainedConfig struct {
	BOS                       string `json:"bos_token"`
	EOS                       string `json:"eos_token"`
	Pad                       string `json:"pad_token"`
	ChatTemplate              string `json:"chat_template"`
	CleanUpTokenizationSpaces bool   `json:"clean_up_tokenization_spaces"`
	TokenizerClass            string `json:"tokenizer_class"`
}

// The parts of tokenizer.json, as structs so that keys keep HF's order.
type (
	trainedTokenizerJSON struct {
		Version       string           `json:"version"`
		Truncation    any              `json:"truncation"`
		Padding       any              `json:"padding"`
		AddedTokens   []addedTokenJSON `json:"added_tokens"`
		Normalizer    any              `json:"normalizer"`
		PreTokenizer  any              `json:"pre_tokenizer"`
		PostProcessor any              `json:"post_processor"`
		Decoder       any              `json:"decoder"`
		Model         trainedModelJSON `json:"model"`
	}
	trainedModelJSON struct {
		Type                    string       `json:"type"`
		Dropout                 any          `json:"dropout"`
		UnkToken                any          `json:"unk_token"`
		ContinuingSubwordPrefix any          `json:"continuing_subword_prefix"`
		EndOfWordSuffix         any          `json:"end_of_word_suffix"`
		FuseUnk                 bool         `json:"fuse_unk"`
		ByteFallback            bool         `json:"byte_fallback"`
		IgnoreMerges            bool         `json:"ignore_merges"`
		Vocab                   orderedVocab `json:"vocab"`
		Merges                  []string     `json:"merges"`
	}
	byteLevelJSON struct {
		Type           string `json:"type"`
		AddPrefixSpace bool   `json:"add_prefix_space"`
		TrimOffsets    bool   `json:"trim_offsets"`
		UseRegex       bool   `json:"use_regex"`
	}
	preSequenceJSON struct {
		Type          string `json:"type"`
		PreTokenizers []any  `json:"pretokenizers"`
	}
	postSequenceJSON struct {
		Type       string `json:"type"`
		Processors []any  `json:"processors"`
	}
	splitJSON struct {
		Type     string            `json:"type"`
		Pattern  map[string]string `json:"pattern"`
		Behavior string            `json:"behavior"`
		Invert   bool              `json:"invert"`
	}
	templateJSON struct {
		Type          string         `json:"type"`
		Single        []any          `json:"single"`
		Pair          []any          `json:"pair"`
		SpecialTokens map[string]any `json:"special_tokens"`
	}
)

// orderedVocab writes the vocabulary as a JSON object in id order.
type orderedVocab []string

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, tok := range v {
		if id > 0 {
			b.WriteByte(',')
		}
		key, err := marshalString(tok)
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalString is a JSON string without HTML escapes.
func marshalString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (t *TrainedBPE) tokenizerJSON() trainedTokenizerJSON {
	learned := len(t.Tokens) - len(TrainedSpecials)
	var added []addedTokenJSON
	for i, s := range TrainedSpecials {
		added = append(added, addedTokenJSON{ID: int32(learned + i), Content: s, Special: true})
	}
	merges := make([]string, len(t.Merges))
	for i, m := range t.Merges {
		merges[i] = m[0] + " " + m[1] // byte-level tokens hold no space: "a b" is unambiguous
	}
	return trainedTokenizerJSON{
		Version:     "1.0",
		AddedTokens: added,
		PreTokenizer: preSequenceJSON{Type: "Sequence", PreTokenizers: []any{
			splitJSON{Type: "Split", Pattern: map[string]string{"Regex": llama3Pattern}, Behavior: "Isolated"},
			byteLevelJSON{Type: "ByteLevel", TrimOffsets: true},
		}},
		PostProcessor: postSequenceJSON{Type: "Sequence", Processors: []any{
			byteLevelJSON{Type: "ByteLevel", AddPrefixSpace: true, UseRegex: true},
			t.bosTemplate(),
		}},
		Decoder: byteLevelJSON{Type: "ByteLevel", AddPrefixSpace: true, TrimOffsets: true, UseRegex: true},
		Model: trainedModelJSON{Type: "BPE", IgnoreMerges: true, Vocab: orderedVocab(t.Tokens[:learned]),
			Merges: merges},
	}
}

// bosTemplate is TemplateProcessing putting BOS before each sequence, as Llama 3's does.
func (t *TrainedBPE) bosTemplate() templateJSON {
	special := func(typeID int) any {
		return map[string]any{"SpecialToken": map[string]any{"id": TrainedBOS, "type_id": typeID}}
	}
	seq := func(id string, typeID int) any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typeID}}
	}
	return templateJSON{
		Type:   "TemplateProcessing",
		Single: []any{special(0), seq("A", 0)},
		Pair:   []any{special(0), seq("A", 0), special(1), seq("B", 1)},
		SpecialTokens: map[string]any{TrainedBOS: map[string]any{
			"id": TrainedBOS, "ids": []int32{t.SpecialID(TrainedBOS)}, "tokens": []string{TrainedBOS}}},
	}
}

// String summarizes the vocabulary for the command line.
func (t *TrainedBPE) String() string {
	return fmt.Sprintf("%d tokens (256 bytes, %d merges, %d special) from %d distinct words in %d lines",
		len(t.Tokens), len(t.Merges), len(TrainedSpecials), t.Words, t.Lines)
}
