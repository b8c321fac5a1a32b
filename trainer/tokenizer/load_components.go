package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Reading the normalizer, pre-tokenizer, post-processor and decoder of tokenizer.json.

// componentJSON has the fields of every normalizer, pre-tokenizer, post-processor and decoder
// this package knows; "type" says which apply.
type componentJSON struct {
	Type string `json:"type"`

	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	Prepend    string       `json:"prepend"`
	Append     string       `json:"append"`
	Pattern    *patternJSON `json:"pattern"`
	Content    string       `json:"content"`
	Behavior   string       `json:"behavior"`
	Invert     bool         `json:"invert"`
	StripLeft  *bool        `json:"strip_left"`
	StripRight *bool        `json:"strip_right"`
	Start      int          `json:"start"`
	Stop       int          `json:"stop"`

	AddPrefixSpace   *bool  `json:"add_prefix_space"`
	UseRegex         *bool  `json:"use_regex"`
	Replacement      string `json:"replacement"`
	PrependScheme    string `json:"prepend_scheme"`
	Split            *bool  `json:"split"`
	IndividualDigits bool   `json:"individual_digits"`
	Suffix           string `json:"suffix"`

	Single        []json.RawMessage          `json:"single"`
	SpecialTokens map[string]specialTokenDef `json:"special_tokens"`
	Sep           []json.RawMessage          `json:"sep"`
	Cls           []json.RawMessage          `json:"cls"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type specialTokenDef struct {
	ID  string  `json:"id"`
	IDs []int32 `json:"ids"`
}

func parseNormalizer(js json.RawMessage) (normalizer, error) {
	if isNull(js) {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var seq sequenceNorm
		for i, sub := range c.Normalizers {
			n, err := parseNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "Prepend":
		return prependNorm(c.Prepend), nil
	case "Append":
		return appendNorm(c.Append), nil
	case "Replace":
		r := &replaceNorm{content: c.Content}
		var err error
		r.literal, r.re, err = parseReplacePattern(c.Pattern)
		return r, err
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNorm{}, nil
	case "Strip":
		return stripNorm{left: c.StripLeft == nil || *c.StripLeft, right: c.StripRight == nil || *c.StripRight}, nil
	}
	return nil, unsupported("normalizer type %q", c.Type)
}

func parseReplacePattern(p *patternJSON) (string, *regexp.Regexp, error) {
	switch {
	case p == nil:
		return "", nil, fmt.Errorf("Replace without a pattern")
	case p.String != nil:
		return *p.String, nil, nil
	case p.Regex != nil:
		translated, err := translateEscapes(*p.Regex)
		if err != nil {
			return "", nil, unsupported("Replace pattern %q: %v", *p.Regex, err)
		}
		re, err := regexp.Compile(translated)
		if err != nil {
			return "", nil, unsupported("Replace pattern %q: %v", *p.Regex, err)
		}
		return "", re, nil
	}
	return "", nil, fmt.Errorf("Replace pattern is neither String nor Regex")
}

// parsePreTokenizer also reports whether words reach the model spelled in the byte alphabet.
func parsePreTokenizer(js json.RawMessage) (preTokenizer, bool, error) {
	if isNull(js) {
		return nil, false, nil
	}
	var list []preTokenizer
	byteLevel, err := appendPreTokenizers(&list, js, false)
	if err != nil {
		return nil, false, err
	}
	switch len(list) {
	case 0:
		return nil, byteLevel, nil
	case 1:
		return list[0], byteLevel, nil
	}
	return sequencePre(list), byteLevel, nil
}

// appendPreTokenizers flattens nested sequences into list, dropping steps that do nothing.
// afterByteLevel is set once a ByteLevel step has been seen.
func appendPreTokenizers(list *[]preTokenizer, js json.RawMessage, afterByteLevel bool) (bool, error) {
	var c componentJSON
	if err := json.Unmarshal(js, &c); err != nil {
		return false, err
	}
	if afterByteLevel && c.Type != "ByteLevel" && c.Type != "Sequence" {
		// Later steps would see the byte alphabet, which this package never spells out.
		return false, unsupported("a %s pre-tokenizer after ByteLevel", c.Type)
	}
	switch c.Type {
	case "Sequence":
		for i, sub := range c.Pretokenizers {
			bl, err := appendPreTokenizers(list, sub, afterByteLevel)
			if err != nil {
				return false, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			afterByteLevel = afterByteLevel || bl
		}
		return afterByteLevel, nil
	case "Split":
		m, err := splitMatcher(c.Pattern)
		if err != nil {
			return false, err
		}
		b, ok := behaviorNames[c.Behavior]
		if !ok {
			return false, fmt.Errorf("Split behavior %q", c.Behavior)
		}
		*list = append(*list, &splitPre{m: m, behavior: b, invert: c.Invert})
	case "ByteLevel":
		p := &byteLevelPre{addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			p.split = &splitPre{m: knownScanner(gpt2Pattern), behavior: behaviorIsolated}
		}
		if p.addPrefixSpace || p.split != nil {
			*list = append(*list, p)
		}
		return true, nil
	case "Metaspace":
		r, err := singleRune(c.Replacement, "replacement")
		if err != nil {
			return false, err
		}
		p := &metaspacePre{replacement: string(r), split: c.Split == nil || *c.Split}
		if p.scheme, err = parsePrependScheme(c); err != nil {
			return false, err
		}
		*list = append(*list, p)
	case "Digits":
		*list = append(*list, digitsPre{individual: c.IndividualDigits})
	case "WhitespaceSplit":
		*list = append(*list, whitespaceSplitPre{})
	default:
		return false, unsupported("pre-tokenizer type %q", c.Type)
	}
	return false, nil
}

func splitMatcher(p *patternJSON) (matcher, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("Split without a pattern")
	case p.String != nil:
		return literalMatcher(*p.String), nil
	case p.Regex != nil:
		m, err := compilePattern(*p.Regex)
		if err != nil {
			return nil, unsupported("Split %v", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("Split pattern is neither String nor Regex")
}

// parsePrependScheme reads prepend_scheme, or the add_prefix_space of older files.
func parsePrependScheme(c componentJSON) (prependScheme, error) {
	switch c.PrependScheme {
	case "always":
		return prependAlways, nil
	case "first":
		return prependFirst, nil
	case "never":
		return prependNever, nil
	case "":
		if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			return prependNever, nil
		}
		return prependAlways, nil
	}
	return 0, fmt.Errorf("prepend_scheme %q", c.PrependScheme)
}

func singleRune(s, field string) (rune, error) {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) {
		return 0, fmt.Errorf("%s %q is not one character", field, s)
	}
	return r, nil
}

func parsePostProcessor(js json.RawMessage) (postProcessor, error) {
	if isNull(js) {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return nil, nil // it only trims offsets
	case "Sequence":
		var seq sequencePost
		for i, sub := range c.Processors {
			p, err := parsePostProcessor(sub)
			if err != nil {
				return nil, fmt.Errorf("processors[%d]: %w", i, err)
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "TemplateProcessing":
		return parseTemplate(c)
	case "BertProcessing", "RobertaProcessing":
		cls, err1 := tokenIDPair(c.Cls)
		sep, err2 := tokenIDPair(c.Sep)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%s: cls and sep must be [token, id]: %w", c.Type, err)
		}
		return &templatePost{before: []int32{cls}, after: []int32{sep}}, nil
	}
	return nil, unsupported("post-processor type %q", c.Type)
}

// tokenIDPair reads the id of a [token, id] pair.
func tokenIDPair(js []json.RawMessage) (int32, error) {
	var id int32
	if len(js) != 2 {
		return 0, fmt.Errorf("%d elements", len(js))
	}
	return id, json.Unmarshal(js[1], &id)
}

// parseTemplate reads TemplateProcessing's single-sequence template.
func parseTemplate(c componentJSON) (postProcessor, error) {
	p := &templatePost{}
	seenA := false
	for i, item := range c.Single {
		var piece struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		}
		if err := json.Unmarshal(item, &piece); err != nil {
			return nil, fmt.Errorf("single[%d]: %w", i, err)
		}
		switch {
		case piece.Sequence != nil:
			if piece.Sequence.ID != "A" || seenA {
				return nil, fmt.Errorf("single[%d]: sequence %q in a single-sequence template", i, piece.Sequence.ID)
			}
			seenA = true
		case piece.SpecialToken != nil:
			def, ok := c.SpecialTokens[piece.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("single[%d]: special token %q is not in special_tokens", i, piece.SpecialToken.ID)
			}
			if seenA {
				p.after = append(p.after, def.IDs...)
			} else {
				p.before = append(p.before, def.IDs...)
			}
		default:
			return nil, fmt.Errorf("single[%d]: neither SpecialToken nor Sequence", i)
		}
	}
	if !seenA {
		return nil, fmt.Errorf("single template has no $A")
	}
	return p, nil
}

func parseDecoder(js json.RawMessage) (decoder, error) {
	if isNull(js) {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var seq sequenceDec
		for i, sub := range c.Decoders {
			d, err := parseDecoder(sub)
			if err != nil {
				return nil, fmt.Errorf("decoders[%d]: %w", i, err)
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	case "Replace":
		r := &replaceDec{content: c.Content}
		var err error
		r.literal, r.re, err = parseReplacePattern(c.Pattern)
		return r, err
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Strip":
		r, err := singleRune(c.Content, "content")
		if err != nil {
			return nil, err
		}
		return stripDec{content: r, start: c.Start, stop: c.Stop}, nil
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "Metaspace":
		r, err := singleRune(c.Replacement, "replacement")
		if err != nil {
			return nil, err
		}
		scheme, err := parsePrependScheme(c)
		if err != nil {
			return nil, err
		}
		return metaspaceDec{replacement: r, scheme: scheme}, nil
	case "BPEDecoder":
		suffix := c.Suffix
		if suffix == "" {
			suffix = "</w>"
		}
		return bpeSuffixDec{suffix: suffix}, nil
	}
	return nil, unsupported("decoder type %q", c.Type)
}
