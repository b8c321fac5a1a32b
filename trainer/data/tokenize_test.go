package data

import (
	"reflect"
	"strings"
	"testing"
)

func encodeTiny(t testing.TB, enc *encoder, shape Shape, js string) encoded {
	t.Helper()
	ex, ferr := toExample(Record{Line: 1, Fields: fieldsOf(t, js)}, shape, nil)
	if ferr != nil {
		t.Fatal(ferr)
	}
	out, ferr := enc.encode(ex, shape, nil)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return out
}

// TestEncode_Masks ensures each shape trains on what it should: for the chat shapes every
// assistant turn with the template's end of turn and nothing else; for completion the completion
// and EOS; for text everything; pre-tokenized rows as they are.
func TestEncode_Masks(t *testing.T) {
	enc := &encoder{Tok: tiny, Template: chatml(t)}
	cases := []struct {
		name    string
		shape   Shape
		js      string
		text    string // the whole sample decoded
		trained string // the trained runs decoded, joined by |
	}{
		{"alpaca", ShapeAlpaca, `{"instruction": "Say hello.", "input": "", "output": "Hello world!"}`,
			"<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\nHello world!<|im_end|>\n",
			"Hello world!<|im_end|>\n"},
		{"sharegpt, two turns and a system", ShapeShareGPT, `{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Capital of France?"}, {"from": "gpt", "value": "Paris"}]}`,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nParis<|im_end|>\n",
			"Hello<|im_end|>\n|Paris<|im_end|>\n"},
		{"messages ending with a user turn", ShapeMessages, `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]}`,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
			"Hello<|im_end|>\n"},
		{"completion", ShapeCompletion, `{"prompt": "Question: the capital of France?\nAnswer:", "completion": " Paris"}`,
			"<|begin_of_text|>Question: the capital of France?\nAnswer: Paris<|end_of_text|>",
			" Paris<|end_of_text|>"},
		{"text", ShapeText, `{"text": "The quick brown fox."}`,
			"<|begin_of_text|>The quick brown fox.<|end_of_text|>",
			"<|begin_of_text|>The quick brown fox.<|end_of_text|>"},
		{"tokenized", ShapeTokenized, `{"input_ids": [72, 105, 33], "labels": [-100, 105, 33]}`, "Hi!", "i!"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := encodeTiny(t, enc, c.shape, c.js)
			s := out.Sample
			if got := tiny.Decode(s.IDs, false); got != c.text {
				t.Errorf("text %q\nwant %q", got, c.text)
			}
			if got := trainedText(s); got != c.trained {
				t.Errorf("trained %q\nwant    %q", got, c.trained)
			}
			if out.Merged != 0 || out.Untrained != 0 || s.Length != len(s.IDs) || s.Line != 1 {
				t.Errorf("merged %d untrained %d length %d line %d", out.Merged, out.Untrained, s.Length, s.Line)
			}
		})
	}
}

// TestEncode_TrainOnInputs ensures train_on_inputs trains on every token of a conversation and of
// a completion row.
func TestEncode_TrainOnInputs(t *testing.T) {
	enc := &encoder{Tok: tiny, Template: chatml(t), TrainOnInputs: true}
	for shape, js := range map[Shape]string{
		ShapeAlpaca:     `{"instruction": "Say hello.", "output": "Hello"}`,
		ShapeCompletion: `{"prompt": "Say hello.", "completion": " Hello"}`,
	} {
		s := encodeTiny(t, enc, shape, js).Sample
		if !reflect.DeepEqual(s.IDs, s.Labels) {
			t.Errorf("%s: labels %v for ids %v", shape, s.Labels, s.IDs)
		}
	}
}

// TestEncode_PromptMergesWithAnswer ensures that when the prompt's tokens are not a prefix of the
// whole text's (a word split between prompt and completion), the straddling token is trained on,
// nothing before it is, and the case is counted.
func TestEncode_PromptMergesWithAnswer(t *testing.T) {
	enc := &encoder{Tok: tiny}
	out := encodeTiny(t, enc, ShapeCompletion, `{"prompt": "Say Hel", "completion": "lo world"}`)
	whole := tiny.Encode("Say Hello world", true)
	prompt := tiny.Encode("Say Hel", true)
	start := commonPrefix(prompt, whole)
	if start == len(prompt) {
		t.Fatalf("the tiny tokenizer no longer merges across %q + %q: %v %v", "Say Hel", "lo", prompt, whole)
	}
	if out.Merged != 1 {
		t.Errorf("merged %d, want 1", out.Merged)
	}
	for i, l := range out.Sample.Labels {
		if want := i >= start; (l >= 0) != want {
			t.Errorf("token %d (%q) trained %v, want %v", i, tiny.Decode(out.Sample.IDs[i:i+1], false), l >= 0, want)
		}
	}
	if got := trainedText(out.Sample); !strings.HasSuffix(got, "lo world<|end_of_text|>") || strings.Contains(got, "Say") {
		t.Errorf("trained %q", got)
	}
}

// TestEncode_TemplateRewritesEarlierTurns ensures an assistant turn the template renders otherwise
// once the conversation goes on is left untrained and counted, while the last one is trained.
func TestEncode_TemplateRewritesEarlierTurns(t *testing.T) {
	tpl, err := tiny.NewChatTemplate("rewriting", `{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}[earlier answer]{% else %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}`)
	if err != nil {
		t.Fatal(err)
	}
	enc := &encoder{Tok: tiny, Template: tpl}
	out := encodeTiny(t, enc, ShapeMessages, `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye now"}]}`)
	if out.Untrained != 1 {
		t.Errorf("untrained %d, want 1", out.Untrained)
	}
	if got := trainedText(out.Sample); got != "Bye now<|im_end|>\n" {
		t.Errorf("trained %q", got)
	}
}

// TestEncode_Errors ensures a conversation the template refuses, one with no assistant turn, and
// token ids outside the vocabulary are errors naming the field.
func TestEncode_Errors(t *testing.T) {
	strict, err := tiny.BuiltinChatTemplate("llama2")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		enc   *encoder
		shape Shape
		js    string
		want  string // the start of the error; the template engine's message follows
	}{
		{&encoder{Tok: tiny, Template: strict}, ShapeMessages, `{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}`,
			"messages: chat template llama2: "},
		{&encoder{Tok: tiny, Template: chatml(t)}, ShapeShareGPT, `{"conversations": [{"from": "human", "value": "a"}]}`,
			"conversations: no assistant turn to learn from"},
		{&encoder{Tok: tiny}, ShapeTokenized, `{"input_ids": [1, 356]}`, "input_ids[1]: token id 356 is outside the vocabulary of 356"},
		{&encoder{Tok: tiny}, ShapeTokenized, `{"input_ids": [1, 2], "labels": [-1, 2]}`, "labels[0]: label -1 is neither -100 nor a token id of the vocabulary of 356"},
	}
	for _, c := range cases {
		ex, ferr := toExample(Record{Line: 1, Fields: fieldsOf(t, c.js)}, c.shape, nil)
		if ferr != nil {
			t.Fatal(ferr)
		}
		if _, ferr = c.enc.encode(ex, c.shape, nil); ferr == nil || !strings.HasPrefix(ferr.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.js, ferr, c.want)
		}
	}
}

// TestSample_Spans ensures a sample decodes into alternating runs that join to the whole text.
func TestSample_Spans(t *testing.T) {
	s := encodeTiny(t, &encoder{Tok: tiny, Template: chatml(t)}, ShapeAlpaca, `{"instruction": "Hi", "output": "Hello"}`).Sample
	spans := s.Spans(tiny)
	var whole strings.Builder
	for i, sp := range spans {
		whole.WriteString(sp.Text)
		if i > 0 && sp.Trained == spans[i-1].Trained {
			t.Errorf("runs %d and %d are alike", i-1, i)
		}
	}
	if whole.String() != tiny.Decode(s.IDs, false) || len(spans) != 2 || spans[0].Trained || !spans[1].Trained {
		t.Errorf("spans %+v", spans)
	}
	if want := len(tiny.Encode("Hello<|im_end|>\n", false)); s.Trained() != want {
		t.Errorf("Trained() = %d, want %d", s.Trained(), want)
	}
}
