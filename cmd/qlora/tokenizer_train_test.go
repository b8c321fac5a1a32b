package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const trainedFixture = "../../testdata/tokenizer/trained-bpe"

// TestTokenizerTrain_ThenTokenize ensures `qlora tokenizer train` writes the committed fixture's
// files from its corpus, and that tokenize and detokenize then use them: BOS first, and the text
// back.
func TestTokenizerTrain_ThenTokenize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tok")
	stdout, stderr, code := qlora(t, "tokenizer", "train", "--corpus", filepath.Join(trainedFixture, "corpus.txt"), "--vocab", "400", "--out", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out+": 400 tokens (256 bytes, 140 merges, 4 special)") {
		t.Fatalf("tokenizer train: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		got, _ := os.ReadFile(filepath.Join(out, name))
		want, _ := os.ReadFile(filepath.Join(trainedFixture, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed fixture", name)
		}
	}
	text := "The capital of France is Paris. 🤗"
	stdout, stderr, code = qlora(t, "tokenize", "--tokenizer", out, "--text", text, "--json")
	var enc struct{ IDs []int32 }
	if err := json.Unmarshal([]byte(stdout), &enc); code != 0 || err != nil || len(enc.IDs) < 2 || enc.IDs[0] != 396 {
		t.Fatalf("tokenize: exit %d, %q %s", code, stdout, stderr)
	}
	ids, _ := json.Marshal(enc.IDs)
	stdout, stderr, code = qlora(t, "detokenize", "--tokenizer", out, "--ids", string(ids), "--skip-special")
	if code != 0 || strings.TrimSuffix(stdout, "\n") != text {
		t.Errorf("detokenize: exit %d, %q %s", code, stdout, stderr)
	}
}

// TestTokenizerTrain_Errors ensures misuse exits 2 with the synopsis and bad input exits 1 saying
// what and where.
func TestTokenizerTrain_Errors(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(trainedFixture, "corpus.txt")
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("fine\nnot \xfe UTF-8\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tokenizer"}, 2, "qlora tokenizer train --corpus FILE --vocab N --out DIR"},
		{[]string{"tokenizer", "learn"}, 2, "qlora tokenizer train --corpus FILE"},
		{[]string{"tokenizer", "train", "--corpus", corpus, "--out", dir}, 2, "--vocab N"},
		{[]string{"tokenizer", "train", "--corpus", corpus, "--vocab", "400", "--out", dir, "--min-frequency", "0"}, 2, "--min-frequency N"},
		{[]string{"tokenizer", "train", "--corpus", "/nonexistent/corpus.txt", "--vocab", "400", "--out", dir}, 1, "/nonexistent/corpus.txt"},
		{[]string{"tokenizer", "train", "--corpus", corpus, "--vocab", "100", "--out", dir}, 1, "vocabulary 100: want 260"},
		{[]string{"tokenizer", "train", "--corpus", bad, "--vocab", "300", "--out", dir}, 1, bad + ": tokenizer train: line 2 is not UTF-8 text"},
		{[]string{"tokenizer", "train", "--corpus", corpus, "--vocab", "300", "--out", trainedFixture}, 1, "already holds a tokenizer.json"},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		t.Error("a failed training wrote a tokenizer")
	}
}
