package app

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/ui"
)

// TestPlaygroundScreen_BaseAndFineTuned ensures the playground, on a library where the demo
// fine-tune ran, prompts the run as it trained (plain text: the demo trains on completions) and
// fills both panes from two real `qlora generate` children: the fine-tuned model answers a
// held-out question with exactly its capital, the base model with something else.
func TestPlaygroundScreen_BaseAndFineTuned(t *testing.T) {
	lib := demoDone(t)
	q := ui.NewQueued()
	s := ui.NewPlayground(Playground{PlaygroundLibrary: Library{lib}, Engine: Engine{Path: engineBin}}, q, testWindow(t))
	if !q.Drain(screenWait, s.Ready) {
		t.Fatal("the demo run was never read")
	}
	s.SetPrompt("Question: What is the capital of Venezuela?\nAnswer:") // held out: the fine-tune never saw it
	s.SetSampling(ui.Sampling{MaxTokens: 12, TopP: 1})
	s.Generate()
	if !q.Drain(screenWait, func() bool { return !s.Busy() }) {
		t.Fatal("the generations never ended")
	}
	base, tuned := s.Answers()
	t.Logf("base: %q; fine-tuned: %q", base, tuned)
	if tuned != "Caracas" {
		t.Errorf("the fine-tuned model answers %q, want Caracas", tuned)
	}
	if base == "" || base == tuned || strings.HasPrefix(base, "The generation failed") {
		t.Errorf("the base model answers %q", base)
	}
}

// TestPlayground_Prompting ensures a run trained on conversations is prompted through the chat
// template it trained with, from its last checkpoint.
func TestPlayground_Prompting(t *testing.T) {
	lib := demoLibrary(t)
	s := NewSupervisor(lib, Engine{Path: engineBin, NoLibrary: true}, nil)
	r, err := s.Start(demoRun("2"))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, r.ID)
	r, _ = lib.Run(r.ID)
	p, err := Playground{PlaygroundLibrary: Library{lib}}.Prompting(r)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Chat || p.Template != "chatml" || p.Step != 2 || p.Base != r.BaseModel || !strings.HasSuffix(p.Adapter, "step-2") {
		t.Errorf("prompting %+v", p)
	}
}
