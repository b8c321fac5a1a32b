package data

import "fmt"

// IgnoreLabel marks a token that is not trained on, as Hugging Face's losses ignore it.
const IgnoreLabel = -100

// Tokenizer is what this package needs of a tokenizer; trainer/tokenizer's *Tokenizer is one.
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int32
	Decode(ids []int32, skipSpecial bool) string
	EOS() (int32, bool)
	VocabSize() int
}

// ChatTemplate renders a conversation to text holding its special tokens; trainer/tokenizer's
// *ChatTemplate is one.
type ChatTemplate interface {
	Apply(msgs []Message, addGenerationPrompt bool) (string, error)
}

// Sample is one row tokenized: the ids the model reads and, for each, its label, unshifted:
// Labels[i] is IDs[i] where the token is trained on and IgnoreLabel where it is not.
type Sample struct {
	Line   int // the row's line in its file
	IDs    []int32
	Labels []int32
	Length int // tokens before truncation; len(IDs) when the sample was not truncated
}

// Trained is the number of tokens the sample's targets count: tokens after the first whose label
// is not ignored (the first token is predicted by nothing).
func (s *Sample) Trained() int {
	n := 0
	for _, l := range s.Labels[min(1, len(s.Labels)):] {
		if l >= 0 {
			n++
		}
	}
	return n
}

// encoder turns examples into Samples.
type encoder struct {
	Tok      Tokenizer
	Template ChatTemplate // for the chat shapes (alpaca, sharegpt, messages); nil refuses them
	// TrainOnInputs trains on the prompt too: system and user turns, the template's markup, the
	// prompt of a completion row. Off, only assistant turns and completions are trained on.
	TrainOnInputs bool
}

// encoded is what encoding one example found besides its sample.
type encoded struct {
	Sample Sample
	// Merged counts the turns whose first token straddles the prompt and the answer: the prompt's
	// tokens alone are not a prefix of the whole text's. The straddling token is trained on.
	Merged int
	// Untrained counts the assistant turns left untrained because the template renders them
	// differently once the conversation goes on (Qwen3 drops earlier turns' reasoning).
	Untrained int
}

// encode tokenizes one example of the given shape; errors name fields as the file calls them.
func (e *encoder) encode(ex example, shape Shape, cols Columns) (encoded, *fieldError) {
	var out encoded
	var err *fieldError
	switch shape {
	case ShapeAlpaca, ShapeShareGPT, ShapeMessages:
		out, err = e.encodeChat(ex.Messages, chatField(shape, cols))
	case ShapeCompletion:
		out.Sample, out.Merged = e.encodeCompletion(ex.Prompt, ex.Completion)
	case ShapeText:
		ids := e.withEOS(e.Tok.Encode(ex.Text, true))
		out.Sample = Sample{IDs: ids, Labels: append([]int32(nil), ids...)}
	case ShapeTokenized:
		out.Sample, err = e.checkTokenized(ex.IDs, ex.Labels, cols)
	default:
		panic(fmt.Sprintf("data: Encode with shape %q", shape))
	}
	out.Sample.Line = ex.Line
	out.Sample.Length = len(out.Sample.IDs)
	if err == nil && len(out.Sample.IDs) == 0 {
		err = fieldErrorf(chatField(shape, cols), "no tokens")
	}
	return out, err
}

// chatField is the field errors about a whole conversation name.
func chatField(shape Shape, cols Columns) string {
	switch shape {
	case ShapeShareGPT:
		return cols.name("conversations")
	case ShapeMessages:
		return cols.name("messages")
	case ShapeAlpaca:
		return cols.name("output")
	case ShapeText:
		return cols.name("text")
	case ShapeCompletion:
		return cols.name("completion")
	}
	return cols.name("input_ids")
}

// encodeChat renders the conversation and labels every assistant turn. Turn k's tokens run from
// where the conversation before it with the generation prompt ends to where the conversation
// through it ends; both are found by tokenizing those renderings and comparing with the whole
// conversation's tokens, so the labels fit the tokens the model is trained on, whatever merges
// happen at the boundaries.
func (e *encoder) encodeChat(msgs []Message, field string) (encoded, *fieldError) {
	if e.Template == nil {
		panic("data: a chat shape needs encoder.Template")
	}
	full, err := e.Template.Apply(msgs, false)
	if err != nil {
		return encoded{}, fieldErrorf(field, "%v", err)
	}
	ids := e.Tok.Encode(full, false)
	out := encoded{Sample: Sample{IDs: ids, Labels: ignored(len(ids))}}
	if e.TrainOnInputs {
		copy(out.Sample.Labels, ids)
	}
	assistants := 0
	for k, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		assistants++
		span, err := e.assistantSpan(msgs, k, full, ids)
		if err != nil {
			return encoded{}, fieldErrorf(field, "%v", err)
		}
		if !span.consistent {
			out.Untrained++
			continue
		}
		if span.merged {
			out.Merged++
		}
		copy(out.Sample.Labels[span.start:span.end], ids[span.start:span.end])
	}
	if assistants == 0 && !e.TrainOnInputs {
		return encoded{}, fieldErrorf(field, "no assistant turn to learn from")
	}
	return out, nil
}

// CheckTemplate refuses a chat template that appends a generation prompt whatever
// add_generation_prompt says (Llama 3 base's tokenizer_config.json has one): the end of the last
// assistant turn cannot be told from it, and training on it would teach the model to open a new
// assistant turn after every answer. Templates that do not render a generation prompt at all
// (Llama 2's, Mistral's) are fine. A template that cannot render the probe passes: rows will say
// what is wrong.
func CheckTemplate(tpl ChatTemplate) error {
	user := []Message{{Role: "user", Content: "1"}}
	answered := append(user, Message{Role: "assistant", Content: "2"})
	followed := append(answered[:2:2], Message{Role: "user", Content: "3"})
	without, err1 := tpl.Apply(user, false)
	with, err2 := tpl.Apply(user, true)
	two, err3 := tpl.Apply(answered, false)
	three, err4 := tpl.Apply(followed, false)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil
	}
	if without == with && !hasPrefix(three, two) {
		return fmt.Errorf("the chat template appends a generation prompt whatever add_generation_prompt says, so an answer's end cannot be told: choose another template")
	}
	return nil
}

type span struct {
	start, end int  // token range of the turn in the whole conversation
	consistent bool // the renderings before and through the turn are prefixes of the whole text
	merged     bool // a token straddles the turn's start or end
}

// assistantSpan finds the tokens of assistant turn k in the whole conversation's ids. The start is
// where the tokens of the conversation before it, with the generation prompt, stop agreeing with
// the whole's; the end where the tokens of the conversation through it do. When those renderings
// are not prefixes of the whole text, the turn is reported inconsistent and left untrained.
func (e *encoder) assistantSpan(msgs []Message, k int, full string, ids []int32) (span, error) {
	prompt := ""
	if k > 0 {
		var err error
		if prompt, err = e.Template.Apply(msgs[:k], true); err != nil {
			return span{}, err
		}
	}
	through, err := e.Template.Apply(msgs[:k+1], false)
	if err != nil {
		return span{}, err
	}
	if !hasPrefix(full, through) || !hasPrefix(through, prompt) {
		return span{}, nil
	}
	promptIDs := e.Tok.Encode(prompt, false)
	throughIDs := e.Tok.Encode(through, false)
	s := span{start: commonPrefix(promptIDs, ids), end: commonPrefix(throughIDs, ids), consistent: true}
	s.merged = s.start < len(promptIDs) || s.end < len(throughIDs)
	return s, nil
}

// encodeCompletion tokenizes prompt+completion as one text (with the tokenizer's special tokens
// and an EOS) and trains on the tokens after the prompt's.
func (e *encoder) encodeCompletion(prompt, completion string) (Sample, int) {
	ids := e.withEOS(e.Tok.Encode(prompt+completion, true))
	labels := append([]int32(nil), ids...)
	if e.TrainOnInputs || prompt == "" {
		return Sample{IDs: ids, Labels: labels}, 0
	}
	promptIDs := e.Tok.Encode(prompt, true)
	start := commonPrefix(promptIDs, ids)
	merged := 0
	if start < len(promptIDs) && !(start == len(promptIDs)-1 && isEOS(e.Tok, promptIDs[start])) {
		merged = 1
	}
	for i := range start {
		labels[i] = IgnoreLabel
	}
	return Sample{IDs: ids, Labels: labels}, merged
}

// withEOS ends ids with the tokenizer's EOS, unless its post-processor already did.
func (e *encoder) withEOS(ids []int32) []int32 {
	eos, ok := e.Tok.EOS()
	if !ok || (len(ids) > 0 && ids[len(ids)-1] == eos) {
		return ids
	}
	return append(ids, eos)
}

func isEOS(tok Tokenizer, id int32) bool {
	eos, ok := tok.EOS()
	return ok && id == eos
}

// checkTokenized takes pre-tokenized ids as they are, checking them against the vocabulary;
// labels default to the ids (train on everything).
func (e *encoder) checkTokenized(ids, labels []int32, cols Columns) (Sample, *fieldError) {
	vocab := int32(e.Tok.VocabSize())
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return Sample{}, fieldErrorf(fmt.Sprintf("%s[%d]", cols.name("input_ids"), i), "token id %d is outside the vocabulary of %d", id, vocab)
		}
	}
	if labels == nil {
		return Sample{IDs: ids, Labels: append([]int32(nil), ids...)}, nil
	}
	for i, l := range labels {
		if l != IgnoreLabel && (l < 0 || l >= vocab) {
			return Sample{}, fieldErrorf(fmt.Sprintf("%s[%d]", cols.name("labels"), i), "label %d is neither -100 nor a token id of the vocabulary of %d", l, vocab)
		}
	}
	return Sample{IDs: ids, Labels: labels}, nil
}

func ignored(n int) []int32 {
	l := make([]int32, n)
	for i := range l {
		l[i] = IgnoreLabel
	}
	return l
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
