package tokenizer

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// trainedDir is a tokenizer TrainBPE learned from its corpus.txt (vocabulary 400), committed with
// transformers.js's encodings of it (goldens.json, from scripts/tokenizer_goldens/generate.mjs
// --tokenizer), so these tests need no Node.
const trainedDir = "../../testdata/tokenizer/trained-bpe"

// trainFile trains on a file with the given vocabulary size and writes the result into a temporary
// folder, which it returns with the result.
func trainFile(t *testing.T, path string, vocab int) (string, *TrainedBPE) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trained, err := TrainBPE(f, TrainOptions{VocabSize: vocab})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteTrained(dir, trained); err != nil {
		t.Fatal(err)
	}
	return dir, trained
}

// TestTrainBPE_CommittedFixture ensures training on the committed corpus writes the committed
// files byte for byte: the fixture the goldens were made from is this trainer's output, and the
// trainer gives the same vocabulary on every run and machine.
func TestTrainBPE_CommittedFixture(t *testing.T) {
	dir, trained := trainFile(t, filepath.Join(trainedDir, "corpus.txt"), 400)
	if len(trained.Tokens) != 400 {
		t.Errorf("%d tokens, want 400", len(trained.Tokens))
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		want, err := os.ReadFile(filepath.Join(trainedDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed one (%v)", name, err)
		}
	}
}

// TestTrainBPE_MatchesTransformersJS ensures the trained tokenizer encodes and decodes every golden
// input as transformers.js does (with and without BOS, special tokens kept or skipped), and renders
// its ChatML template to the same text and ids.
func TestTrainBPE_MatchesTransformersJS(t *testing.T) {
	js, err := os.ReadFile(filepath.Join(trainedDir, "goldens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldens
	if err := json.Unmarshal(js, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Tokenizers) != 1 || len(g.Tokenizers[0].Cases) < 100 || len(g.Tokenizers[0].Chat) == 0 {
		t.Fatalf("goldens hold %d tokenizers", len(g.Tokenizers))
	}
	gt := g.Tokenizers[0]
	tok := goldenTokenizer(t, gt.Name, gt.Path, gt.SHA256)
	for _, c := range gt.Cases {
		if got := tok.Encode(c.Text, true); !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q, true)\n got %v\nwant %v", c.Text, got, c.IDs)
		}
		if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDsNoSpecial) {
			t.Errorf("Encode(%q, false)\n got %v\nwant %v", c.Text, got, c.IDsNoSpecial)
		}
		for _, d := range []struct {
			ids  []int32
			skip bool
			want string
		}{{c.IDsNoSpecial, false, c.Decoded}, {c.IDs, false, c.DecodedWithSpecial}, {c.IDs, true, c.DecodedSkipSpecial}} {
			if got := tok.Decode(d.ids, d.skip); got != d.want {
				t.Errorf("Decode(%v, %v) = %q, want %q", d.ids, d.skip, got, d.want)
			}
		}
	}
	tpl, err := tok.ChatTemplate()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range gt.Chat {
		got, err := tpl.Apply(g.Conversations[r.Conversation], r.AddGenerationPrompt)
		if err != nil || got != r.Text || !slices.Equal(tok.Encode(got, false), r.IDs) {
			t.Errorf("conversation %d, generation prompt %v: %q (%v), want %q", r.Conversation, r.AddGenerationPrompt, got, err, r.Text)
		}
	}
}

// TestTrainBPE_RoundTrip ensures the trained tokenizer decodes the encoding of any UTF-8 text back
// to the text: random characters from every plane, the corpus's scripts, white space and the
// special tokens themselves.
func TestTrainBPE_RoundTrip(t *testing.T) {
	tok, err := Load(trainedDir)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(8, 8))
	palette := []string{" ", "  ", "\t", "\n", "\r\n", "the", " capital", "Paris", "日本", "🤗", "👨‍👩‍👧", "é", "e\u0301", "'s", "123456",
		"\u0000", "\u00a0", "\u3000", TrainedBOS, TrainedImEnd, "<|im_start", "Ġ", "▁"}
	for range 2000 {
		var b strings.Builder
		for range rnd.IntN(12) {
			if rnd.IntN(3) == 0 {
				r := rune(rnd.IntN(0x10FFFF))
				if utf8.ValidRune(r) {
					b.WriteRune(r)
				}
				continue
			}
			b.WriteString(palette[rnd.IntN(len(palette))])
		}
		text := b.String()
		if got := tok.Decode(tok.Encode(text, false), false); got != text {
			t.Fatalf("Decode(Encode(%q)) = %q", text, got)
		}
	}
}

// TestTrainBPE_Specials ensures the special tokens follow the learned vocabulary, BOS starts every
// encoding with special tokens, tokenizer_config.json names BOS, EOS and the pad token, and a
// special token written in the text is encoded as itself.
func TestTrainBPE_Specials(t *testing.T) {
	tok, err := Load(trainedDir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 400 {
		t.Errorf("vocabulary of %d", tok.VocabSize())
	}
	for i, s := range TrainedSpecials {
		if id, ok := tok.TokenID(s); !ok || id != int32(396+i) || !tok.IsSpecial(id) {
			t.Errorf("%s: id %d (%v), want special %d", s, id, ok, 396+i)
		}
	}
	bos, _ := tok.BOS()
	eos, _ := tok.EOS()
	if ids := tok.Encode("Paris", true); ids[0] != bos || bos != 396 || eos != 397 {
		t.Errorf("BOS %d, EOS %d, Encode(Paris) = %v", bos, eos, ids)
	}
	if ids := tok.Encode("a<|im_end|>b", false); len(ids) != 3 || ids[1] != 399 {
		t.Errorf("Encode(a<|im_end|>b) = %v", ids)
	}
}

// TestTrainBPE_LearnsWords ensures frequent words become single tokens, merges are learned in the
// order of their counts, and training twice gives the same merges.
func TestTrainBPE_LearnsWords(t *testing.T) {
	corpus := strings.Repeat("hello world, hello there\n", 50) + strings.Repeat("rare words\n", 3)
	train := func() *TrainedBPE {
		trained, err := TrainBPE(strings.NewReader(corpus), TrainOptions{VocabSize: 300})
		if err != nil {
			t.Fatal(err)
		}
		return trained
	}
	a, b := train(), train()
	if !slices.Equal(a.Merges, b.Merges) || !slices.Equal(a.Tokens, b.Tokens) {
		t.Fatal("two trainings on the same corpus differ")
	}
	for _, word := range []string{"hello", "Ġworld", "Ġthere", "Ġhello", "Ċ"} {
		if !slices.Contains(a.Tokens, word) {
			t.Errorf("%q is not a token: %v", word, a.Tokens[256:])
		}
	}
	if a.Lines != 53 || a.Words != 8 { // hello, Ġworld, ",", Ġhello, Ġthere, Ċ, rare, Ġwords
		t.Errorf("%d lines, %d words", a.Lines, a.Words)
	}
}

// TestTrainBPE_MatchesNaiveTrainer ensures the incremental counts and the lazy queue learn exactly
// the merges of a trainer that recounts every pair before every merge, on random corpora with
// repeated letters (overlapping pairs such as "aaa") and ties.
func TestTrainBPE_MatchesNaiveTrainer(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 9))
	for trial := range 20 {
		var b strings.Builder
		for range 200 {
			for range 1 + rnd.IntN(6) {
				b.WriteByte("aabbcd"[rnd.IntN(6)])
			}
			b.WriteString([]string{" ", "\n", ", "}[rnd.IntN(3)])
		}
		corpus := b.String()
		got, err := TrainBPE(strings.NewReader(corpus), TrainOptions{VocabSize: 340, MinFrequency: 1 + trial%3})
		if err != nil {
			t.Fatal(err)
		}
		counts, _, _ := countWords(strings.NewReader(corpus))
		if want := naiveMerges(counts, 340-len(TrainedSpecials), 1+trial%3); !slices.Equal(got.Merges, want) {
			t.Fatalf("trial %d: merges\n got %v\nwant %v", trial, got.Merges, want)
		}
	}
}

// naiveMerges learns merges until there are vocab tokens by recounting every pair before each one.
func naiveMerges(counts map[string]int, vocab, minCount int) [][2]string {
	words := map[string][]string{}
	for w := range counts {
		for i := 0; i < len(w); i++ {
			words[w] = append(words[w], w[i:i+1])
		}
	}
	rank := map[string]int{} // token -> id, to break ties as TrainBPE does
	for b := range 256 {
		rank[string([]byte{byte(b)})] = b
	}
	var merges [][2]string
	for len(rank) < vocab {
		pairs := map[[2]string]int{}
		for w, toks := range words {
			for k := 0; k+1 < len(toks); k++ {
				pairs[[2]string{toks[k], toks[k+1]}] += counts[w]
			}
		}
		var best [2]string
		bestCount := 0
		for p, c := range pairs {
			if c > bestCount || c == bestCount && (rank[p[0]] < rank[best[0]] || rank[p[0]] == rank[best[0]] && rank[p[1]] < rank[best[1]]) {
				best, bestCount = p, c
			}
		}
		if bestCount < minCount {
			break
		}
		merged := best[0] + best[1]
		if _, ok := rank[merged]; !ok {
			rank[merged] = len(rank)
		}
		merges = append(merges, [2]string{byteLevelEncode(best[0]), byteLevelEncode(best[1])})
		for w, toks := range words {
			var out []string
			for k := 0; k < len(toks); k++ {
				if k+1 < len(toks) && toks[k] == best[0] && toks[k+1] == best[1] {
					out, k = append(out, merged), k+1
					continue
				}
				out = append(out, toks[k])
			}
			words[w] = out
		}
	}
	return merges
}

// TestTrainBPE_Errors ensures bad input and options are refused with what was wrong and where.
func TestTrainBPE_Errors(t *testing.T) {
	cases := []struct {
		corpus string
		vocab  int
		want   string
	}{
		{"hello", 259, "want 260 (256 bytes and 4 special tokens)"},
		{"", 300, "holds no text"},
		{"<|im_start|><|im_end|>", 300, "holds no text"},
		{"good line\nbad \xff line\n", 300, "line 2 is not UTF-8 text"},
	}
	for _, c := range cases {
		if _, err := TrainBPE(strings.NewReader(c.corpus), TrainOptions{VocabSize: c.vocab}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("corpus %q, vocabulary %d: error %v, want %q", c.corpus, c.vocab, err, c.want)
		}
	}
}
