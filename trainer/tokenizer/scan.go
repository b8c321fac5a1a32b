package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizer regexes of the GPT-2 family, matched by hand. Go's regexp has no lookahead,
// and `\s+(?!\S)` is in all of them; a hand scanner is also several times faster. Each scanner
// returns exactly the matches Oniguruma (what HF tokenizers runs) finds: at every position the
// alternatives are tried in order, each with its greedy-then-backtrack preference.

// Patterns the scanners know, character for character as tokenizer.json files write them.
const (
	// gpt2Pattern is the ByteLevel pre-tokenizer's own (use_regex: true).
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// llama3Pattern is Llama 3's (tiktoken cl100k's), digits in runs of at most three.
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// qwen2Pattern is Qwen2's and Qwen3's: Llama 3's with one digit per match.
	qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// scanner finds the matches of one of the patterns above.
type scanner struct {
	pattern string
	gpt2    bool // GPT-2's alternatives; otherwise Llama 3's
	digits  int  // the most digits one match takes (Llama 3 family)
}

// knownScanner returns the scanner for pattern, or nil when the pattern is not one of them.
func knownScanner(pattern string) *scanner {
	switch pattern {
	case gpt2Pattern:
		return &scanner{pattern: pattern, gpt2: true}
	case llama3Pattern:
		return &scanner{pattern: pattern, digits: 3}
	case qwen2Pattern:
		return &scanner{pattern: pattern, digits: 1}
	}
	return nil
}

// Character classes of ASCII bytes; other characters are classified through package unicode.
const (
	classOther = iota
	classLetter
	classNumber
	classSpace
)

var asciiClass = func() (t [128]uint8) {
	for c := 0; c < 128; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			t[c] = classLetter
		case '0' <= c && c <= '9':
			t[c] = classNumber
		case c == ' ', '\t' <= c && c <= '\r':
			t[c] = classSpace
		}
	}
	return t
}()

// classAt returns the class of the character at s[i] and its size in bytes.
func classAt(s string, i int) (class uint8, size int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return runeClass(r), size
}

func runeClass(r rune) uint8 {
	switch {
	case r < utf8.RuneSelf:
		return asciiClass[r]
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case isWhiteSpace(r):
		return classSpace
	}
	return classOther
}

// isWhiteSpace is Unicode's White_Space, which is what `\s` means to Oniguruma and to Rust's regex
// and char::is_whitespace (Go's unicode.IsSpace is the same set).
func isWhiteSpace(r rune) bool { return unicode.IsSpace(r) }

// appendMatches appends the [start, end) byte offsets of the matches in s. The patterns match
// every character, so the matches tile s.
func (sc *scanner) appendMatches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		var end int
		if sc.gpt2 {
			end = sc.nextGPT2(s, i)
		} else {
			end = sc.nextLlama3(s, i)
		}
		dst = append(dst, [2]int{i, end})
		i = end
	}
	return dst
}

// nextLlama3 returns the end of the match at i of
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func (sc *scanner) nextLlama3(s string, i int) int {
	if end := contraction(s, i, true); end > 0 {
		return end
	}
	c0, n0 := classAt(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c0 == classLetter {
		return skipClass(s, i+n0, classLetter)
	}
	if c0 != classNumber && s[i] != '\r' && s[i] != '\n' && i+n0 < len(s) {
		if c1, _ := classAt(s, i+n0); c1 == classLetter {
			return skipClass(s, i+n0, classLetter)
		}
	}
	// \p{N}{1,N}
	if c0 == classNumber {
		end := i + n0
		for k := 1; k < sc.digits && end < len(s); k++ {
			c, n := classAt(s, end)
			if c != classNumber {
				break
			}
			end += n
		}
		return end
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if start, ok := optionalSpaceThenOther(s, i, c0, n0); ok {
		end := skipClass(s, start, classOther)
		for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
			end++
		}
		return end
	}
	// c0 is a space: the rest are \s*[\r\n]+ | \s+(?!\S) | \s+ over the run of spaces.
	runEnd, lastStart, lastNewline := spaceRun(s, i)
	if lastNewline >= 0 {
		return lastNewline + 1
	}
	return spacesNotBeforeNonSpace(s, i, runEnd, lastStart)
}

// nextGPT2 returns the end of the match at i of
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func (sc *scanner) nextGPT2(s string, i int) int {
	if end := contraction(s, i, false); end > 0 {
		return end
	}
	c0, n0 := classAt(s, i)
	start, class := i, c0
	if s[i] == ' ' && i+1 < len(s) {
		if c1, _ := classAt(s, i+1); c1 != classSpace {
			start, class = i+1, c1
		}
	}
	if class != classSpace {
		return skipClass(s, start, class)
	}
	_ = n0
	runEnd, lastStart, _ := spaceRun(s, i)
	return spacesNotBeforeNonSpace(s, i, runEnd, lastStart)
}

// optionalSpaceThenOther reports whether ` ?[^\s\p{L}\p{N}]` matches at i, and where the run of
// other characters starts.
func optionalSpaceThenOther(s string, i int, c0 uint8, n0 int) (int, bool) {
	if c0 == classOther {
		return i, true
	}
	if s[i] == ' ' && i+1 < len(s) {
		if c1, _ := classAt(s, i+1); c1 == classOther {
			return i + 1, true
		}
	}
	return 0, false
}

// skipClass returns the end of the run of class characters from i.
func skipClass(s string, i int, class uint8) int {
	for i < len(s) {
		c, n := classAt(s, i)
		if c != class {
			break
		}
		i += n
	}
	return i
}

// spaceRun scans the run of white space from i (s[i] is white space): its end, the start of its
// last character, and the position of its last \r or \n (-1 for none).
func spaceRun(s string, i int) (end, lastStart, lastNewline int) {
	lastNewline = -1
	for end = i; end < len(s); {
		c, n := classAt(s, end)
		if c != classSpace {
			break
		}
		if s[end] == '\r' || s[end] == '\n' {
			lastNewline = end
		}
		lastStart = end
		end += n
	}
	return end, lastStart, lastNewline
}

// spacesNotBeforeNonSpace is `\s+(?!\S)|\s+` over the run [i, end): the whole run when it ends the
// text or is one character, else the run but its last character, which then starts the next
// match (` ?\p{L}+` and friends take it).
func spacesNotBeforeNonSpace(s string, i, end, lastStart int) int {
	if end == len(s) || lastStart == i {
		return end
	}
	return lastStart
}

// contraction returns the end of `'s|'t|'re|'ve|'m|'ll|'d` at i, or 0. With fold, letters match
// without regard to case, as (?i:...) does: that includes U+017F (ſ), which folds to s.
func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	r1, n1 := letterAt(s, i+1, fold)
	switch r1 {
	case 's', 't', 'm', 'd':
		return i + 1 + n1
	case 'r', 'v', 'l':
		if i+1+n1 >= len(s) {
			return 0
		}
		r2, n2 := letterAt(s, i+1+n1, fold)
		if (r1 == 'r' || r1 == 'v') && r2 == 'e' || r1 == 'l' && r2 == 'l' {
			return i + 1 + n1 + n2
		}
	}
	return 0
}

// letterAt decodes the character at i, lower-cased for the letters of the contractions when fold
// is set.
func letterAt(s string, i int, fold bool) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return rune(c), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if fold && r == 'ſ' {
		return 's', n
	}
	return r, n
}
