package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// Prompting is how a run's models are prompted: the base model, the adapter the run trained
// and the chat template it trained with.
type Prompting struct {
	Base     string // the base model folder
	Adapter  string // the adapter folder: the run's best checkpoint, else its last
	Step     int    // the adapter's step
	Template string // the run's chat_template: a built-in or a .jinja file; "" for the model's own
	Chat     bool   // it trained on conversations, so prompts go through the template; else plain text
}

// Sampling are the settings of a generation.
type Sampling struct {
	MaxTokens   int
	Temperature float64 // 0 is greedy
	TopP        float64
	Seed        uint64
}

// GenerateRequest is one generation: a model, with an adapter or not, and a prompt.
type GenerateRequest struct {
	Model    string
	Adapter  string // "" for the base model alone
	Prompt   string
	Raw      bool   // continue the prompt as plain text, without a chat template
	Template string // the chat template when not Raw; "" for the model's own
	Sampling
}

// Generator is what the playground needs: the library's runs, how each is prompted, and
// generations (the app runs each in an engine child).
type Generator interface {
	Runs() ([]storage.Run, error)
	Prompting(run storage.Run) (Prompting, error)
	// Generate returns the model's answer; cancelling ctx stops it.
	Generate(ctx context.Context, req GenerateRequest) (string, error)
}

// The prompt formats the playground offers.
const (
	formatChat  = "Chat template"
	formatPlain = "Plain text"
)

// Playground is the playground screen: a run, a prompt and sampling settings, and the answers of
// the base model and of the fine-tuned one side by side, generated at the same time.
type Playground struct {
	gen    Generator
	runner Runner
	win    fyne.Window

	prompting *Prompting         // the chosen run's, once read
	promptFor uint64             // the run prompting is of
	cancel    context.CancelFunc // the generations going on, nil when none
	pending   int                // generations not answered yet

	run                         *runPicker // the runs with a checkpoint
	format                      *widget.Select
	template                    *widget.Label
	prompt                      *widget.Entry
	maxTokens, temp, topP, seed *widget.Entry
	generateB                   *widget.Button
	basePane, tunedPane         *answerPane
	content                     fyne.CanvasObject
}

// answerPane shows one model's answer.
type answerPane struct {
	title, answer *widget.Label
	busy          *widget.ProgressBarInfinite
	content       fyne.CanvasObject
}

func newAnswerPane(title string) *answerPane {
	p := &answerPane{title: widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		answer: widget.NewLabel(""), busy: widget.NewProgressBarInfinite()}
	p.answer.Wrapping = fyne.TextWrapWord
	p.answer.Selectable = true
	p.busy.Hide()
	p.content = container.NewBorder(container.NewVBox(p.title, p.busy), nil, nil, nil, container.NewVScroll(p.answer))
	return p
}

func (p *answerPane) start() {
	p.answer.SetText("")
	p.busy.Show()
	p.busy.Start()
}

func (p *answerPane) show(text string) {
	p.busy.Stop()
	p.busy.Hide()
	p.answer.SetText(text)
}

// NewPlayground builds the screen and starts loading the runs.
func NewPlayground(gen Generator, runner Runner, win fyne.Window) *Playground {
	s := &Playground{gen: gen, runner: runner, win: win}
	s.run = newRunPicker("(no trained run)", hasCheckpoint, s.runChanged)
	s.format = widget.NewSelect([]string{formatChat, formatPlain}, nil)
	s.template = widget.NewLabel("")
	s.prompt = widget.NewMultiLineEntry()
	s.prompt.SetPlaceHolder("Ask something, or start a text to continue")
	s.prompt.SetMinRowsVisible(4)
	s.prompt.Wrapping = fyne.TextWrapWord
	s.maxTokens, s.temp, s.topP, s.seed = numberEntry("64"), numberEntry("0"), numberEntry("1"), numberEntry("0")
	s.generateB = widget.NewButtonWithIcon("Generate", theme.MailSendIcon(), s.Generate)
	s.generateB.Importance = widget.HighImportance
	s.basePane, s.tunedPane = newAnswerPane("Base model"), newAnswerPane("Fine-tuned")

	choices := container.New(layout.NewFormLayout(),
		formKey("Run"), s.run.menu,
		formKey("Prompt as"), container.NewBorder(nil, nil, s.format, nil, s.template))
	sampling := container.NewBorder(nil, nil, nil, s.generateB, container.NewGridWithColumns(8,
		formKey("Max tokens"), s.maxTokens, formKey("Temperature"), s.temp, formKey("Top-p"), s.topP, formKey("Seed"), s.seed))
	head := container.NewVBox(choices, s.prompt, sampling, widget.NewSeparator())
	s.content = container.NewBorder(head, nil, nil, nil, container.NewGridWithColumns(2, s.basePane.content, s.tunedPane.content))
	s.setIdle()
	s.Reload()
	return s
}

// numberEntry is a short entry holding a number.
func numberEntry(value string) *widget.Entry {
	e := widget.NewEntry()
	e.SetText(value)
	return e
}

// Content is the screen's widget tree.
func (s *Playground) Content() fyne.CanvasObject { return s.content }

// Reload reads the runs from the library again, keeping the one chosen.
func (s *Playground) Reload() { load(s.runner, s.win, s.gen.Runs, s.run.set) }

// SelectRun chooses the run with this id; another id (0) chooses the latest run.
func (s *Playground) SelectRun(id uint64) { s.run.choose(id) }

// SetPrompt sets the prompt.
func (s *Playground) SetPrompt(text string) { s.prompt.SetText(text) }

// SetSampling sets the sampling settings.
func (s *Playground) SetSampling(p Sampling) {
	s.maxTokens.SetText(strconv.Itoa(p.MaxTokens))
	s.temp.SetText(strconv.FormatFloat(p.Temperature, 'g', -1, 64))
	s.topP.SetText(strconv.FormatFloat(p.TopP, 'g', -1, 64))
	s.seed.SetText(strconv.FormatUint(p.Seed, 10))
}

// SetChat chooses whether the prompt goes through the chat template or as plain text.
func (s *Playground) SetChat(chat bool) {
	if chat {
		s.format.SetSelected(formatChat)
	} else {
		s.format.SetSelected(formatPlain)
	}
}

// Ready says whether a run is chosen and read, so that Generate can go.
func (s *Playground) Ready() bool { return s.prompting != nil }

// Busy says whether generations are going on.
func (s *Playground) Busy() bool { return s.cancel != nil }

// Answers are the base model's and the fine-tuned model's answers (or what went wrong).
func (s *Playground) Answers() (base, tuned string) {
	return s.basePane.answer.Text, s.tunedPane.answer.Text
}

// Generate asks the base model and the fine-tuned one at the same time, each in its pane; it
// cancels generations still going on.
func (s *Playground) Generate() {
	if s.prompting == nil || s.prompt.Text == "" {
		return
	}
	sampling, err := s.sampling()
	if err != nil {
		dialog.ShowError(err, s.win)
		return
	}
	s.stop()
	p := *s.prompting
	req := GenerateRequest{Model: p.Base, Prompt: s.prompt.Text, Raw: s.format.Selected == formatPlain, Template: p.Template, Sampling: sampling}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.pending = cancel, 2
	s.generateB.SetText("Stop")
	s.generateB.OnTapped = s.stop
	tuned := req
	tuned.Adapter = p.Adapter
	s.ask(ctx, s.basePane, req)
	s.ask(ctx, s.tunedPane, tuned)
}

// ask runs one generation off the UI goroutine and shows its answer in the pane, unless the
// generations were stopped or superseded meanwhile.
func (s *Playground) ask(ctx context.Context, pane *answerPane, req GenerateRequest) {
	pane.start()
	var answer string
	var err error
	s.runner.Run(func() { answer, err = s.gen.Generate(ctx, req) }, func() {
		if ctx.Err() != nil {
			return // stopped or superseded: stop has said so in the pane
		}
		if err != nil {
			answer = "The generation failed: " + err.Error()
		}
		pane.show(answer)
		if s.pending--; s.pending == 0 {
			s.cancel()
			s.setIdle()
		}
	})
}

// stop cancels the generations going on.
func (s *Playground) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	for _, pane := range []*answerPane{s.basePane, s.tunedPane} {
		if pane.busy.Visible() {
			pane.show("(stopped)")
		}
	}
	s.setIdle()
}

// setIdle makes the button generate again.
func (s *Playground) setIdle() {
	s.cancel, s.pending = nil, 0
	s.generateB.SetText("Generate")
	s.generateB.OnTapped = s.Generate
	if s.prompting == nil {
		s.generateB.Disable()
	} else {
		s.generateB.Enable()
	}
}

// runChanged reads how the chosen run is prompted; the same run read again while it answers goes
// on answering.
func (s *Playground) runChanged() {
	if r, ok := s.run.chosen(); ok && s.Busy() && r.ID == s.promptFor {
		return
	}
	s.stop()
	s.prompting = nil
	s.setIdle()
	r, ok := s.run.chosen()
	if !ok {
		s.template.SetText("")
		return
	}
	var p Prompting
	var err error
	s.runner.Run(func() { p, err = s.gen.Prompting(r) }, func() {
		if cur, ok := s.run.chosen(); !ok || cur.ID != r.ID {
			return // another run was chosen meanwhile
		}
		if err != nil {
			s.template.SetText("This run cannot be prompted: " + err.Error())
			return
		}
		s.prompting, s.promptFor = &p, r.ID
		s.SetChat(p.Chat)
		s.template.SetText("the run's chat template: " + cmp.Or(p.Template, "the model's own"))
		s.basePane.title.SetText("Base model · " + p.Base)
		s.tunedPane.title.SetText(fmt.Sprintf("Fine-tuned · %s, step %d", runName(r), p.Step))
		s.setIdle()
	})
}

// sampling reads the sampling settings.
func (s *Playground) sampling() (Sampling, error) {
	var p Sampling
	var errs []error
	var err error
	if p.MaxTokens, err = strconv.Atoi(s.maxTokens.Text); err != nil || p.MaxTokens < 1 {
		errs = append(errs, fmt.Errorf("max tokens %q: want a whole number from 1", s.maxTokens.Text))
	}
	if p.Temperature, err = strconv.ParseFloat(s.temp.Text, 64); err != nil || p.Temperature < 0 {
		errs = append(errs, fmt.Errorf("temperature %q: want 0 (greedy) or more", s.temp.Text))
	}
	if p.TopP, err = strconv.ParseFloat(s.topP.Text, 64); err != nil || p.TopP <= 0 || p.TopP > 1 {
		errs = append(errs, fmt.Errorf("top-p %q: want a number above 0, at most 1", s.topP.Text))
	}
	if p.Seed, err = strconv.ParseUint(s.seed.Text, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("seed %q: want a whole number from 0", s.seed.Text))
	}
	return p, errors.Join(errs...)
}
