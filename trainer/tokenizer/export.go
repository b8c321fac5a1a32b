package tokenizer

import "sort"

// The regexes a pre-tokenizer splits text with, as Export.Split names them.
const (
	SplitNone   = ""       // no regex split (SentencePiece style, or ByteLevel with use_regex false alone)
	SplitGPT2   = "gpt2"   // GPT-2's, the ByteLevel pre-tokenizer's own
	SplitLlama3 = "llama3" // Llama 3's: digits in runs of at most three
	SplitQwen2  = "qwen2"  // Qwen2's and Qwen3's: one digit per piece
	SplitOther  = "other"  // another regex, or more than one splitting step
)

// Export is what a converter to another file format (GGUF) needs from a tokenizer: the vocabulary
// in id order, the merges in rank order, and what the normalizer, pre-tokenizer and post-processor
// amount to. It is a copy: changing it leaves the tokenizer as it was.
type Export struct {
	Tokens       []string       // by id, added tokens included; "" where no token has the id
	Added        map[int32]bool // the ids of added tokens, true for the special ones
	Merges       [][2]string    // in rank order, spelled as in tokenizer.json
	ByteLevel    bool           // byte-level BPE (tokens in GPT-2's byte alphabet); else SentencePiece style
	ByteFallback bool           // unknown pieces become <0xNN> tokens
	Split        string         // the pre-tokenizer's regex: SplitNone, SplitGPT2, ...
	PrependSpace bool           // a "▁" is put before the text (a Prepend normalizer, or Metaspace)

	UNK, BOS, EOS, PAD int32   // -1 where there is none
	Prefix, Suffix     []int32 // the special tokens Encode(text, true) puts around the text

	ChatTemplate string // the model's own template source, "" when it has none
}

// Export returns the tokenizer's contents for a converter.
func (t *Tokenizer) Export() Export {
	n := t.VocabSize()
	tokens := make([]string, n)
	copy(tokens, t.model.tokens)
	added := make(map[int32]bool, len(t.addedByID))
	for id, a := range t.addedByID {
		tokens[id] = a.content
		added[id] = a.special
	}
	before, after := specialsAround(t.post)
	e := Export{
		Tokens: tokens, Added: added, Merges: t.mergeList(),
		ByteLevel: t.model.byteLevel, ByteFallback: t.model.byteFallback,
		Split: splitKind(t.pre), PrependSpace: prependsSpace(t.norm, t.pre),
		UNK: t.model.unk, BOS: t.bos, EOS: t.eos, PAD: -1,
		Prefix: append([]int32(nil), before...), Suffix: append([]int32(nil), after...),
		ChatTemplate: t.chatTemplate,
	}
	if content, ok := t.specials["unk_token"]; ok {
		if id, ok := t.TokenID(content); ok {
			e.UNK = id
		}
	}
	if content, ok := t.specials["pad_token"]; ok {
		if id, ok := t.TokenID(content); ok {
			e.PAD = id
		}
	}
	return e
}

// mergeList lists the merges by rank, spelled with the tokens they join.
func (t *Tokenizer) mergeList() [][2]string {
	type ranked struct {
		rank int32
		pair [2]string
	}
	list := make([]ranked, 0, len(t.model.merges))
	for key, m := range t.model.merges {
		a, b := int32(key>>32), int32(uint32(key))
		list = append(list, ranked{m.rank, [2]string{t.model.tokens[a], t.model.tokens[b]}})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].rank < list[j].rank })
	out := make([][2]string, len(list))
	for i, r := range list {
		out[i] = r.pair
	}
	return out
}

// splitKind names the regex of the pre-tokenizer's one splitting step.
func splitKind(p preTokenizer) string {
	var kinds []string
	var walk func(p preTokenizer)
	walk = func(p preTokenizer) {
		switch p := p.(type) {
		case sequencePre:
			for _, q := range p {
				walk(q)
			}
		case *splitPre:
			kinds = append(kinds, matcherKind(p.m))
		case *byteLevelPre:
			if p.split != nil {
				kinds = append(kinds, matcherKind(p.split.m))
			}
		case digitsPre, whitespaceSplitPre:
			kinds = append(kinds, SplitOther)
		}
	}
	walk(p)
	switch len(kinds) {
	case 0:
		return SplitNone
	case 1:
		return kinds[0]
	}
	return SplitOther
}

func matcherKind(m matcher) string {
	if sc, ok := m.(*scanner); ok {
		switch sc.pattern {
		case gpt2Pattern:
			return SplitGPT2
		case llama3Pattern:
			return SplitLlama3
		case qwen2Pattern:
			return SplitQwen2
		}
	}
	return SplitOther
}

// prependsSpace reports whether the text gets a "▁" in front: Llama 2's Prepend normalizer, or a
// Metaspace pre-tokenizer that prepends.
func prependsSpace(n normalizer, p preTokenizer) bool {
	found := false
	var walkNorm func(n normalizer)
	walkNorm = func(n normalizer) {
		switch n := n.(type) {
		case sequenceNorm:
			for _, m := range n {
				walkNorm(m)
			}
		case prependNorm:
			found = found || string(n) == metaspace
		}
	}
	walkNorm(n)
	var walkPre func(p preTokenizer)
	walkPre = func(p preTokenizer) {
		switch p := p.(type) {
		case sequencePre:
			for _, q := range p {
				walkPre(q)
			}
		case *metaspacePre:
			found = found || p.scheme != prependNever
		}
	}
	walkPre(p)
	return found
}
