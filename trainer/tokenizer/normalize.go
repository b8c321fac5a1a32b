package tokenizer

import (
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites text before it is pre-tokenized (HF's Normalizer). Only the text matters
// here: ids do not need the offsets HF tracks alongside.
type normalizer interface {
	normalize(s string) string
}

type sequenceNorm []normalizer

func (seq sequenceNorm) normalize(s string) string {
	for _, n := range seq {
		s = n.normalize(s)
	}
	return s
}

// prependNorm puts a string before any non-empty text (Llama 2's "▁").
type prependNorm string

func (p prependNorm) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(p) + s
}

// appendNorm puts a string after any non-empty text.
type appendNorm string

func (a appendNorm) normalize(s string) string {
	if s == "" {
		return s
	}
	return s + string(a)
}

// replaceNorm replaces a literal string or the matches of a regex with a literal content.
type replaceNorm struct {
	literal string
	re      *regexp.Regexp
	content string
}

func (r *replaceNorm) normalize(s string) string {
	if r.re != nil {
		return r.re.ReplaceAllLiteralString(s, r.content)
	}
	if r.literal == "" {
		return s
	}
	return strings.ReplaceAll(s, r.literal, r.content)
}

// unicodeNorm is NFC, NFD, NFKC or NFKD.
type unicodeNorm struct{ form norm.Form }

func (u unicodeNorm) normalize(s string) string {
	if u.form.IsNormalString(s) {
		return s
	}
	return u.form.String(s)
}

// lowercaseNorm lower-cases text.
type lowercaseNorm struct{}

func (lowercaseNorm) normalize(s string) string { return strings.ToLower(s) }

// stripNorm removes white space at the left and/or right.
type stripNorm struct{ left, right bool }

func (st stripNorm) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, isWhiteSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, isWhiteSpace)
	}
	return s
}
