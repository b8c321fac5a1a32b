package tokenizer

// postProcessor adds the special tokens of a single sequence (HF's PostProcessor with
// add_special_tokens; pairs of sequences are not needed here).
type postProcessor interface {
	process(ids []int32) []int32
}

// templatePost is TemplateProcessing's "single" template: special tokens around $A.
type templatePost struct {
	before, after []int32
}

func (t *templatePost) process(ids []int32) []int32 {
	out := make([]int32, 0, len(t.before)+len(ids)+len(t.after))
	out = append(out, t.before...)
	out = append(out, ids...)
	return append(out, t.after...)
}

type sequencePost []postProcessor

func (seq sequencePost) process(ids []int32) []int32 {
	for _, p := range seq {
		ids = p.process(ids)
	}
	return ids
}

// specialsAround reports the ids a post-processor puts before and after a single sequence.
func specialsAround(p postProcessor) (before, after []int32) {
	switch p := p.(type) {
	case *templatePost:
		return p.before, p.after
	case sequencePost:
		for _, q := range p {
			b, a := specialsAround(q)
			before = append(append([]int32(nil), b...), before...)
			after = append(after, a...)
		}
	}
	return before, after
}
