package tokenizer

import (
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant", ...
	Content string `json:"content"`
}

// ChatTemplate is a Jinja chat template bound to a tokenizer's special tokens, rendered as
// transformers' apply_chat_template renders it (trim_blocks and lstrip_blocks on; bos_token,
// eos_token, unk_token and pad_token from tokenizer_config.json; raise_exception and
// strftime_now defined). It is safe for concurrent use.
type ChatTemplate struct {
	Name   string // a built-in's name, or where the template came from
	Source string // the Jinja source

	tpl  *exec.Template
	vars map[string]any
}

//go:embed templates/*.jinja
var builtinFS embed.FS

// BuiltinChatTemplates lists the names of the built-in templates, for models without one: llama2
// (Llama 2 chat), llama3 (Llama 3 instruct), chatml (Qwen and many others), mistral (Mistral
// instruct, with a system message put before the first user message) and alpaca.
func BuiltinChatTemplates() []string {
	entries, _ := builtinFS.ReadDir("templates")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".jinja"))
	}
	return names
}

// BuiltinChatTemplateSource returns the Jinja source of the built-in template called name, for
// tools that take a template as text (the axolotl handoff writes it into its configuration).
func BuiltinChatTemplateSource(name string) (string, error) {
	src, err := builtinFS.ReadFile("templates/" + name + ".jinja")
	if err != nil {
		return "", fmt.Errorf("no built-in chat template %q (there are %s)", name, strings.Join(BuiltinChatTemplates(), ", "))
	}
	return string(src), nil
}

// BuiltinChatTemplate returns the built-in template called name, bound to t's special tokens.
func (t *Tokenizer) BuiltinChatTemplate(name string) (*ChatTemplate, error) {
	src, err := BuiltinChatTemplateSource(name)
	if err != nil {
		return nil, err
	}
	return t.NewChatTemplate(name, src)
}

// ChatTemplate returns the tokenizer's own template (tokenizer_config.json's chat_template, or
// chat_template.jinja), or ErrNoChatTemplate.
func (t *Tokenizer) ChatTemplate() (*ChatTemplate, error) {
	t.ownTemplateOnce.Do(func() {
		if t.chatTemplate == "" {
			t.ownTemplateErr = ErrNoChatTemplate
			return
		}
		t.ownTemplate, t.ownTemplateErr = t.NewChatTemplate("the tokenizer's chat_template", t.chatTemplate)
	})
	return t.ownTemplate, t.ownTemplateErr
}

// ApplyChatTemplate renders msgs with the tokenizer's own template; see ChatTemplate.Apply.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	c, err := t.ChatTemplate()
	if err != nil {
		return "", err
	}
	return c.Apply(msgs, addGenerationPrompt)
}

// NewChatTemplate compiles a Jinja chat template (from a run's configuration, say) for t.
func (t *Tokenizer) NewChatTemplate(name, source string) (*ChatTemplate, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{"/chat_template": source})
	if err != nil {
		return nil, err
	}
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	tpl, err := exec.NewTemplate("/chat_template", cfg, loader, chatEnvironment())
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, shortenGonjaError(err, source))
	}
	vars := map[string]any{}
	for k, v := range t.specials {
		vars[k] = v
	}
	return &ChatTemplate{Name: name, Source: source, tpl: tpl, vars: vars}, nil
}

// Apply renders a conversation. With addGenerationPrompt the text ends with what opens an
// assistant turn (for templates that honour the flag), ready for the model to continue.
//
// The text holds the template's special tokens as text (BOS included, when the template writes
// it): encode it with Encode(text, false), as apply_chat_template(tokenize=True) does.
func (c *ChatTemplate) Apply(msgs []Message, addGenerationPrompt bool) (out string, err error) {
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{
		"messages":              messages,
		"add_generation_prompt": addGenerationPrompt,
		"raise_exception":       raiseException,
		"strftime_now":          strftimeNow,
	}
	for k, v := range c.vars {
		data[k] = v
	}
	defer func() {
		if r := recover(); r != nil { // a template engine bug must not take the caller down
			out, err = "", fmt.Errorf("chat template %s: %v", c.Name, r)
		}
	}()
	out, err = c.tpl.ExecuteToString(exec.NewContext(data))
	if err != nil {
		var raised *raisedError
		if errors.As(err, &raised) {
			return "", fmt.Errorf("chat template %s: %s", c.Name, raised.msg)
		}
		return "", fmt.Errorf("chat template %s: %w", c.Name, err)
	}
	return out, nil
}

// ChatPart is a piece of a rendered conversation: prompt text, or one assistant turn.
type ChatPart struct {
	Text      string
	Assistant bool // an assistant turn: its content and the template's end of turn (EOS, <|eot_id|>, ...)
}

// Parts renders a conversation cut into the prompt side and the assistant turns, for training
// on the assistant's tokens only. The parts, joined, are Apply(msgs, false).
//
// An assistant turn at index i is found by rendering: it starts where Apply(msgs[:i], true) (the
// conversation so far and the generation prompt) ends, and ends where Apply(msgs[:i+1], false)
// ends. Both must be prefixes of the whole rendering; a template that renders earlier turns
// differently once later ones follow (Qwen3's drops the reasoning of earlier turns) or that always
// appends a generation prompt is refused with an error naming the turn.
//
// For token labels, encode the text before each part and the whole text (Encode(…, false)),
// check that the first ids are a prefix of the second, and give the assistant parts' tokens
// their labels: see the package documentation.
func (c *ChatTemplate) Parts(msgs []Message) ([]ChatPart, error) {
	full, err := c.Apply(msgs, false)
	if err != nil {
		return nil, err
	}
	var parts []ChatPart
	done := 0 // bytes of full already in parts
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		prompt, err := c.Apply(msgs[:i], true)
		if err != nil {
			return nil, err
		}
		turn, err := c.Apply(msgs[:i+1], false)
		if err != nil {
			return nil, err
		}
		switch {
		case !strings.HasPrefix(full, prompt) || len(prompt) < done:
			return nil, fmt.Errorf("chat template %s: the conversation up to message %d with a generation prompt is not where the whole conversation continues with it", c.Name, i)
		case !strings.HasPrefix(full, turn) || !strings.HasPrefix(turn, prompt):
			return nil, fmt.Errorf("chat template %s: message %d (assistant) renders differently once the conversation goes on", c.Name, i)
		}
		if len(prompt) > done {
			parts = append(parts, ChatPart{Text: full[done:len(prompt)]})
		}
		parts = append(parts, ChatPart{Text: full[len(prompt):len(turn)], Assistant: true})
		done = len(turn)
	}
	if done < len(full) {
		parts = append(parts, ChatPart{Text: full[done:]})
	}
	return parts, nil
}

// raisedError is what raise_exception() returns to the template engine.
type raisedError struct{ msg string }

func (e *raisedError) Error() string { return e.msg }

func raiseException(_ *exec.Evaluator, params *exec.VarArgs) (string, error) {
	var msg []string
	for _, a := range params.Args {
		msg = append(msg, a.String())
	}
	return "", &raisedError{strings.Join(msg, " ")}
}

// strftimeNow formats the current local time with a Python strftime format.
func strftimeNow(_ *exec.Evaluator, params *exec.VarArgs) (string, error) {
	if len(params.Args) != 1 || !params.Args[0].IsString() {
		return "", fmt.Errorf("strftime_now takes one format string")
	}
	return strftime(time.Now(), params.Args[0].String()), nil
}

var (
	chatEnvOnce sync.Once
	chatEnv     *exec.Environment
)

// chatEnvironment is gonja's environment with what transformers adds or changes: Python's
// strip/lstrip/rstrip and trim (gonja's strip only ASCII white space) and Python's json.dumps
// for tojson.
func chatEnvironment() *exec.Environment {
	chatEnvOnce.Do(func() {
		filters := exec.NewFilterSet(map[string]exec.FilterFunction{})
		filters.Update(builtins.Filters)
		_ = filters.Replace("trim", filterTrim)
		_ = filters.Replace("tojson", filterToJSON)
		methods := builtins.Methods
		methods.Str = pythonStrMethods(builtins.Methods.Str)
		structures := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
		structures.Update(builtins.ControlStructures)
		_ = structures.Register("generation", generationParser)
		chatEnv = &exec.Environment{
			Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
			Filters:           filters,
			Tests:             builtins.Tests,
			ControlStructures: structures,
			Methods:           methods,
		}
	})
	return chatEnv
}

// generationBlock is transformers' {% generation %}…{% endgeneration %}, which marks assistant
// text for its assistant masks and renders its body.
type generationBlock struct {
	location *tokens.Token
	body     *nodes.Wrapper
}

func (g *generationBlock) Position() *tokens.Token { return g.location }
func (g *generationBlock) String() string {
	return fmt.Sprintf("generation(Line=%d Col=%d)", g.location.Line, g.location.Col)
}

func (g *generationBlock) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	return r.Inherit().ExecuteWrapper(g.body)
}

func generationParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	g := &generationBlock{location: p.Current()}
	body, endArgs, err := p.WrapUntil("endgeneration")
	if err != nil {
		return nil, err
	}
	if !args.End() || !endArgs.End() {
		return nil, args.Error("generation takes no arguments", nil)
	}
	g.body = body
	return g, nil
}

// shortenGonjaError drops the copy of the whole template gonja puts in its parse errors.
func shortenGonjaError(err error, source string) error {
	msg := err.Error()
	if source != "" && strings.Contains(msg, source) {
		msg = strings.ReplaceAll(msg, "'"+source+"'", "")
		msg = strings.ReplaceAll(msg, source, "")
		return errors.New(strings.Join(strings.Fields(msg), " "))
	}
	return err
}

// pyStrMethodNames are Python's str methods that gonja implements; all but the strips are
// gonja's own.
var pyStrMethodNames = []string{
	"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs",
	"find", "format", "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal",
	"isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
	"isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
	"replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
	"splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill",
}

func pythonStrMethods(base *exec.MethodSet[string]) *exec.MethodSet[string] {
	m := map[string]exec.Method[string]{}
	for _, name := range pyStrMethodNames {
		if f, ok := base.Get(name); ok {
			m[name] = f
		}
	}
	for name, sides := range map[string][2]bool{"strip": {true, true}, "lstrip": {true, false}, "rstrip": {false, true}} {
		m[name] = func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
			chars, err := stripChars(args)
			if err != nil {
				return nil, err
			}
			return pyStrip(self, chars, sides[0], sides[1]), nil
		}
	}
	return exec.NewMethodSet(m)
}

// stripChars reads the optional chars argument of strip (nil: white space).
func stripChars(args *exec.VarArgs) (*string, error) {
	if len(args.KwArgs) > 0 || len(args.Args) > 1 {
		return nil, fmt.Errorf("strip takes at most one argument")
	}
	if len(args.Args) == 0 || args.Args[0].IsNil() {
		return nil, nil
	}
	if !args.Args[0].IsString() {
		return nil, fmt.Errorf("strip arg must be None or str")
	}
	s := args.Args[0].String()
	return &s, nil
}

// pyStrip is Python's str.strip/lstrip/rstrip: chars nil strips what str.isspace calls space.
func pyStrip(s string, chars *string, left, right bool) string {
	cut := pyIsSpace
	if chars != nil {
		set := *chars
		cut = func(r rune) bool { return strings.ContainsRune(set, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, cut)
	}
	if right {
		s = strings.TrimRightFunc(s, cut)
	}
	return s
}

// pyIsSpace is Python's str.isspace for one character: Unicode White_Space and the four
// information separators U+001C..U+001F.
func pyIsSpace(r rune) bool { return isWhiteSpace(r) || 0x1C <= r && r <= 0x1F }

func filterTrim(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	chars, err := stripChars(params)
	if err != nil {
		return exec.AsValue(exec.ErrInvalidCall(err))
	}
	return exec.AsValue(pyStrip(in.String(), chars, true, true))
}

func filterToJSON(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	indent := -1
	for k, v := range params.KwArgs {
		switch {
		case k == "indent" && v.IsInteger():
			indent = v.Integer()
		case k == "indent" && v.IsNil(), k == "ensure_ascii", k == "sort_keys", k == "separators":
		default:
			return exec.AsValue(exec.ErrInvalidCall(fmt.Errorf("tojson: unexpected argument %s", k)))
		}
	}
	var b strings.Builder
	if err := pyJSON(&b, in.Interface(), indent, 0); err != nil {
		return exec.AsValue(exec.ErrInvalidCall(err))
	}
	return exec.AsValue(b.String())
}

// keyOrder sorts map keys the way the conversation was written: role, then content, then the
// rest alphabetically (Go maps keep no order; Python dicts keep insertion order).
func keyOrder(keys []string) {
	rank := func(k string) int {
		switch k {
		case "role":
			return 0
		case "content":
			return 1
		}
		return 2
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}
