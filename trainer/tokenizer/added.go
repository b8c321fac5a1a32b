package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	id         int32
	content    string
	singleWord bool // only where it is not part of a longer word
	lstrip     bool // takes the white space on its left with it
	rstrip     bool // takes the white space on its right with it
	normalized bool // matched in normalized text rather than raw text
	special    bool // skipped by Decode(…, skipSpecial=true)
}

// addedMatcher finds added tokens in text as HF's AddedVocabulary does: with an Aho-Corasick
// automaton in leftmost-longest mode, here a byte trie walked from each position.
type addedMatcher struct {
	nodes []trieNode
	first [256]bool // bytes that start some token
}

type trieNode struct {
	next  map[byte]int32
	token *addedToken // a token ends here
}

func newAddedMatcher(tokens []*addedToken, content func(*addedToken) string) *addedMatcher {
	m := &addedMatcher{nodes: []trieNode{{}}}
	for _, t := range tokens {
		c := content(t)
		if c == "" {
			continue
		}
		m.first[c[0]] = true
		n := int32(0)
		for i := 0; i < len(c); i++ {
			nx, ok := m.nodes[n].next[c[i]]
			if !ok {
				if m.nodes[n].next == nil {
					m.nodes[n].next = make(map[byte]int32)
				}
				nx = int32(len(m.nodes))
				m.nodes[n].next[c[i]] = nx
				m.nodes = append(m.nodes, trieNode{})
			}
			n = nx
		}
		if m.nodes[n].token == nil { // the first of equal contents wins
			m.nodes[n].token = t
		}
	}
	return m
}

func (m *addedMatcher) empty() bool { return len(m.nodes) == 1 }

// longestAt returns the longest token that starts at s[i], and its end.
func (m *addedMatcher) longestAt(s string, i int) (*addedToken, int) {
	var best *addedToken
	end := 0
	n := int32(0)
	for j := i; j < len(s); j++ {
		nx, ok := m.nodes[n].next[s[j]]
		if !ok {
			break
		}
		n = nx
		if t := m.nodes[n].token; t != nil {
			best, end = t, j+1
		}
	}
	return best, end
}

// split calls emit for each part of s in order: text between tokens (tok nil) and the tokens found,
// with the white space that lstrip/rstrip give them. start is the part's byte offset in s.
func (m *addedMatcher) split(s string, emit func(text string, start int, tok *addedToken)) {
	if m.empty() {
		emit(s, 0, nil)
		return
	}
	startOffset := 0 // where the text not yet emitted starts
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		tok, stop := m.longestAt(s, i)
		if tok == nil {
			i++
			continue
		}
		start := i
		i = stop // the automaton resumes after the match, kept or not
		if tok.singleWord {
			startSpace := start == 0 || !endsWithWordChar(s[:start])
			stopSpace := stop == len(s) || !startsWithWordChar(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.lstrip {
			start = max(trailingSpaceStart(s[:start]), startOffset)
		}
		if tok.rstrip {
			stop += leadingSpaceLen(s[stop:])
			i = stop
		}
		if startOffset < start {
			emit(s[startOffset:start], startOffset, nil)
		}
		emit(s[start:stop], start, tok)
		startOffset = stop
	}
	if startOffset < len(s) || len(s) == 0 {
		emit(s[startOffset:], startOffset, nil)
	}
}

// isWordChar is `\w` of Rust's regex crate: Alphabetic, marks, decimal digits, connector
// punctuation and the joiners.
func isWordChar(r rune) bool {
	return unicode.In(r, unicode.L, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Nd,
		unicode.Pc, unicode.Join_Control)
}

func endsWithWordChar(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}

// trailingSpaceStart is where the white space at the end of s starts.
func trailingSpaceStart(s string) int {
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if !isWhiteSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return len(s)
}

// leadingSpaceLen is the length of the white space at the start of s.
func leadingSpaceLen(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !isWhiteSpace(r) {
			break
		}
		n += size
	}
	return n
}
