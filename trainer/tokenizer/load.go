package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Load reads a Hugging Face tokenizer: a folder holding tokenizer.json (and, optionally,
// tokenizer_config.json and chat_template.jinja), or a tokenizer.json file, in which case
// tokenizer_config.json and chat_template.jinja beside it are read too when present.
func Load(path string) (*Tokenizer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	dir, file := path, filepath.Join(path, "tokenizer.json")
	if !info.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	js, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "tokenizer_config.json")
	config, err := os.ReadFile(configFile)
	if errors.Is(err, fs.ErrNotExist) {
		config, configFile = nil, ""
	} else if err != nil {
		return nil, err
	}
	template, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return parse(file, js, configFile, config, string(template))
}

// tokenizerJSON is the part of tokenizer.json this package reads.
type tokenizerJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	Model         json.RawMessage  `json:"model"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
}

type addedTokenJSON struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int32 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

// loadError names the file (and the component) a problem was found in.
type loadError struct {
	file string
	err  error
}

func (e *loadError) Error() string { return e.file + ": " + e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// parse builds a Tokenizer from the bytes of tokenizer.json and of tokenizer_config.json (nil when
// there is none); the names are for messages.
func parse(file string, js []byte, configFile string, config []byte, chatTemplate string) (*Tokenizer, error) {
	t, err := parseTokenizer(js)
	if err != nil {
		return nil, &loadError{file, err}
	}
	if err := t.applyConfig(config, chatTemplate); err != nil {
		return nil, &loadError{configFile, err}
	}
	return t, nil
}

func parseTokenizer(js []byte) (*Tokenizer, error) {
	var f tokenizerJSON
	if err := json.Unmarshal(js, &f); err != nil {
		return nil, err
	}
	t := &Tokenizer{bos: -1, eos: -1, specials: map[string]string{}}
	var err error
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	var byteLevel bool
	if t.pre, byteLevel, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if byteLevel {
		t.model.useByteLevel()
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if err := t.setAddedTokens(f.AddedTokens); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	return t, nil
}

func (t *Tokenizer) setAddedTokens(list []addedTokenJSON) error {
	t.addedByContent = map[string]*addedToken{}
	t.addedByID = map[int32]*addedToken{}
	var raw, normalized []*addedToken
	for i, a := range list {
		if a.ID < 0 {
			return fmt.Errorf("token %d (%q): negative id %d", i, a.Content, a.ID)
		}
		if a.Content == "" {
			continue // HF ignores empty tokens
		}
		tok := &addedToken{id: a.ID, content: a.Content, singleWord: a.SingleWord, lstrip: a.LStrip,
			rstrip: a.RStrip, normalized: a.Normalized, special: a.Special}
		t.addedByContent[tok.content] = tok
		t.addedByID[tok.id] = tok
		if tok.normalized {
			normalized = append(normalized, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	// HF builds its automata from the special tokens first, then the others.
	bySpecial := func(ts []*addedToken) {
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].special && !ts[j].special })
	}
	bySpecial(raw)
	bySpecial(normalized)
	t.rawMatcher = newAddedMatcher(raw, func(a *addedToken) string { return a.content })
	t.normMatcher = newAddedMatcher(normalized, func(a *addedToken) string {
		if t.norm == nil {
			return a.content
		}
		return t.norm.normalize(a.content)
	})
	return nil
}

func parseModel(js json.RawMessage) (*bpe, error) {
	var mj modelJSON
	if err := json.Unmarshal(js, &mj); err != nil {
		return nil, err
	}
	if mj.Type != "BPE" && !(mj.Type == "" && mj.Merges != nil) {
		return nil, unsupported("type %q (only BPE models are)", mj.Type)
	}
	if mj.Dropout != nil && *mj.Dropout != 0 {
		return nil, unsupported("BPE dropout %g", *mj.Dropout)
	}
	m := &bpe{vocab: mj.Vocab, unk: -1, fuseUnk: mj.FuseUnk, byteFallback: mj.ByteFallback,
		ignoreMerges: mj.IgnoreMerges}
	if m.vocab == nil {
		return nil, fmt.Errorf("no vocab")
	}
	if mj.ContinuingSubwordPrefix != nil {
		m.prefix = *mj.ContinuingSubwordPrefix
	}
	if mj.EndOfWordSuffix != nil {
		m.suffix = *mj.EndOfWordSuffix
	}
	maxID := int32(-1)
	for tok, id := range m.vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab: %q has a negative id", tok)
		}
		maxID = max(maxID, id)
	}
	m.tokens = make([]string, maxID+1)
	for tok, id := range m.vocab {
		m.tokens[id] = tok
	}
	if mj.UnkToken != nil {
		id, ok := m.vocab[*mj.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocab", *mj.UnkToken)
		}
		m.unk = id
	}
	for b := range m.fallback {
		m.fallback[b] = -1
		if id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.fallback[b] = id
		}
	}
	m.metaSplit = !m.ignoreMerges && m.prefix == "" && m.suffix == "" && !spansMetaspace(m.vocab)
	pairs, err := parseMerges(mj.Merges)
	if err != nil {
		return nil, err
	}
	m.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		a, okA := m.vocab[p[0]]
		b, okB := m.vocab[p[1]]
		c, okC := m.vocab[p[0]+p[1]]
		switch {
		case !okA:
			return nil, fmt.Errorf("merges[%d]: %q is not in the vocab", rank, p[0])
		case !okB:
			return nil, fmt.Errorf("merges[%d]: %q is not in the vocab", rank, p[1])
		case !okC:
			return nil, fmt.Errorf("merges[%d]: %q is not in the vocab", rank, p[0]+p[1])
		}
		m.merges[pairKey(a, b)] = merge{rank: int32(rank), id: c}
	}
	return m, nil
}

// spansMetaspace reports whether some token has a ▁ right after another character.
func spansMetaspace(vocab map[string]int32) bool {
	for tok := range vocab {
		for i := 1; i < len(tok); i++ {
			if strings.HasPrefix(tok[i:], metaspace) && !strings.HasSuffix(tok[:i], metaspace) {
				return true
			}
		}
	}
	return false
}

// parseMerges reads merges written as "a b" strings or as ["a", "b"] pairs.
func parseMerges(js json.RawMessage) ([][2]string, error) {
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return nil, nil
	}
	if bytes.HasPrefix(bytes.TrimLeft(js[1:], " \t\r\n"), []byte("[")) {
		var pairs [][2]string
		if err := json.Unmarshal(js, &pairs); err != nil {
			return nil, fmt.Errorf("merges: %w", err)
		}
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(js, &lines); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	pairs := make([][2]string, len(lines))
	for i, l := range lines {
		a, b, ok := cutSingleSpace(l)
		if !ok {
			return nil, fmt.Errorf("merges[%d]: %q is not two tokens separated by one space", i, l)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs, nil
}

// cutSingleSpace splits "a b" where the string holds exactly one space, as HF requires.
func cutSingleSpace(s string) (string, string, bool) {
	k := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if k >= 0 {
				return "", "", false
			}
			k = i
		}
	}
	if k < 0 {
		return "", "", false
	}
	return s[:k], s[k+1:], true
}

// useByteLevel switches the model to raw bytes: see bpe.byteLevel.
func (m *bpe) useByteLevel() {
	m.byteLevel = true
	m.raw = make(map[string]int32, len(m.vocab))
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
	}
	for tok, id := range m.vocab {
		raw, ok := byteLevelDecode(tok)
		if !ok {
			continue // a token no byte-level word can spell
		}
		m.raw[string(raw)] = id
		if len(raw) == 1 {
			m.byteIDs[raw[0]] = id
		}
	}
}

func isNull(js json.RawMessage) bool {
	js = bytes.TrimSpace(js)
	return len(js) == 0 || string(js) == "null"
}
