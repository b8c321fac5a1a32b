package tokenizer

import (
	"unicode/utf8"
)

// GPT-2's byte-level alphabet: every byte is spelled as one printable character, so a byte-level
// vocabulary is a vocabulary of strings over these 256 characters. The printable bytes '!'..'~',
// '¡'..'¬' and '®'..'ÿ' stand for themselves; the others, in byte order, become U+0100 on.
var (
	byteRune [256]rune
	runeByte [0x144]int16 // byteRune inverted; -1 where a rune is no byte's
)

func init() {
	for i := range runeByte {
		runeByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = rune(256 + n)
			n++
		}
		runeByte[byteRune[b]] = int16(b)
	}
}

// byteLevelDecode turns a byte-level token back into its bytes. ok is false when the token has a
// character outside the alphabet (an added token such as "<|im_start|>" has none, but one written
// with other characters would).
func byteLevelDecode(token string) (raw []byte, ok bool) {
	raw = make([]byte, 0, len(token))
	for _, r := range token {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] < 0 {
			return nil, false
		}
		raw = append(raw, byte(runeByte[r]))
	}
	return raw, true
}

// byteLevelEncode spells bytes in the byte-level alphabet.
func byteLevelEncode(raw string) string {
	out := make([]byte, 0, 2*len(raw))
	for i := 0; i < len(raw); i++ {
		out = utf8.AppendRune(out, byteRune[raw[i]])
	}
	return string(out)
}

// appendLossyUTF8 appends b to dst as Rust's String::from_utf8_lossy does: each maximal ill-formed
// subsequence becomes one U+FFFD (the Unicode "substitution of maximal subparts" practice, which
// WHATWG's decoder follows too). Go's own conversions replace each bad byte instead.
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		// An ill-formed sequence: skip the longest prefix of a valid sequence that it starts.
		i += maximalSubpart(b[i:])
		dst = append(dst, "\uFFFD"...)
	}
	return dst
}

// maximalSubpart is the length (at least 1) of the longest prefix of b that starts a well-formed
// UTF-8 sequence, for a b that does not start with one.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // the allowed range of the second byte
	switch {
	case 0xC2 <= c && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case 0xF1 <= c && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}
