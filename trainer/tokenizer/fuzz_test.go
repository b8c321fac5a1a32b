package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var roundTripSeeds = []string{
	"", "Hello world", "  two leading", "trailing  ", "\n\n\t x \r\n", "don't I'M",
	"1234567 3.14", "\u65e5\u672c\u8a9e\U0001F917\U0001F468\u200d\U0001F469", "caf\u00e9 e\u0301",
	"\x00\x01\x7f", "<|im_start|>user\nHi<|im_end|>", "<s>x</s>", "\u3000\u00a0\u2028",
	"\U0001D518\U0001D52B math", "    code();\n\tx", "'s 'S \u2019s",
}

// FuzzEncodeDecode ensures Decode(Encode(s)) gives s back on the byte-level tokenizers (Llama 3;
// Qwen3, whose NFC normalizer gives NFC(s)) and on the SentencePiece one (Mistral), for text
// without what SentencePiece cannot give back: U+2581 (its space) and the text of its special
// tokens (each piece between them gets its own ▁). It needs the cached tokenizer files.
func FuzzEncodeDecode(f *testing.F) {
	toks := map[string]*Tokenizer{}
	for _, name := range []string{"llama3", "qwen3", "llama2"} {
		toks[name] = loadNPM(f, name)
	}
	for _, s := range roundTripSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("not UTF-8")
		}
		checkRoundTrip(t, toks["llama3"], s, s)
		checkRoundTrip(t, toks["qwen3"], s, norm.NFC.String(s))
		if !strings.Contains(s, "\u2581") && !strings.Contains(s, "<s>") && !strings.Contains(s, "</s>") && !strings.Contains(s, "<unk>") {
			checkRoundTrip(t, toks["llama2"], s, s)
		}
	})
}

func checkRoundTrip(t *testing.T, tok *Tokenizer, s, want string) {
	t.Helper()
	ids := tok.Encode(s, false)
	if got := tok.Decode(ids, false); got != want {
		t.Fatalf("Decode(Encode(%q)) = %q, want %q (ids %v)", s, got, want, ids)
	}
	withSpecial := tok.Encode(s, true)
	if !slices.Contains([]int{len(ids), len(ids) + 1}, len(withSpecial)) {
		t.Fatalf("Encode(%q, true) has %d ids, Encode(%q, false) %d", s, len(withSpecial), s, len(ids))
	}
	if got := tok.Decode(withSpecial, true); got != want && !strings.Contains(s, "<|") {
		t.Fatalf("Decode(Encode(%q, true), true) = %q, want %q", s, got, want)
	}
}
