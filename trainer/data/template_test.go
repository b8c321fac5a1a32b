package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// TestChatTemplateFor ensures the template is the tokenizer's own by default, a built-in or a
// .jinja file when named, and none (without error) when the tokenizer has none.
func TestChatTemplateFor(t *testing.T) {
	jinja := writeFile(t, "t.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}")
	cases := []struct{ choice, name, rendered string }{
		{"", "the model's chat_template", "<|im_start|>user\nHi<|im_end|>\n"},
		{"llama3", "built-in llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"},
		{jinja, jinja, "Hi"},
	}
	for _, c := range cases {
		tpl, name, err := ChatTemplateFor(tiny, c.choice)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Apply([]Message{{Role: "user", Content: "Hi"}}, false)
		if name != c.name || got != c.rendered || err != nil {
			t.Errorf("%q: %q renders %q (%v)", c.choice, name, got, err)
		}
	}
	for _, bad := range []string{"nope", filepath.Join(t.TempDir(), "missing.jinja")} {
		if _, _, err := ChatTemplateFor(tiny, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	dir := t.TempDir()
	js, _ := os.ReadFile(filepath.Join(tinyDir, "tokenizer.json"))
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644)
	bare, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tpl, name, err := ChatTemplateFor(bare, ""); tpl != nil || name != "none" || err != nil {
		t.Errorf("no template: %v %q %v", tpl, name, err)
	}
}

// TestCheckTemplate ensures a template that always appends a generation prompt is refused, and
// ones that honour the flag or render no generation prompt at all pass.
func TestCheckTemplate(t *testing.T) {
	always, err := tiny.NewChatTemplate("always", `{% for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}<|im_start|>assistant
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTemplate(always); err == nil || !strings.Contains(err.Error(), "appends a generation prompt whatever add_generation_prompt says") {
		t.Errorf("always: %v", err)
	}
	for _, name := range []string{"chatml", "llama2", "llama3", "mistral", "alpaca"} {
		tpl, err := tiny.BuiltinChatTemplate(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckTemplate(tpl); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = loadTiny(t, "a.jsonl", lines(`{"instruction": "a", "output": "b"}`), Options{Template: always})
	if err == nil || !strings.Contains(err.Error(), "a.jsonl: the chat template appends") {
		t.Errorf("Load: %v", err)
	}
}
