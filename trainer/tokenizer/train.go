package tokenizer

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Training a byte-level BPE tokenizer, Llama 3's kind: the corpus is cut into words by Llama 3's
// Split pattern (the hand scanner of scan.go), every word starts as its UTF-8 bytes (GPT-2's byte
// alphabet, 256 tokens, so any text encodes and nothing is unknown), and the most frequent pair of
// neighbouring tokens over all words is merged into a new token, again and again, until the
// vocabulary is full. What it writes (WriteTrained) is a standard tokenizer.json that Hugging Face
// tokenizers, transformers.js and this package load alike.

// The special tokens a trained tokenizer ends with, in this order: ChatML's, with Llama 3's
// begin and end of text.
const (
	TrainedBOS     = "<|begin_of_text|>"
	TrainedEOS     = "<|end_of_text|>"
	TrainedImStart = "<|im_start|>"
	TrainedImEnd   = "<|im_end|>"
)

// defaultMinCount is TrainOptions.MinFrequency's default: a pair seen once is noise, and merging
// it only spends a vocabulary slot on one word of the corpus.
const defaultMinCount = 2

// TrainedSpecials are the special tokens, in id order after the learned vocabulary.
var TrainedSpecials = []string{TrainedBOS, TrainedEOS, TrainedImStart, TrainedImEnd}

// TrainOptions say how large a vocabulary TrainBPE learns.
type TrainOptions struct {
	// VocabSize counts every token: the 256 bytes, the merges and the special tokens. Training
	// stops earlier when no pair is left that occurs MinFrequency times.
	VocabSize int
	// MinFrequency is the fewest occurrences a pair needs to be merged; 0 means 2.
	MinFrequency int
}

// TrainedBPE is a learned byte-level BPE vocabulary.
type TrainedBPE struct {
	Tokens []string    // id -> token in the byte alphabet; the special tokens come last
	Merges [][2]string // in the order learned, which is their rank
	Words  int         // distinct words the corpus held
	Lines  int         // lines read
}

// SpecialID is the id of token, which must be one of TrainedSpecials.
func (t *TrainedBPE) SpecialID(token string) int32 {
	return int32(len(t.Tokens) - len(TrainedSpecials) + slices.Index(TrainedSpecials, token))
}

// minVocab is the smallest vocabulary TrainBPE makes: the bytes and the special tokens.
var minVocab = 256 + len(TrainedSpecials)

// TrainBPE learns a byte-level BPE vocabulary from the UTF-8 text in r, read line by line (each
// line with its line break, so breaks are learned too). Special tokens written in the text are
// left out of the counts, as they will be encoded as themselves. Text that is not UTF-8 is an
// error naming the line. Equal inputs give equal outputs: ties between pairs are broken by the
// token ids, never by map order.
func TrainBPE(r io.Reader, opt TrainOptions) (*TrainedBPE, error) {
	if opt.VocabSize < minVocab || opt.VocabSize > 1<<24 {
		return nil, fmt.Errorf("tokenizer train: vocabulary %d: want %d (256 bytes and %d special tokens) to %d", opt.VocabSize, minVocab, len(TrainedSpecials), 1<<24)
	}
	if opt.MinFrequency <= 0 {
		opt.MinFrequency = defaultMinCount
	}
	counts, lines, err := countWords(r)
	if err != nil {
		return nil, err
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("tokenizer train: the corpus holds no text")
	}
	m := newMerger(counts)
	for len(m.tokens) < opt.VocabSize-len(TrainedSpecials) {
		if !m.mergeBest(opt.MinFrequency) {
			break // no pair occurs often enough: a smaller vocabulary than asked
		}
	}
	return &TrainedBPE{Tokens: append(m.spelled(), TrainedSpecials...), Merges: m.spelledMerges(), Words: len(counts), Lines: lines}, nil
}

// countWords reads r line by line and counts its pre-tokenized words (as raw bytes).
func countWords(r io.Reader) (map[string]int, int, error) {
	sc := knownScanner(llama3Pattern)
	counts := map[string]int{}
	br := bufio.NewReaderSize(r, 1<<16)
	var matches [][2]int
	for line := 1; ; line++ {
		text, err := br.ReadString('\n')
		if text != "" {
			if !utf8.ValidString(text) {
				return nil, 0, fmt.Errorf("tokenizer train: line %d is not UTF-8 text", line)
			}
			for _, piece := range splitSpecials(text) {
				matches = sc.appendMatches(matches[:0], piece)
				for _, m := range matches {
					counts[piece[m[0]:m[1]]]++
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return counts, line - 1 + min(len(text), 1), nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

// splitSpecials returns the parts of text between the special tokens written in it.
func splitSpecials(text string) []string {
	parts := []string{text}
	for _, s := range TrainedSpecials {
		var next []string
		for _, p := range parts {
			for _, q := range strings.Split(p, s) {
				if q != "" {
					next = append(next, q)
				}
			}
		}
		parts = next
	}
	return parts
}

// merger holds the words being merged and the counts of their neighbouring pairs.
type merger struct {
	tokens [][]byte         // id -> the bytes it stands for; ids 0-255 are the bytes themselves
	ids    map[string]int32 // bytes -> id, for a merge that makes a token already known
	merges [][2]int32

	words  [][]int32        // each distinct word as token ids
	freq   []int            // how often each word occurs
	pairs  map[uint64]int   // (left, right) -> occurrences over all words
	where  map[uint64][]int // (left, right) -> the words it was seen in (may hold stale entries)
	queue  pairQueue        // every pair at its current count, and stale entries (see mergeBest)
	marked []int            // the merge a word was last rewritten by, to visit it once per merge
}

func newMerger(counts map[string]int) *merger {
	m := &merger{ids: map[string]int32{}, pairs: map[uint64]int{}, where: map[uint64][]int{}}
	for b := range 256 {
		m.tokens = append(m.tokens, []byte{byte(b)})
		m.ids[string([]byte{byte(b)})] = int32(b)
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words) // a fixed order, so that equal corpora give equal queues
	for i, w := range words {
		ids := make([]int32, len(w))
		for k := 0; k < len(w); k++ {
			ids[k] = int32(w[k])
		}
		m.words, m.freq = append(m.words, ids), append(m.freq, counts[w])
		m.addPairs(i, +1)
	}
	m.marked = make([]int, len(m.words))
	for key, n := range m.pairs {
		m.queue = append(m.queue, pairCount{key: key, count: n})
	}
	heap.Init(&m.queue)
	return m
}

// addPairs adds (sign +1) or removes (-1) the pairs of word i, weighted by its frequency.
func (m *merger) addPairs(i, sign int) {
	w := m.words[i]
	for k := 0; k+1 < len(w); k++ {
		key := pairKey(w[k], w[k+1])
		m.pairs[key] += sign * m.freq[i]
		if sign > 0 {
			m.where[key] = append(m.where[key], i)
		}
	}
}

// mergeBest merges the most frequent pair (ties: the smaller ids first) if it occurs at least min
// times, and reports whether it did. The queue holds, for every pair, an entry at its current
// count; entries whose count is out of date are dropped when they come up.
func (m *merger) mergeBest(min int) bool {
	for m.queue.Len() > 0 {
		top := heap.Pop(&m.queue).(pairCount)
		if m.pairs[top.key] != top.count {
			continue // out of date: the pair's current count has its own entry
		}
		if top.count < min {
			return false
		}
		m.merge(top.key)
		return true
	}
	return false
}

// merge makes the pair one token, rewrites every word that holds it, and queues the pairs whose
// counts changed at their new counts.
func (m *merger) merge(key uint64) {
	a, b := int32(key>>32), int32(uint32(key))
	raw := append(append([]byte(nil), m.tokens[a]...), m.tokens[b]...)
	id, known := m.ids[string(raw)]
	if !known { // two merges can make the same token: it keeps its first id, as HF's trainer does
		id = int32(len(m.tokens))
		m.tokens = append(m.tokens, raw)
		m.ids[string(raw)] = id
	}
	m.merges = append(m.merges, [2]int32{a, b})
	stamp := len(m.merges)
	changed := map[uint64]bool{}
	for _, i := range m.where[key] {
		if m.marked[i] == stamp {
			continue
		}
		m.marked[i] = stamp
		m.rewrite(i, a, b, id, changed)
	}
	delete(m.where, key)
	keys := make([]uint64, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if n := m.pairs[k]; n > 0 {
			heap.Push(&m.queue, pairCount{key: k, count: n})
		} else {
			delete(m.pairs, k)
		}
	}
}

// rewrite replaces every (a, b) in word i, left to right, by id, updating the pair counts and
// noting the pairs that changed.
func (m *merger) rewrite(i int, a, b, id int32, changed map[uint64]bool) {
	w := m.words[i]
	if !hasPair(w, a, b) {
		return // a stale entry of where
	}
	for k := 0; k+1 < len(w); k++ {
		changed[pairKey(w[k], w[k+1])] = true
	}
	m.addPairs(i, -1)
	out := w[:0]
	for k := 0; k < len(w); k++ {
		if k+1 < len(w) && w[k] == a && w[k+1] == b {
			out = append(out, id)
			k++
			continue
		}
		out = append(out, w[k])
	}
	m.words[i] = out
	m.addPairs(i, +1)
	for k := 0; k+1 < len(out); k++ {
		changed[pairKey(out[k], out[k+1])] = true
	}
}

func hasPair(w []int32, a, b int32) bool {
	for k := 0; k+1 < len(w); k++ {
		if w[k] == a && w[k+1] == b {
			return true
		}
	}
	return false
}

// spelled is the vocabulary in the byte alphabet.
func (m *merger) spelled() []string {
	out := make([]string, len(m.tokens))
	for i, raw := range m.tokens {
		out[i] = byteLevelEncode(string(raw))
	}
	return out
}

// spelledMerges are the merges in the byte alphabet.
func (m *merger) spelledMerges() [][2]string {
	out := make([][2]string, len(m.merges))
	for i, p := range m.merges {
		out[i] = [2]string{byteLevelEncode(string(m.tokens[p[0]])), byteLevelEncode(string(m.tokens[p[1]]))}
	}
	return out
}

// pairCount is a queue entry: a pair and its count when queued.
type pairCount struct {
	key   uint64
	count int
}

// pairQueue is a max-heap by count, then by the smaller pair of ids (left, then right).
type pairQueue []pairCount

func (q pairQueue) Len() int { return len(q) }
func (q pairQueue) Less(i, j int) bool {
	if q[i].count != q[j].count {
		return q[i].count > q[j].count
	}
	return q[i].key < q[j].key
}
func (q pairQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pairQueue) Push(x any)   { *q = append(*q, x.(pairCount)) }
func (q *pairQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
