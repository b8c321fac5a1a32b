package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// matcher finds the non-overlapping matches of a Split pattern, as [start, end) byte offsets.
type matcher interface {
	appendMatches(dst [][2]int, s string) [][2]int
}

// compilePattern turns a tokenizer.json regex (Oniguruma syntax) into a matcher: a hand scanner for
// the patterns of the GPT-2 family, else Go's regexp on a translation of the pattern. The
// translation gives `\s`, `\d` and `\w` their Unicode meaning (as Oniguruma does; in Go they are
// ASCII) and supports the one lookahead these patterns use, a top-level `\s+(?!\S)` alternative.
// Anything else Go cannot express (other lookarounds, possessive or atomic groups) is refused.
func compilePattern(pattern string) (matcher, error) {
	if sc := knownScanner(pattern); sc != nil {
		return sc, nil
	}
	return compileRegexp(pattern)
}

// regexpMatcher runs a translated pattern with Go's regexp. lookahead is the index of the capture
// group that stands for `\s+(?!\S)`, -1 when the pattern has none.
type regexpMatcher struct {
	re        *regexp.Regexp
	lookahead int
}

const (
	// White_Space, for inside a character class.
	spaceClassBody = `\t\n\v\f\r \x{85}\p{Z}`
	wordClassBody  = `\p{L}\p{M}\p{N}\p{Pc}`
)

func compileRegexp(pattern string) (*regexpMatcher, error) {
	alts, err := topLevelAlternatives(pattern)
	if err != nil {
		return nil, err
	}
	lookahead := false
	for i, alt := range alts {
		if alt == `\s+(?!\S)` {
			// At a run of spaces this alternative matches the run when it ends the text, else the
			// run but its last character when that leaves at least one. `\s\s+` matches the whole
			// run of two or more (the caller gives back the last character), `\s\z` the one-space
			// run at the end.
			alts[i] = `(?P<qloraLookahead>\s\s+|\s\z)`
			lookahead = true
		}
	}
	translated, err := translateEscapes(strings.Join(alts, "|"))
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	re, err := regexp.Compile(translated)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: Go's regexp cannot run it: %w", pattern, err)
	}
	m := &regexpMatcher{re: re, lookahead: -1}
	if lookahead {
		// The matches are then found one at a time in the rest of the text, where anchors and word
		// boundaries would see a false start.
		if hasAnchor(pattern) {
			return nil, fmt.Errorf("pattern %q: anchors together with a lookahead are not supported", pattern)
		}
		m.lookahead = re.SubexpIndex("qloraLookahead")
	}
	return m, nil
}

func (m *regexpMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	if m.lookahead < 0 {
		for _, loc := range m.re.FindAllStringIndex(s, -1) {
			dst = append(dst, [2]int{loc[0], loc[1]})
		}
		return dst
	}
	for pos := 0; pos <= len(s); {
		loc := m.re.FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		start, end := pos+loc[0], pos+loc[1]
		if loc[2*m.lookahead] >= 0 && end < len(s) {
			_, n := utf8.DecodeLastRuneInString(s[:end])
			end -= n
		}
		dst = append(dst, [2]int{start, end})
		if end == start { // an empty match: step over one character
			if start == len(s) {
				break
			}
			_, n := utf8.DecodeRuneInString(s[start:])
			end += n
		}
		pos = end
	}
	return dst
}

// topLevelAlternatives splits a pattern at the `|` that are outside groups and classes.
func topLevelAlternatives(pattern string) ([]string, error) {
	var alts []string
	depth, inClass, start := 0, false, 0
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(pattern) && pattern[i+1] == '^' {
				i++
			}
			if i+1 < len(pattern) && pattern[i+1] == ']' {
				i++ // a literal ] first in a class
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, pattern[start:i])
			start = i + 1
		}
	}
	if depth != 0 || inClass {
		return nil, fmt.Errorf("pattern %q: unbalanced group or class", pattern)
	}
	return append(alts, pattern[start:]), nil
}

// translateEscapes rewrites Oniguruma escapes whose meaning differs in Go and refuses the
// constructs Go lacks.
func translateEscapes(p string) (string, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			e := p[i+1]
			i++
			switch e {
			case 's':
				b.WriteString(classOrBody(inClass, spaceClassBody, false))
			case 'S':
				if inClass {
					return "", fmt.Errorf(`\S inside a character class is not supported`)
				}
				b.WriteString(classOrBody(false, spaceClassBody, true))
			case 'd':
				b.WriteString(`\p{Nd}`)
			case 'D':
				b.WriteString(`\P{Nd}`)
			case 'w':
				b.WriteString(classOrBody(inClass, wordClassBody, false))
			case 'W':
				if inClass {
					return "", fmt.Errorf(`\W inside a character class is not supported`)
				}
				b.WriteString(classOrBody(false, wordClassBody, true))
			case 'h', 'H', 'G', 'Z', 'K', 'R', 'X', 'k', 'g':
				return "", fmt.Errorf(`the escape \%c is not supported`, e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
				if (e == 'p' || e == 'P' || e == 'x') && i+1 < len(p) && p[i+1] == '{' {
					end := strings.IndexByte(p[i:], '}')
					if end < 0 {
						return "", fmt.Errorf("unterminated \\%c{ at offset %d", e, i-1)
					}
					b.WriteString(p[i+1 : i+end+1])
					i += end
				}
			}
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
		case c == '[':
			inClass = true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
		case c == '^':
			b.WriteString(`(?m:^)`) // Oniguruma's (Ruby's) ^ and $ match at every line
		case c == '$':
			b.WriteString(`(?m:$)`)
		case c == '(' && strings.HasPrefix(p[i:], "(?="),
			c == '(' && strings.HasPrefix(p[i:], "(?!"),
			c == '(' && strings.HasPrefix(p[i:], "(?<="),
			c == '(' && strings.HasPrefix(p[i:], "(?<!"):
			return "", fmt.Errorf("lookaround at offset %d is not supported (only a top-level \\s+(?!\\S) is)", i)
		case c == '(' && strings.HasPrefix(p[i:], "(?>"):
			return "", fmt.Errorf("atomic group at offset %d is not supported", i)
		case (c == '+' || c == '*' || c == '?') && i+1 < len(p) && p[i+1] == '+':
			return "", fmt.Errorf("possessive quantifier at offset %d is not supported", i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// hasAnchor reports whether a pattern has ^, $ or \A, \b, \B, \G outside character classes.
func hasAnchor(p string) bool {
	inClass := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			if strings.IndexByte("AbBG", p[i+1]) >= 0 && !inClass {
				return true
			}
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if i+1 < len(p) && p[i+1] == '^' {
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
			}
		case c == '^' || c == '$':
			return true
		}
	}
	return false
}

func classOrBody(inClass bool, body string, negate bool) string {
	switch {
	case inClass:
		return body
	case negate:
		return "[^" + body + "]"
	default:
		return "[" + body + "]"
	}
}
