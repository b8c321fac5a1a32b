package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// tinyDir is a model folder without weights: config.json and a byte-level BPE tokenizer of 356
// tokens (gen_tiny_tokenizer.py) with a ChatML chat template.
const tinyDir = "../../internal/fixtures/tinychat"

// tiny is the tiny tokenizer, loaded once.
var tiny = func() *tokenizer.Tokenizer {
	tok, err := tokenizer.Load(tinyDir)
	if err != nil {
		panic(err)
	}
	return tok
}()

// chatml is the tiny tokenizer's own chat template.
func chatml(t testing.TB) *tokenizer.ChatTemplate {
	t.Helper()
	c, err := tiny.ChatTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeFile writes content to name in a fresh folder and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lines joins lines with new lines, ending with one.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// trainedText decodes the trained tokens of a sample, run by run, joined by "|".
func trainedText(s Sample) string {
	var parts []string
	for _, sp := range s.Spans(tiny) {
		if sp.Trained {
			parts = append(parts, sp.Text)
		}
	}
	return strings.Join(parts, "|")
}

// loadTiny loads content as a dataset file named name with the tiny tokenizer.
func loadTiny(t testing.TB, name, content string, opts Options) (*Dataset, error) {
	t.Helper()
	if opts.Template == nil {
		opts.Template = chatml(t)
	}
	if opts.MaxLength == 0 {
		opts.MaxLength = 256
	}
	return Load(writeFile(t, name, content), tiny, opts)
}
