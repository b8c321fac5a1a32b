package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("generate", "--model DIR [--adapter PEFT_DIR] --prompt P [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--chat-template NAME | --raw]", stderr)
	modelDir := fs.String("model", "", "model folder")
	adapterDir := fs.String("adapter", "", "PEFT adapter to apply")
	prompt := fs.String("prompt", "", "the prompt: a user message, put through the model's chat template")
	maxTokens := fs.Int("max-tokens", 128, "the most tokens to generate")
	temperature := fs.Float64("temperature", 0, "0 is greedy; higher samples more freely")
	topP := fs.Float64("top-p", 1, "sample among the most likely tokens whose mass reaches this")
	seed := fs.Uint64("seed", 0, "sampling seed")
	raw := fs.Bool("raw", false, "do not apply the chat template: continue the prompt as plain text")
	template := fs.String("chat-template", "", "the chat template, as a run's chat_template names it: a built-in ("+strings.Join(tokenizer.BuiltinChatTemplates(), ", ")+") or a .jinja file (default: the model's own)")
	base := fs.String("base-precision", "nf4", "the frozen base: nf4 or full")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || *prompt == "" {
		return fmt.Errorf("%w: qlora generate --model DIR --prompt P", errUsage)
	}
	basePrecision, err := parseBase(*base)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(*modelDir)
	if err != nil {
		return err
	}
	ids, err := promptIDs(tok, *prompt, *template, *raw)
	if err != nil {
		return err
	}
	m, err := loadForInference(*modelDir, *adapterDir, basePrecision)
	if err != nil {
		return err
	}
	out, err := m.Generate(ids, model.Sampling{MaxTokens: *maxTokens, Temperature: *temperature, TopP: *topP, Seed: *seed, Stop: run.StopTokens(tok, m.Config)})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok.Decode(out, true))
	return nil
}

// promptIDs renders the prompt as a user turn through the chat template (the named one, else the
// model's own; tokenized without adding special tokens, as the template writes them), or, raw or
// without a template, encodes it as plain text with the tokenizer's special tokens.
func promptIDs(tok *tokenizer.Tokenizer, prompt, template string, raw bool) ([]int32, error) {
	if raw {
		return tok.Encode(prompt, true), nil
	}
	tpl, _, err := data.ChatTemplateFor(tok, template)
	if err != nil {
		return nil, err
	}
	if tpl == nil {
		return tok.Encode(prompt, true), nil
	}
	text, err := tpl.Apply([]data.Message{{Role: "user", Content: prompt}}, true)
	if err != nil {
		return nil, err
	}
	return tok.Encode(text, false), nil
}
