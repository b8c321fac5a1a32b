package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and back as the Hugging Face tokenizer described by a
// tokenizer.json does. It is safe for concurrent use.
type Tokenizer struct {
	model *bpe
	norm  normalizer    // nil: none
	pre   preTokenizer  // nil: the whole text is one word
	post  postProcessor // nil: Encode(…, true) adds nothing
	dec   decoder       // nil: tokens joined with spaces, as HF does

	addedByContent map[string]*addedToken
	addedByID      map[int32]*addedToken
	rawMatcher     *addedMatcher // added tokens matched in the raw text
	normMatcher    *addedMatcher // added tokens matched in normalized text

	bos, eos     int32             // -1: none
	specials     map[string]string // tokenizer_config.json's bos_token, eos_token, ...: for templates
	chatTemplate string            // the model's own, "" for none

	ownTemplateOnce sync.Once
	ownTemplate     *ChatTemplate
	ownTemplateErr  error

	scratch sync.Pool // *encodeScratch
}

type encodeScratch struct {
	split splitScratch
	word  wordScratch
	words []word
}

// Encode returns the token ids of text. With addSpecial it adds the special tokens the
// tokenizer's post-processor adds (Llama's BOS, for one), as HF's encode does by default; a
// rendered chat template already holds its special tokens and is encoded without.
//
// Text that is not valid UTF-8 is read as Rust's String::from_utf8_lossy reads it: each maximal
// ill-formed sequence stands for one U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	if !utf8.ValidString(text) {
		text = string(appendLossyUTF8(nil, []byte(text)))
	}
	sc, _ := t.scratch.Get().(*encodeScratch)
	if sc == nil {
		sc = &encodeScratch{}
	}
	ids := make([]int32, 0, len(text)/4+4)
	t.rawMatcher.split(text, func(piece string, start int, tok *addedToken) {
		switch {
		case tok != nil:
			ids = append(ids, tok.id)
		case piece != "":
			ids = t.encodeNormalizable(ids, piece, start == 0, sc)
		}
	})
	t.scratch.Put(sc)
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// encodeNormalizable encodes a piece of text between non-normalized added tokens: it is
// normalized, split at the normalized added tokens, pre-tokenized and given to the model.
func (t *Tokenizer) encodeNormalizable(ids []int32, piece string, first bool, sc *encodeScratch) []int32 {
	if t.norm != nil {
		piece = t.norm.normalize(piece)
	}
	if t.normMatcher.empty() {
		return t.encodeWords(ids, word{piece, first}, sc)
	}
	t.normMatcher.split(piece, func(sub string, start int, tok *addedToken) {
		switch {
		case tok != nil:
			ids = append(ids, tok.id)
		case sub != "":
			ids = t.encodeWords(ids, word{sub, first && start == 0}, sc)
		}
	})
	return ids
}

func (t *Tokenizer) encodeWords(ids []int32, w word, sc *encodeScratch) []int32 {
	if w.text == "" {
		return ids
	}
	if t.pre == nil {
		return t.model.encodeWord(ids, w.text, &sc.word)
	}
	sc.words = t.pre.preTokenize(sc.words[:0], w, &sc.split)
	for _, x := range sc.words {
		ids = t.model.encodeWord(ids, x.text, &sc.word)
	}
	return ids
}

// Decode returns the text of ids, as HF's decode does (without transformers'
// clean_up_tokenization_spaces). With skipSpecial, special tokens are left out. Ids the
// tokenizer does not know are skipped.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok {
			continue
		}
		if skipSpecial {
			if a := t.addedByContent[tok]; a != nil && a.special {
				continue
			}
		}
		tokens = append(tokens, tok)
	}
	if t.dec == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(t.dec.decodeChain(tokens), "")
}

// TokenID returns the id of a token spelled as the vocabulary spells it ("<s>", "▁the", "Ġthe").
func (t *Tokenizer) TokenID(token string) (int32, bool) {
	if a := t.addedByContent[token]; a != nil {
		return a.id, true
	}
	id, ok := t.model.vocab[token]
	return id, ok
}

// Token returns the vocabulary's spelling of id.
func (t *Tokenizer) Token(id int32) (string, bool) {
	if a := t.addedByID[id]; a != nil {
		return a.content, true
	}
	if id < 0 || int(id) >= len(t.model.tokens) || t.model.tokens[id] == "" {
		return "", false
	}
	return t.model.tokens[id], true
}

// IsSpecial reports whether id is a special token (skipped by Decode with skipSpecial).
func (t *Tokenizer) IsSpecial(id int32) bool {
	tok, ok := t.Token(id)
	if !ok {
		return false
	}
	a := t.addedByContent[tok]
	return a != nil && a.special
}

// BOS returns the beginning-of-sequence token: tokenizer_config.json's bos_token, else the
// special token the post-processor puts first.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence token: tokenizer_config.json's eos_token, else the special
// token the post-processor puts last.
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.eos >= 0 }

// VocabSize is one more than the largest token id, added tokens included: the fewest rows an
// embedding for this tokenizer needs.
func (t *Tokenizer) VocabSize() int {
	n := len(t.model.tokens)
	for id := range t.addedByID {
		n = max(n, int(id)+1)
	}
	return n
}
