package main

import (
	"encoding/json"
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

// TestTokenize_RoundTrip ensures tokenize prints the ids HF gives (BOS included by default, none
// with --no-special) and detokenize turns them back into the text, from flags, files and JSON.
func TestTokenize_RoundTrip(t *testing.T) {
	const text = "Hello world and the test<|eot_id|>\n\n  123 é"
	stdout, stderr, code := qlora(t, "tokenize", "--tokenizer", tinyByteLevel, "--text", text, "--json")
	if code != 0 {
		t.Fatalf("tokenize exit %d: %s", code, stderr)
	}
	var got struct{ IDs []int32 }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	// transformers.js gives these ids for this text and tokenizer.
	want := []int32{290, 267, 277, 261, 258, 287, 294, 279, 32, 32, 289, 32, 195, 169}
	if !slices.Equal(got.IDs, want) {
		t.Fatalf("ids %v, want %v", got.IDs, want)
	}

	file := filepath.Join(t.TempDir(), "ids.json")
	if err := os.WriteFile(file, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = qlora(t, "detokenize", "--tokenizer", filepath.Join(tinyByteLevel, "tokenizer.json"), "--file", file, "--skip-special")
	if code != 0 || stdout != "Hello world and the test\n\n  123 é" {
		t.Errorf("detokenize --skip-special: exit %d, %q, %s", code, stdout, stderr)
	}
	stdout, _, code = qlora(t, "detokenize", "--tokenizer", tinyByteLevel, "--ids", "290, 267 277", "--json")
	if code != 0 || strings.TrimSpace(stdout) != `{"text":"<|begin_of_text|>Hello world"}` {
		t.Errorf("detokenize --json: exit %d, %q", code, stdout)
	}

	stdout, _, code = qlora(t, "tokenize", "--no-special", "--text", "Hello world", "--tokenizer", tinySentencePiece)
	if code != 0 || !strings.Contains(stdout, `"▁Hello"`) || !strings.HasSuffix(stdout, "2 tokens\n") || strings.Contains(stdout, "<s>") {
		t.Errorf("tokenize text output: exit %d\n%s", code, stdout)
	}
	textFile := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(textFile, []byte("the world"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = qlora(t, "tokenize", "--tokenizer", tinySentencePiece, "--file", textFile, "--json")
	if code != 0 || strings.TrimSpace(stdout) != `{"ids":[1,293,306]}` {
		t.Errorf("tokenize --file: exit %d, %q", code, stdout)
	}
	stdout, _, code = qlora(t, "tokenize", "--tokenizer", tinySentencePiece, "--text", "", "--json", "--no-special")
	if code != 0 || strings.TrimSpace(stdout) != `{"ids":[]}` {
		t.Errorf("tokenize of empty text: exit %d, %q", code, stdout)
	}
}

// TestTokenize_Errors ensures misuse exits 2 with the usage line and bad input exits 1 naming it.
func TestTokenize_Errors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("\xff\xfe"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tokenize", "--text", "x"}, 2, "qlora tokenize --tokenizer"},
		{[]string{"tokenize", "--tokenizer", tinyByteLevel}, 2, "(--text STR | --file F)"},
		{[]string{"tokenize", "--tokenizer", tinyByteLevel, "--text", "x", "--file", bad}, 2, "qlora tokenize"},
		{[]string{"tokenize", "--tokenizer", "/no/such/tokenizer", "--text", "x"}, 1, "/no/such/tokenizer"},
		{[]string{"tokenize", "--tokenizer", tinyByteLevel, "--file", bad}, 1, "bad.txt: not UTF-8"},
		{[]string{"detokenize", "--tokenizer", tinyByteLevel}, 2, "qlora detokenize"},
		{[]string{"detokenize", "--tokenizer", tinyByteLevel, "--ids", "1 x"}, 1, `"x" is not a token id`},
		{[]string{"detokenize", "--tokenizer", tinyByteLevel, "--ids", "1 99999"}, 1, "token id 99999"},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
