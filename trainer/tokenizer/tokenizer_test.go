package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	tinyByteLevel     = "../../testdata/tokenizer/tiny-bytelevel"
	tinySentencePiece = "../../testdata/tokenizer/tiny-sentencepiece"
)

// charTokenizer builds a tokenizer.json whose BPE vocabulary is the characters of alphabet (ids
// 100 on, in order) with no merges, then lets edit change it.
func charTokenizer(t *testing.T, alphabet string, edit func(js map[string]any)) *Tokenizer {
	t.Helper()
	vocab := map[string]any{}
	for i, r := range []rune(alphabet) {
		vocab[string(r)] = 100 + i
	}
	js := map[string]any{
		"added_tokens": []any{},
		"model":        map[string]any{"type": "BPE", "vocab": vocab, "merges": []any{}},
	}
	if edit != nil {
		edit(js)
	}
	data, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := parse("tokenizer.json", data, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func addedJSON(id int, content string, opts ...string) map[string]any {
	a := map[string]any{"id": id, "content": content, "special": false, "normalized": false,
		"lstrip": false, "rstrip": false, "single_word": false}
	for _, o := range opts {
		a[o] = true
	}
	return a
}

// charIDs spells text with charTokenizer's ids.
func charIDs(alphabet, text string) []int32 {
	var ids []int32
	for _, r := range text {
		ids = append(ids, int32(100+slices.Index([]rune(alphabet), r)))
	}
	return ids
}

func concat(parts ...[]int32) []int32 { return slices.Concat(parts...) }

// TestAddedTokens_Options ensures lstrip, rstrip, single_word and normalized added tokens split
// text as HF's AddedVocabulary does (its options_use_cases and single_word tests).
func TestAddedTokens_Options(t *testing.T) {
	const abc = " abcdefghijklmnopqrstuvwxyz<>[]\t\u2000"
	tok := charTokenizer(t, abc, func(js map[string]any) {
		js["normalizer"] = map[string]any{"type": "Lowercase"}
		js["added_tokens"] = []any{
			addedJSON(0, "my", "lstrip", "rstrip", "normalized"),
			addedJSON(1, "name", "normalized"),
			addedJSON(2, "ony", "single_word", "normalized"),
			addedJSON(3, "[CLS]", "special"),
			addedJSON(4, "[SEP]", "special"),
			addedJSON(5, "<mask>", "single_word", "lstrip", "rstrip"),
		}
	})
	cases := []struct {
		text string
		want []int32
	}{
		{"[CLS] My name is Anthony [SEP]",
			concat([]int32{3, 0, 1}, charIDs(abc, " is anthony "), []int32{4})},
		{"<mask> My name <mask> A<mask> <mask>ony <mask>",
			// <mask> is single_word: "A<mask>" and "<mask>ony" stay text, in which the normalized
			// "ony" then stands alone after ">".
			concat([]int32{5, 0, 1, 5}, charIDs(abc, "a<mask> <mask>"), []int32{2, 5})},
		{"Hi <mask> there\t<mask>\t<mask>\u2000",
			concat(charIDs(abc, "hi"), []int32{5}, charIDs(abc, "there"), []int32{5, 5})},
		{"myname", []int32{0, 1}},
		{"", nil},
	}
	for _, c := range cases {
		if got := tok.Encode(c.text, false); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.text, got, c.want)
		}
	}
	if !tok.IsSpecial(3) || tok.IsSpecial(0) {
		t.Errorf("IsSpecial: [CLS] %v, my %v", tok.IsSpecial(3), tok.IsSpecial(0))
	}
	if got := tok.Decode([]int32{3, 0, 104, 4}, true); got != "my d" {
		t.Errorf("Decode skipping specials = %q, want %q (no decoder: tokens joined by spaces)", got, "my d")
	}
}

// TestMetaspace_PrependScheme ensures Metaspace puts ▁ in front only of the text that starts the
// input under "first", and splits before each ▁ (HF's non_legacy_meta_space test).
func TestMetaspace_PrependScheme(t *testing.T) {
	const abc = "\u2581Heymfrindhowau"
	build := func(scheme string, split bool) *Tokenizer {
		return charTokenizer(t, abc, func(js map[string]any) {
			js["added_tokens"] = []any{addedJSON(1, "<s>", "special")}
			js["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
			js["decoder"] = map[string]any{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
		})
	}
	first := build("first", false)
	text := "Hey my friend <s>how\u2581are you"
	want := concat(charIDs(abc, "\u2581Hey\u2581my\u2581friend\u2581"), []int32{1}, charIDs(abc, "how\u2581are\u2581you"))
	if got := first.Encode(text, false); !slices.Equal(got, want) {
		t.Errorf("first: Encode(%q)\n got %v\nwant %v", text, got, want)
	}
	if got := first.Encode(" Hey <s>how", false); !slices.Equal(got, concat(charIDs(abc, "\u2581Hey\u2581"), []int32{1}, charIDs(abc, "how"))) {
		t.Errorf("first, leading space: got %v", got)
	}
	always := build("always", true)
	want = concat(charIDs(abc, "\u2581Hey\u2581my\u2581friend\u2581"), []int32{1}, charIDs(abc, "\u2581how\u2581are\u2581you"))
	if got := always.Encode(text, false); !slices.Equal(got, want) {
		t.Errorf("always: Encode(%q)\n got %v\nwant %v", text, got, want)
	}
	// The decoder drops the ▁ of the first token only.
	if got := always.Decode(always.Encode("Hey you", false), false); got != "Hey you" {
		t.Errorf("Decode = %q", got)
	}
}

// TestPreTokenizers_Simple ensures Digits, WhitespaceSplit and ByteLevel's prefix space split and
// spell words as HF does; split points show as merges that never cross them.
func TestPreTokenizers_Simple(t *testing.T) {
	words := func(pre map[string]any, text string) []string {
		tok := charTokenizer(t, "a", func(js map[string]any) { js["pre_tokenizer"] = pre })
		var out []string
		for _, w := range tok.pre.preTokenize(nil, word{text, true}, &splitScratch{}) {
			out = append(out, w.text)
		}
		return out
	}
	cases := []struct {
		pre  map[string]any
		text string
		want []string
	}{
		{map[string]any{"type": "Digits", "individual_digits": true}, "a12b3", []string{"a", "1", "2", "b", "3"}},
		{map[string]any{"type": "Digits", "individual_digits": false}, "a12b3", []string{"a", "12", "b", "3"}},
		{map[string]any{"type": "WhitespaceSplit"}, "  a b\t\nc ", []string{"a", "b", "c"}},
		{map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}, "Hello my friend, 12!",
			[]string{" Hello", " my", " friend", ",", " 12", "!"}},
		{map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": false}, " x y", []string{" x y"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": "MergedWithPrevious"}, "a-b--c",
			[]string{"a-", "b-", "-", "c"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": "Removed", "invert": true}, "a-b--c",
			[]string{"-", "-", "-"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\d+`}, "behavior": "Contiguous"}, "ab12cd",
			[]string{"ab", "12", "cd"}},
	}
	for _, c := range cases {
		if got := words(c.pre, c.text); !slices.Equal(got, c.want) {
			t.Errorf("%v on %q: %q, want %q", c.pre, c.text, got, c.want)
		}
	}
}

// TestBPE_UnknownAndFallback ensures characters outside the vocabulary become byte tokens, else
// the unknown token (fused runs when fuse_unk), else nothing.
func TestBPE_UnknownAndFallback(t *testing.T) {
	build := func(fuse, fallback bool, unk bool) *Tokenizer {
		return charTokenizer(t, "ab<>0x", func(js map[string]any) {
			m := js["model"].(map[string]any)
			v := m["vocab"].(map[string]any)
			v["<unk>"] = 0
			v["<0xC3>"] = 1 // é is C3 A9: A9 is missing, so é cannot fall back
			v["<0xE2>"], v["<0x82>"], v["<0xAC>"] = 2, 3, 4
			m["fuse_unk"], m["byte_fallback"] = fuse, fallback
			if unk {
				m["unk_token"] = "<unk>"
			}
		})
	}
	cases := []struct {
		fuse, fallback, unk bool
		want                []int32
	}{
		{true, true, true, []int32{100, 2, 3, 4, 0, 101}},
		{true, false, true, []int32{100, 0, 101}},
		{false, false, true, []int32{100, 0, 0, 0, 101}},
		{false, false, false, []int32{100, 101}},
	}
	for _, c := range cases {
		if got := build(c.fuse, c.fallback, c.unk).Encode("a€éé b", false); !slices.Equal(got, c.want) {
			// " " is not in the vocabulary either: with unk it is one more unknown.
			if got2 := build(c.fuse, c.fallback, c.unk).Encode("a€ééb", false); !slices.Equal(got2, c.want) {
				t.Errorf("fuse %v fallback %v unk %v: %v, want %v", c.fuse, c.fallback, c.unk, got2, c.want)
			}
		}
	}
}

// TestBPE_MergeOrder ensures the lowest rank merges first and, among equal ranks, the leftmost.
func TestBPE_MergeOrder(t *testing.T) {
	tok := charTokenizer(t, "abc", func(js map[string]any) {
		m := js["model"].(map[string]any)
		v := m["vocab"].(map[string]any)
		v["aa"], v["bc"], v["ab"], v["aab"] = 10, 11, 12, 13
		m["merges"] = []any{"a a", "b c", "a b", "aa b"}
	})
	for text, want := range map[string][]int32{
		"aaa":  {10, 100},
		"aabc": {10, 11},
		"abc":  {100, 11},
		"aab":  {13},
	} {
		if got := tok.Encode(text, false); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestDecoders ensures the decoders' corner cases: bytes that are not UTF-8, Strip's counts.
func TestDecoders(t *testing.T) {
	if got := (byteFallbackDec{}).decodeChain([]string{"<0xE5>", "<0x8f>", "a", "<0xE5>", "<0x8F>", "<0xAB>"}); !slices.Equal(got, []string{"\uFFFD", "\uFFFD", "a", "叫"}) {
		t.Errorf("ByteFallback: %q", got)
	}
	if got := (stripDec{content: 'H', start: 1}).decodeChain([]string{"Hey", " friend!", "HHH"}); !slices.Equal(got, []string{"ey", " friend!", "HH"}) {
		t.Errorf("Strip: %q", got)
	}
	// Rust's from_utf8_lossy: one U+FFFD per maximal ill-formed subsequence.
	for in, want := range map[string]string{
		"\xF0\x9F\x98a":      "\uFFFDa",
		"\xC0\x80":           "\uFFFD\uFFFD",
		"\xED\xA0\x80":       "\uFFFD\uFFFD\uFFFD",
		"\xE2\x82":           "\uFFFD",
		"ok\xF4\x90\x80\x80": "ok\uFFFD\uFFFD\uFFFD\uFFFD",
	} {
		if got := string(appendLossyUTF8(nil, []byte(in))); got != want {
			t.Errorf("lossy %q = %q, want %q", in, got, want)
		}
	}
	tok, err := Load(tinyByteLevel)
	if err != nil {
		t.Fatal(err)
	}
	euro := tok.Encode("€", false) // three byte tokens
	if len(euro) != 3 {
		t.Fatalf("€ is %v", euro)
	}
	if got := tok.Decode(append(euro[:2:2], euro...), false); got != "\uFFFD€" {
		t.Errorf("Decode of a cut € then € = %q", got)
	}
}

// TestLoad_Config ensures tokenizer_config.json's tokens, chat templates and, for the Llama
// classes, add_bos_token/add_eos_token are honoured.
func TestLoad_Config(t *testing.T) {
	js, err := os.ReadFile(filepath.Join(tinySentencePiece, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(config string, jinja string) (*Tokenizer, error) {
		return parse("tokenizer.json", js, "tokenizer_config.json", []byte(config), jinja)
	}
	tok, err := load(`{"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": false, "add_eos_token": true,
		"bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>",
		"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{{ eos_token }}"}]}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a", true); !slices.Equal(got, []int32{tok.Encode("a", false)[0], 2}) {
		t.Errorf("add_eos_token: %v", got)
	}
	if bos, _ := tok.BOS(); bos != 1 {
		t.Errorf("BOS %d", bos)
	}
	if out, err := tok.ApplyChatTemplate(nil, false); out != "</s>" || err != nil {
		t.Errorf("default chat template rendered %q, %v", out, err)
	}
	tok, err = load(`{"bos_token": null}`, "{{ 'from the file' }}")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.BOS(); ok {
		t.Error("bos_token null still gives a BOS")
	}
	if eos, _ := tok.EOS(); eos != -1 {
		t.Errorf("EOS %d, want none", eos)
	}
	if out, _ := tok.ApplyChatTemplate(nil, false); out != "from the file" {
		t.Errorf("chat_template.jinja: %q", out)
	}
	if _, err := load(`{"bos_token": "<nope>"}`, ""); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("unknown bos_token: %v", err)
	}
}

// TestLoad_Errors ensures what this package cannot run exactly is refused, naming the file.
func TestLoad_Errors(t *testing.T) {
	for _, c := range []struct {
		json, want  string
		unsupported bool
	}{
		{`{"model": {"type": "WordPiece", "vocab": {}}}`, `type "WordPiece"`, true},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`, `"b" is not in the vocab`, false},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}}`, `normalizer type "Precompiled"`, true},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"}}`, "lookaround", true},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}}`, "dropout", true},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}}`, "after ByteLevel", true},
		{`{"model": `, "unexpected end", false},
	} {
		_, err := parse("dir/tokenizer.json", []byte(c.json), "", nil, "")
		if err == nil || !strings.Contains(err.Error(), "dir/tokenizer.json") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.json, err, c.want)
		}
		if errors.Is(err, ErrUnsupported) != c.unsupported {
			t.Errorf("%s: errors.Is(ErrUnsupported) = %v", c.json, !c.unsupported)
		}
	}
	if _, err := Load("no/such/dir"); err == nil {
		t.Error("Load of a missing folder succeeded")
	}
}

// TestTinyTokenizers ensures the committed tiny tokenizers answer the basic questions: ids of
// tokens, BOS and EOS, vocabulary size; and that invalid UTF-8 reads as U+FFFD.
func TestTinyTokenizers(t *testing.T) {
	bl, err := Load(filepath.Join(tinyByteLevel, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Load(tinySentencePiece)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := bl.TokenID("<|eot_id|>"); !ok || id != 294 {
		t.Errorf("TokenID(<|eot_id|>) = %d, %v", id, ok)
	}
	if s, ok := bl.Token(267); !ok || s != "Hello" {
		t.Errorf("Token(267) = %q, %v", s, ok)
	}
	if bos, _ := bl.BOS(); bos != 290 {
		t.Errorf("BOS %d", bos)
	}
	if eos, _ := bl.EOS(); eos != 294 {
		t.Errorf("EOS %d", eos)
	}
	if n := bl.VocabSize(); n != 295 {
		t.Errorf("VocabSize %d", n)
	}
	if bos, _ := sp.BOS(); bos != 1 {
		t.Errorf("sentencepiece BOS %d", bos)
	}
	if _, ok := sp.Token(99999); ok {
		t.Error("Token of an unknown id")
	}
	if got, want := bl.Encode("a\xffb", false), bl.Encode("a\uFFFDb", false); !slices.Equal(got, want) {
		t.Errorf("invalid UTF-8: %v, want %v", got, want)
	}
	if got := sp.Decode([]int32{1, 99999, 314}, false); got != "<s> Hello" {
		t.Errorf("Decode with an unknown id = %q", got)
	}
}

// TestRealTokenizers_Facts ensures the real tokenizers' special tokens and sizes are the known ones.
func TestRealTokenizers_Facts(t *testing.T) {
	for _, c := range []struct {
		name     string
		bos, eos int32
		size     int
	}{
		{"llama2", 1, 2, 32000},
		{"llama3", 128000, 128001, 128256},
		{"qwen3", -1, 151645, 151669},
	} {
		tok := loadNPM(t, c.name)
		bos, _ := tok.BOS()
		eos, _ := tok.EOS()
		if bos != c.bos || eos != c.eos || tok.VocabSize() != c.size {
			t.Errorf("%s: BOS %d EOS %d VocabSize %d, want %d %d %d", c.name, bos, eos, tok.VocabSize(), c.bos, c.eos, c.size)
		}
	}
}
