package ui_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// fakeGenerator is a library of one trained run whose generations are answered by a function of
// the test.
type fakeGenerator struct {
	prompting ui.Prompting
	answer    func(ctx context.Context, req ui.GenerateRequest) (string, error)

	mu       sync.Mutex
	requests []ui.GenerateRequest
}

func (f *fakeGenerator) Runs() ([]storage.Run, error) {
	return []storage.Run{
		{ID: 1, Name: "fresh", Status: storage.StatusRunning, Step: 0, TotalSteps: 10},
		{ID: 2, Name: "capitals", Status: storage.StatusFinished, Step: 24, TotalSteps: 24, Checkpoints: []int{24}},
	}, nil
}

func (f *fakeGenerator) Prompting(r storage.Run) (ui.Prompting, error) { return f.prompting, nil }

func (f *fakeGenerator) Generate(ctx context.Context, req ui.GenerateRequest) (string, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	return f.answer(ctx, req)
}

// playgroundScreen is the playground on a fake library, its work queued, once the run is read.
func playgroundScreen(t *testing.T, f *fakeGenerator) (*ui.Playground, *ui.Queued) {
	t.Helper()
	w := newWindow(t)
	q := ui.NewQueued()
	s := ui.NewPlayground(f, q, w)
	w.SetContent(s.Content())
	if !q.Drain(wait, s.Ready) {
		t.Fatalf("the run was never read: %q", texts(s.Content()))
	}
	return s, q
}

// TestPlayground_BothModelsAtOnce ensures Generate asks the base model and the fine-tuned one at
// the same time (each answer waits until both generations have started), with the run's base,
// adapter, chat template and the sampling settings, and shows each answer in its own pane.
func TestPlayground_BothModelsAtOnce(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	f := &fakeGenerator{prompting: ui.Prompting{Base: "/models/base", Adapter: "/runs/capitals/checkpoints/step-24", Step: 24,
		Template: "chatml", Chat: true}}
	f.answer = func(ctx context.Context, req ui.GenerateRequest) (string, error) {
		started.Done()
		both := make(chan struct{})
		go func() { started.Wait(); close(both) }()
		select {
		case <-both:
		case <-time.After(wait):
			return "", errors.New("the other generation never started: they ran one after the other")
		}
		if req.Adapter == "" {
			return "the base model rambles", nil
		}
		return "Caracas", nil
	}
	s, q := playgroundScreen(t, f)
	if !shows(s.Content(), "the run's chat template: chatml") || !shows(s.Content(), "Fine-tuned · capitals, step 24") || shows(s.Content(), "fresh") {
		t.Errorf("the screen shows %q", texts(s.Content()))
	}
	s.SetPrompt("What is the capital of Venezuela?")
	s.SetSampling(ui.Sampling{MaxTokens: 12, Temperature: 0.7, TopP: 0.9, Seed: 3})
	tapButton(t, s.Content(), "Generate")
	if !s.Busy() || !shows(s.Content(), "Stop") {
		t.Errorf("while generating: busy %v, %q", s.Busy(), texts(s.Content()))
	}
	s.Reload() // as when the tab is chosen again: the generations go on
	if !q.Drain(wait, func() bool { return !s.Busy() }) {
		t.Fatal("the generations never ended")
	}
	if base, tuned := s.Answers(); base != "the base model rambles" || tuned != "Caracas" {
		t.Errorf("answers %q and %q", base, tuned)
	}
	want := ui.GenerateRequest{Model: "/models/base", Prompt: "What is the capital of Venezuela?", Template: "chatml",
		Sampling: ui.Sampling{MaxTokens: 12, Temperature: 0.7, TopP: 0.9, Seed: 3}}
	for _, req := range f.requests {
		adapter := req.Adapter
		req.Adapter = ""
		if req != want || (adapter != "" && adapter != f.prompting.Adapter) {
			t.Errorf("request %+v (adapter %q), want %+v", req, adapter, want)
		}
	}
}

// TestPlayground_PlainTextAndErrors ensures a run trained on completions is prompted as plain text,
// and that a failed generation says why in its own pane while the other pane shows its answer.
func TestPlayground_PlainTextAndErrors(t *testing.T) {
	f := &fakeGenerator{prompting: ui.Prompting{Base: "/models/base", Adapter: "/adapter", Step: 24}}
	f.answer = func(ctx context.Context, req ui.GenerateRequest) (string, error) {
		if req.Adapter != "" {
			return "", fmt.Errorf("qlora generate: exit status 1: no adapter_config.json")
		}
		return "Lima", nil
	}
	s, q := playgroundScreen(t, f)
	s.SetPrompt("Question: What is the capital of Peru?\nAnswer:")
	s.Generate()
	q.Drain(wait, func() bool { return !s.Busy() })
	base, tuned := s.Answers()
	if base != "Lima" || tuned != "The generation failed: qlora generate: exit status 1: no adapter_config.json" {
		t.Errorf("answers %q and %q", base, tuned)
	}
	if len(f.requests) != 2 || !f.requests[0].Raw || !f.requests[1].Raw {
		t.Errorf("requests %+v: want plain text", f.requests)
	}
}

// TestPlayground_StopAndBadSettings ensures Stop cancels both generations and says so in the panes,
// and that sampling settings out of range are refused before anything starts.
func TestPlayground_StopAndBadSettings(t *testing.T) {
	f := &fakeGenerator{prompting: ui.Prompting{Base: "/models/base", Adapter: "/adapter", Chat: true}}
	f.answer = func(ctx context.Context, req ui.GenerateRequest) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}
	s, q := playgroundScreen(t, f)
	s.SetPrompt("Hello")
	s.Generate()
	tapButton(t, s.Content(), "Stop")
	if base, tuned := s.Answers(); base != "(stopped)" || tuned != "(stopped)" || s.Busy() {
		t.Errorf("after Stop: %q, %q, busy %v", base, tuned, s.Busy())
	}
	q.Drain(time.Second, func() bool { return false }) // the cancelled generations end; their answers are dropped
	if base, _ := s.Answers(); base != "(stopped)" {
		t.Errorf("a stopped generation's end shows %q", base)
	}

	s.SetSampling(ui.Sampling{MaxTokens: 0, TopP: 1.5})
	n := len(f.requests)
	s.Generate()
	if len(f.requests) != n || s.Busy() {
		t.Errorf("bad settings started a generation")
	}
}

// TestPlayground_Golden ensures the playground, both answers shown, renders as its markup golden.
func TestPlayground_Golden(t *testing.T) {
	f := &fakeGenerator{prompting: ui.Prompting{Base: "/library/models/0001-demo-base", Adapter: "/adapter", Step: 24}}
	f.answer = func(ctx context.Context, req ui.GenerateRequest) (string, error) {
		if req.Adapter == "" {
			return `one said Luke asked, "Do you know the capital of Qatar?"`, nil
		}
		return "Caracas", nil
	}
	s, q := playgroundScreen(t, f)
	s.SetPrompt("Question: What is the capital of Venezuela?\nAnswer:")
	s.Generate()
	q.Drain(wait, func() bool { return !s.Busy() })
	test.AssertRendersToMarkup(t, "playground.xml", fyne.CurrentApp().Driver().CanvasForObject(s.Content()))
}
