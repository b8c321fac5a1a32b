package app

import (
	"cmp"
	"context"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/ui"
)

// PlaygroundLibrary is what the playground needs of the library. Library has it.
type PlaygroundLibrary interface {
	Runs() ([]storage.Run, error)
	Dataset(name string) (storage.Dataset, error)
}

// Playground answers the playground's prompts, each generation in an engine child (`qlora
// generate`), so that two run at once and a slow one never holds the window.
type Playground struct {
	PlaygroundLibrary
	Engine Engine
}

// Prompting reads how the run is prompted: its base model, its best checkpoint (else its last)
// and the chat template it trained with; prompts go through the template when it trained on
// conversations, as plain text when it trained on completions or text.
func (p Playground) Prompting(r storage.Run) (ui.Prompting, error) {
	ckpt, err := export.FindCheckpoint(r.Dir)
	if err != nil {
		return ui.Prompting{}, err
	}
	out := ui.Prompting{Base: r.BaseModel, Adapter: ckpt.Dir, Step: ckpt.Step, Chat: true}
	if ckpt.Run == nil {
		return out, nil
	}
	out.Base, out.Template = cmp.Or(out.Base, ckpt.Run.BaseModel), ckpt.Run.ChatTemplate
	shape := ckpt.Run.DatasetFormat
	if shape == "" || shape == "auto" {
		if d, err := p.Dataset(r.Dataset); err == nil {
			shape = d.Shape
		}
	}
	switch data.Shape(shape) {
	case data.ShapeCompletion, data.ShapeText, data.ShapeTokenized:
		out.Chat = false
	}
	return out, nil
}

// Generate runs `qlora generate` and returns what it printed. Cancelling ctx ends the child.
func (p Playground) Generate(ctx context.Context, req ui.GenerateRequest) (string, error) {
	args := []string{"generate", "--model", req.Model, "--prompt=" + req.Prompt,
		"--max-tokens", strconv.Itoa(req.MaxTokens), "--temperature", strconv.FormatFloat(req.Temperature, 'g', -1, 64),
		"--top-p", strconv.FormatFloat(req.TopP, 'g', -1, 64), "--seed", strconv.FormatUint(req.Seed, 10)}
	if req.Adapter != "" {
		args = append(args, "--adapter", req.Adapter)
	}
	switch {
	case req.Raw:
		args = append(args, "--raw")
	case req.Template != "":
		args = append(args, "--chat-template", req.Template)
	}
	var lines []string
	err := p.Engine.run(ctx, engineCommand{args: args, stdout: func(line string) { lines = append(lines, line) }})
	return strings.TrimSpace(strings.Join(lines, "\n")), err
}
