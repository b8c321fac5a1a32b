package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var multiTurn = []Message{
	{"system", "Be brief."},
	{"user", "Hi"},
	{"assistant", "Hello!"},
	{"user", "Bye"},
	{"assistant", "  See you.  "},
}

// TestChatParts_Builtins ensures every built-in template cuts a conversation into prompt and
// assistant parts that join back into the whole, each assistant part holding the turn's content
// and its end of turn.
func TestChatParts_Builtins(t *testing.T) {
	tok, err := Load(tinyByteLevel)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[string]string{"llama2": " <|eot_id|>", "llama3": "<|eot_id|>", "chatml": "<|im_end|>\n", "mistral": "<|eot_id|>", "alpaca": "<|eot_id|>"}
	for _, name := range BuiltinChatTemplates() {
		c, err := tok.BuiltinChatTemplate(name)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := c.Parts(multiTurn)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		whole, _ := c.Apply(multiTurn, false)
		var joined strings.Builder
		var assistant []string
		for _, p := range parts {
			joined.WriteString(p.Text)
			if p.Assistant {
				assistant = append(assistant, p.Text)
			}
		}
		if joined.String() != whole {
			t.Errorf("%s: parts join to %q, Apply gives %q", name, joined.String(), whole)
		}
		if len(assistant) != 2 || !strings.Contains(assistant[0], "Hello!") || !strings.HasSuffix(assistant[1], ends[name]) {
			t.Errorf("%s: assistant parts %q", name, assistant)
		}
		if strings.Contains(assistant[0], "Bye") || strings.Contains(assistant[0], "Hi") {
			t.Errorf("%s: the prompt leaked into the assistant part %q", name, assistant[0])
		}
	}
}

// TestChatParts_Refusals ensures templates that render earlier turns differently once later ones
// follow are refused rather than cut wrongly: Qwen3's drops the reasoning of earlier turns, and
// the npm Llama 3 template always appends a generation prompt.
func TestChatParts_Refusals(t *testing.T) {
	thinking := []Message{
		{"user", "1+1?"},
		{"assistant", "<think>\nadd\n</think>\n\n2"},
		{"user", "2+2?"},
		{"assistant", "<think>\nadd\n</think>\n\n4"},
	}
	for _, c := range []struct {
		name  string
		msgs  []Message
		first int // the first assistant message
	}{{"qwen3", thinking, 1}, {"llama3", multiTurn, 2}} {
		tmpl, err := loadNPM(t, c.name).ChatTemplate()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("message %d", c.first)
		if _, err := tmpl.Parts(c.msgs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Parts error %v, want one naming %s", c.name, err, want)
		}
		// A conversation that ends with its only assistant turn is fine.
		if _, err := tmpl.Parts(c.msgs[:c.first+1]); err != nil {
			t.Errorf("%s: one turn: %v", c.name, err)
		}
	}
}

// TestChatTemplate_Errors ensures raise_exception reaches the caller with its message, a missing
// template is ErrNoChatTemplate, and a broken template fails to compile with a short message.
func TestChatTemplate_Errors(t *testing.T) {
	tok, err := Load(tinySentencePiece)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.ApplyChatTemplate(multiTurn, true); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("no template: %v", err)
	}
	c, err := tok.BuiltinChatTemplate("llama2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply([]Message{{"user", "a"}, {"user", "b"}}, false); err == nil || !strings.Contains(err.Error(), "Conversation roles must alternate") {
		t.Errorf("raise_exception: %v", err)
	}
	if _, err := tok.BuiltinChatTemplate("vicuna"); err == nil || !strings.Contains(err.Error(), "chatml") {
		t.Errorf("unknown built-in: %v", err)
	}
	if _, err := tok.NewChatTemplate("broken", "{% for m in messages %}"); err == nil || len(err.Error()) > 300 {
		t.Errorf("broken template: %v", err)
	}
}

// TestChatTemplate_Python ensures the Python parts of transformers' Jinja: strip and trim of
// Unicode white space, strip with characters, tojson as json.dumps writes it, strftime_now.
func TestChatTemplate_Python(t *testing.T) {
	tok, err := Load(tinyByteLevel)
	if err != nil {
		t.Fatal(err)
	}
	year := fmt.Sprint(time.Now().Year())
	for src, want := range map[string]string{
		`{{ "\u3000 x \x1f".strip() }}|{{ " x " | trim }}|{{ "\n\nx\n".lstrip("\n") }}|{{ "xyy".rstrip("y") }}`: "x|x|x\n|x",
		`{{ messages[0] | tojson }}`:                                                                     `{"role": "user", "content": "é \"q\"\n"}`,
		`{{ {"b": [1, 2.5, none, true]} | tojson(indent=2) }}`:                                           "{\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ]\n}",
		`{{ strftime_now("%Y") }}`:                                                                       year,
		`{{ bos_token }}{{ eos_token }}{{ unk_token }}`:                                                  "<|begin_of_text|><|eot_id|>",
		`{% if tools %}tools{% endif %}{{ messages | length }}`:                                          "1",
		`{% for m in messages %}{% generation %}[{{ m.content | trim }}]{% endgeneration %}{% endfor %}`: `[é "q"]`,
	} {
		c, err := tok.NewChatTemplate("test", src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		got, err := c.Apply([]Message{{"user", "é \"q\"\n"}}, false)
		if err != nil || got != want {
			t.Errorf("%s\n got %q, %v\nwant %q", src, got, err, want)
		}
	}
}

// TestChatTemplate_Concurrent ensures one template renders from many goroutines at once (run
// with -race).
func TestChatTemplate_Concurrent(t *testing.T) {
	tok, err := Load(tinyByteLevel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tok.ChatTemplate()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.Apply(multiTurn, true)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				if got, err := c.Apply(multiTurn, true); got != want || err != nil {
					t.Errorf("concurrent render %q, %v", got, err)
					return
				}
				tok.Encode(want, false)
			}
		}()
	}
	wg.Wait()
}

// TestChatParts_TokenPrefixes ensures the labelling recipe of the package documentation holds for
// the built-in templates on the real tokenizers: the ids of the text before each part are a prefix
// of the ids of the whole conversation.
func TestChatParts_TokenPrefixes(t *testing.T) {
	for template, name := range map[string]string{"llama2": "llama2", "mistral": "llama2", "alpaca": "llama2", "llama3": "llama3", "chatml": "qwen3"} {
		tok := loadNPM(t, name)
		c, err := tok.BuiltinChatTemplate(template)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := c.Parts(multiTurn)
		if err != nil {
			t.Fatal(err)
		}
		var whole strings.Builder
		for _, p := range parts {
			whole.WriteString(p.Text)
		}
		all := tok.Encode(whole.String(), false)
		before := ""
		for i, p := range parts {
			ids := tok.Encode(before, false)
			if len(ids) > len(all) || !slices.Equal(ids, all[:len(ids)]) {
				t.Errorf("%s on %s: the ids before part %d are not a prefix of the whole's", template, name, i)
			}
			before += p.Text
		}
	}
}
