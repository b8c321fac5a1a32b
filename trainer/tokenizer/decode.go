package tokenizer

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings back into text, a chain of steps over the list of tokens as HF's
// Decoder::decode_chain; the result is the concatenation.
type decoder interface {
	decodeChain(tokens []string) []string
}

type sequenceDec []decoder

func (seq sequenceDec) decodeChain(tokens []string) []string {
	for _, d := range seq {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// replaceDec replaces a literal string or regex matches in every token.
type replaceDec struct {
	literal string
	re      *regexp.Regexp
	content string
}

func (r *replaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		switch {
		case r.re != nil:
			out[i] = r.re.ReplaceAllLiteralString(t, r.content)
		case r.literal != "":
			out[i] = strings.ReplaceAll(t, r.literal, r.content)
		default:
			out[i] = t
		}
	}
	return out
}

// byteFallbackDec turns runs of <0xNN> tokens into the text their bytes spell, or one U+FFFD per
// byte when they are not valid UTF-8.
type byteFallbackDec struct{}

func (byteFallbackDec) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// parseByteToken parses "<0xNN>" (hex digits of either case, as Rust's from_str_radix accepts).
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(t[3])
	lo, ok2 := hexDigit(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fuseDec joins all tokens into one.
type fuseDec struct{}

func (fuseDec) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDec removes up to start leading and stop trailing content characters from every token.
type stripDec struct {
	content     rune
	start, stop int
}

func (st stripDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		chars := []rune(t)
		startCut := 0
		for k := 0; k < st.start && k < len(chars) && chars[k] == st.content; k++ {
			startCut = k + 1
		}
		stopCut := len(chars)
		for k := 0; k < st.stop && k < len(chars)-startCut; k++ {
			j := len(chars) - k - 1
			if chars[j] != st.content {
				break
			}
			stopCut = j
		}
		out[i] = string(chars[startCut:stopCut])
	}
	return out
}

// byteLevelDec turns byte-alphabet tokens back into bytes, all tokens together, then into text
// with U+FFFD for what is not UTF-8. A token with a character outside the alphabet contributes its
// own UTF-8 bytes.
type byteLevelDec struct{}

func (byteLevelDec) decodeChain(tokens []string) []string {
	var raw []byte
	for _, t := range tokens {
		if b, ok := byteLevelDecode(t); ok {
			raw = append(raw, b...)
		} else {
			raw = append(raw, t...)
		}
	}
	return []string{string(appendLossyUTF8(nil, raw))}
}

// metaspaceDec turns the replacement character back into spaces; in the first token it is
// dropped unless the scheme is "never".
type metaspaceDec struct {
	replacement rune
	scheme      prependScheme
}

func (m metaspaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		var b strings.Builder
		for _, r := range t {
			switch {
			case r != m.replacement:
				b.WriteRune(r)
			case i == 0 && m.scheme != prependNever:
			default:
				b.WriteByte(' ')
			}
		}
		out[i] = b.String()
	}
	return out
}

// bpeSuffixDec is the BPEDecoder: the end-of-word suffix becomes a space, except at the end.
type bpeSuffixDec struct{ suffix string }

func (d bpeSuffixDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		repl := " "
		if i == len(tokens)-1 {
			repl = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, repl)
	}
	return out
}
