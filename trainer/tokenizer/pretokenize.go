package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// word is a piece of normalized text on its way to the model. first says whether it begins the
// original text (HF: offsets_original().0 == 0), which Metaspace's prepend_scheme "first" asks.
type word struct {
	text  string
	first bool
}

// preTokenizer cuts a word into smaller ones (HF's PreTokenizer over one split).
type preTokenizer interface {
	preTokenize(dst []word, w word, sc *splitScratch) []word
}

// splitScratch holds reusable buffers for splitting.
type splitScratch struct {
	matches [][2]int
	spans   []span
	words   []word
	next    []word
	text    []byte
}

// sequencePre runs pre-tokenizers one after the other over every word.
type sequencePre []preTokenizer

func (seq sequencePre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	cur := append(sc.words[:0], w)
	for _, p := range seq {
		next := sc.next[:0]
		for _, x := range cur {
			next = p.preTokenize(next, x, sc)
		}
		cur, sc.next = next, cur
	}
	sc.words = cur
	return append(dst, cur...)
}

// behavior is HF's SplitDelimiterBehavior: what a split does with the text its pattern matched.
type behavior int

const (
	behaviorRemoved behavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

var behaviorNames = map[string]behavior{
	"Removed":            behaviorRemoved,
	"Isolated":           behaviorIsolated,
	"MergedWithPrevious": behaviorMergedWithPrevious,
	"MergedWithNext":     behaviorMergedWithNext,
	"Contiguous":         behaviorContiguous,
}

// span is a part of a split string: matched by the pattern or not.
type span struct {
	start, end int
	match      bool
}

// splitWord cuts w at the given matches with behavior b and appends the non-empty parts, as HF's
// NormalizedString::split does.
func splitWord(dst []word, w word, matches [][2]int, b behavior, invert bool, sc *splitScratch) []word {
	s := w.text
	spans := sc.spans[:0]
	prev := 0
	for _, m := range matches {
		if prev != m[0] {
			spans = append(spans, span{prev, m[0], invert})
		}
		spans = append(spans, span{m[0], m[1], !invert})
		prev = m[1]
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	sc.spans = spans

	var kept []span
	switch b {
	case behaviorIsolated:
		kept = spans
	case behaviorRemoved:
		kept = spans[:0:0]
		for _, sp := range spans {
			if !sp.match {
				kept = append(kept, sp)
			}
		}
	case behaviorContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(kept) > 0 {
				kept[len(kept)-1].end = sp.end
			} else {
				kept = append(kept, sp)
			}
			prevMatch = sp.match
		}
	case behaviorMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(kept) > 0 {
				kept[len(kept)-1].end = sp.end
			} else {
				kept = append(kept, sp)
			}
			prevMatch = sp.match
		}
	case behaviorMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(kept) > 0 {
				kept[len(kept)-1].start = sp.start
			} else {
				kept = append(kept, sp)
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
			kept[i], kept[j] = kept[j], kept[i]
		}
	}
	for _, sp := range kept {
		if sp.end > sp.start {
			dst = append(dst, word{text: s[sp.start:sp.end], first: w.first && sp.start == 0})
		}
	}
	return dst
}

// splitPre is the Split pre-tokenizer: a regex or a literal string, a behavior, and invert.
type splitPre struct {
	m        matcher
	behavior behavior
	invert   bool
}

func (p *splitPre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	sc.matches = p.m.appendMatches(sc.matches[:0], w.text)
	return splitWord(dst, w, sc.matches, p.behavior, p.invert, sc)
}

// literalMatcher finds a fixed string (a Split with {"String": ...}).
type literalMatcher string

func (lit literalMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	if lit == "" {
		return dst
	}
	for i := 0; ; {
		k := strings.Index(s[i:], string(lit))
		if k < 0 {
			return dst
		}
		dst = append(dst, [2]int{i + k, i + k + len(lit)})
		i += k + len(lit)
	}
}

// charMatcher matches every character for which f is true, one match per character.
type charMatcher func(r rune) bool

func (f charMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	for i, r := range s {
		if f(r) {
			dst = append(dst, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return dst
}

// byteLevelPre is the ByteLevel pre-tokenizer. Spelling words in the byte alphabet is left to the
// model (see bpe.byteLevel); here only the prefix space and GPT-2's split remain.
type byteLevelPre struct {
	addPrefixSpace bool
	split          *splitPre // GPT-2's regex, when use_regex
}

func (p *byteLevelPre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	if p.addPrefixSpace && !strings.HasPrefix(w.text, " ") {
		w.text = " " + w.text
	}
	if p.split == nil {
		return append(dst, w)
	}
	return p.split.preTokenize(dst, w, sc)
}

// prependScheme is Metaspace's: when to put the replacement character before a word.
type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

// metaspacePre is the Metaspace pre-tokenizer: spaces become the replacement (▁), one is put in
// front per the scheme, and (with split) the text is cut before each replacement.
type metaspacePre struct {
	replacement string
	scheme      prependScheme
	split       bool
}

func (p *metaspacePre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	text := strings.ReplaceAll(w.text, " ", p.replacement)
	prepend := false
	switch p.scheme {
	case prependAlways:
		prepend = !strings.HasPrefix(text, p.replacement)
	case prependFirst:
		prepend = !strings.HasPrefix(text, p.replacement) && w.first
	}
	if prepend {
		text = p.replacement + text
	}
	w.text = text
	if !p.split {
		return append(dst, w)
	}
	sc.matches = literalMatcher(p.replacement).appendMatches(sc.matches[:0], text)
	return splitWord(dst, w, sc.matches, behaviorMergedWithNext, false, sc)
}

// digitsPre is the Digits pre-tokenizer: ASCII digits apart from the rest, each on its own or in
// runs.
type digitsPre struct{ individual bool }

func (p digitsPre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	sc.matches = charMatcher(isASCIIDigit).appendMatches(sc.matches[:0], w.text)
	b := behaviorContiguous
	if p.individual {
		b = behaviorIsolated
	}
	return splitWord(dst, w, sc.matches, b, false, sc)
}

func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }

// whitespaceSplitPre is WhitespaceSplit: words between runs of white space.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) preTokenize(dst []word, w word, sc *splitScratch) []word {
	sc.matches = charMatcher(isWhiteSpace).appendMatches(sc.matches[:0], w.text)
	return splitWord(dst, w, sc.matches, behaviorRemoved, false, sc)
}
