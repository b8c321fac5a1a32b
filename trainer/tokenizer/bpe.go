package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model of tokenizer.json ("model": {"type": "BPE", ...}) as HF tokenizers'
// models/bpe runs it: a word is cut into characters (bytes, for a byte-level vocabulary), each
// looked up in the vocabulary (with byte fallback or the unknown token for a miss), then merged
// pair by pair, the lowest-ranked merge first and the leftmost of equal ranks first.
type bpe struct {
	vocab  map[string]int32 // token as the file spells it -> id
	tokens []string         // id -> token ("" where the model has no such id)
	merges map[uint64]merge // (left id, right id) -> rank and merged id

	unk          int32 // the unknown token, -1 for none
	fuseUnk      bool
	byteFallback bool
	fallback     [256]int32 // <0xNN> ids, -1 where missing
	ignoreMerges bool
	prefix       string // continuing_subword_prefix, before every character but the first
	suffix       string // end_of_word_suffix, after the last character

	// byteLevel: the pre-tokenizer spells words in GPT-2's byte alphabet. Words then reach the
	// model as raw bytes and are looked up in raw, the vocabulary with every token turned back into
	// its bytes: the same result as HF's, without spelling each word out.
	byteLevel bool
	raw       map[string]int32
	byteIDs   [256]int32 // the id of each one-byte token, -1 where missing

	// metaSplit: no token has a ▁ right after another character, so no token can span the
	// place before such a ▁ in a word, and a word is merged piece by piece between those places
	// with the same result. A Llama 2 or Mistral "word" is a whole paragraph (no pre-tokenizer);
	// its pieces are words again, short and cached.
	metaSplit bool

	cache wordCache
}

const metaspace = "\u2581"

type merge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// symbol is one part of a word while it is merged: a linked list in a slice, as in HF's Word.
type symbol struct {
	id         int32
	prev, next int32
	size       int32 // bytes; 0 once merged into its left neighbour
}

// candidate is a merge waiting in the queue: rank and position in one key (rank high), so the
// queue orders by rank, then leftmost, with one comparison.
type candidate struct {
	key uint64
	id  int32
}

func newCandidate(rank, pos, id int32) candidate {
	return candidate{key: uint64(uint32(rank))<<32 | uint64(uint32(pos)), id: id}
}

func (c candidate) pos() int32 { return int32(uint32(c.key)) }

// wordScratch is reused between words of one Encode call.
type wordScratch struct {
	syms  []symbol
	queue []candidate
}

// encodeWord appends the ids of one pre-tokenized word.
func (m *bpe) encodeWord(dst []int32, w string, sc *wordScratch) []int32 {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.lookupWhole(w); ok {
			return append(dst, id)
		}
	}
	if m.metaSplit && !m.byteLevel {
		start := 0
		for i := 1; i < len(w); {
			k := strings.Index(w[i:], metaspace)
			if k < 0 {
				break
			}
			at := i + k
			if !strings.HasSuffix(w[:at], metaspace) {
				dst = m.encodePiece(dst, w[start:at], sc)
				start = at
			}
			i = at + len(metaspace)
		}
		return m.encodePiece(dst, w[start:], sc)
	}
	return m.encodePiece(dst, w, sc)
}

// encodePiece merges a word, or a piece of one, through the cache.
func (m *bpe) encodePiece(dst []int32, w string, sc *wordScratch) []int32 {
	cacheable := len(w) < maxCachedWord
	if cacheable {
		if ids, ok := m.cache.get(w); ok {
			return append(dst, ids...)
		}
	}
	sc.syms = sc.syms[:0]
	if m.byteLevel && m.prefix == "" && m.suffix == "" && m.allBytesKnown(w) {
		for i := 0; i < len(w); i++ {
			m.addSymbol(sc, m.byteIDs[w[i]], 1)
		}
	} else {
		chars := w
		if m.byteLevel {
			chars = byteLevelEncode(w)
		}
		m.charSymbols(sc, chars)
	}
	m.mergeAll(sc)
	start := len(dst)
	for _, s := range sc.syms {
		if s.size != 0 {
			dst = append(dst, s.id)
		}
	}
	if cacheable {
		m.cache.put(w, dst[start:])
	}
	return dst
}

func (m *bpe) lookupWhole(w string) (int32, bool) {
	if m.byteLevel {
		id, ok := m.raw[w]
		return id, ok
	}
	id, ok := m.vocab[w]
	return id, ok
}

func (m *bpe) allBytesKnown(w string) bool {
	for i := 0; i < len(w); i++ {
		if m.byteIDs[w[i]] < 0 {
			return false
		}
	}
	return true
}

func (m *bpe) addSymbol(sc *wordScratch, id, size int32) {
	n := int32(len(sc.syms))
	if n > 0 {
		sc.syms[n-1].next = n
	}
	sc.syms = append(sc.syms, symbol{id: id, prev: n - 1, next: -1, size: size})
}

// charSymbols cuts w into its characters as HF's merge_word does, with the prefix and suffix,
// byte fallback and (fused) unknown tokens.
func (m *bpe) charSymbols(sc *wordScratch, w string) {
	unkID, unkSize := int32(-1), int32(0) // a pending unknown run
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		end := i + n
		s := w[i:end]
		size := int32(len(s))
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if end == len(w) && m.suffix != "" {
			s += m.suffix
		}
		if id, ok := m.vocab[s]; ok {
			if unkID >= 0 {
				m.addSymbol(sc, unkID, unkSize)
				unkID = -1
			}
			m.addSymbol(sc, id, size)
			i = end
			continue
		}
		if m.byteFallback && m.hasFallback(s) {
			// HF leaves a pending unknown run where it is, so it lands after these bytes.
			for k := 0; k < len(s); k++ {
				m.addSymbol(sc, m.fallback[s[k]], 1)
			}
			i = end
			continue
		}
		i = end
		if m.unk < 0 {
			continue // no unknown token: HF drops the character
		}
		switch {
		case unkID >= 0 && m.fuseUnk:
			unkSize += size
		case unkID >= 0:
			m.addSymbol(sc, unkID, unkSize)
			unkID, unkSize = m.unk, size
		default:
			unkID, unkSize = m.unk, size
		}
	}
	if unkID >= 0 {
		m.addSymbol(sc, unkID, unkSize)
	}
}

func (m *bpe) hasFallback(s string) bool {
	for k := 0; k < len(s); k++ {
		if m.fallback[s[k]] < 0 {
			return false
		}
	}
	return true
}

// mergeAll is HF's Word::merge_all: a queue of candidate merges ordered by rank then position. A
// popped candidate is dropped when its symbol is gone, is last, or no longer makes the same merged
// token with its right neighbour.
func (m *bpe) mergeAll(sc *wordScratch) {
	syms := sc.syms
	q := sc.queue[:0]
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q = pushCandidate(q, newCandidate(mg.rank, int32(i), mg.id))
		}
	}
	for len(q) > 0 {
		var top candidate
		top, q = popCandidate(q)
		pos := top.pos()
		cur := &syms[pos]
		if cur.size == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.id != top.id {
			continue
		}
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 && int(right.next) < len(syms) {
			syms[right.next].prev = pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q = pushCandidate(q, newCandidate(mg.rank, cur.prev, mg.id))
			}
		}
		if cur.next >= 0 && int(cur.next) < len(syms) {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q = pushCandidate(q, newCandidate(mg.rank, pos, mg.id))
			}
		}
	}
	sc.queue = q
}

func candidateLess(a, b candidate) bool { return a.key < b.key }

func pushCandidate(q []candidate, c candidate) []candidate {
	q = append(q, c)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !candidateLess(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	return q
}

func popCandidate(q []candidate) (candidate, []candidate) {
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < len(q) && candidateLess(q[l], q[small]) {
			small = l
		}
		if r < len(q) && candidateLess(q[r], q[small]) {
			small = r
		}
		if small == i {
			return top, q
		}
		q[i], q[small] = q[small], q[i]
		i = small
	}
}

// Words of up to maxCachedWord bytes are remembered, at most maxCachedWords of them (HF keeps
// 10,000 words under 256 bytes; a larger cache pays off on a training corpus).
const (
	maxCachedWord  = 256
	maxCachedWords = 200_000
)

// wordCache remembers merged words. It is safe for concurrent use; once full it stops growing.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int32)
	}
	if len(c.m) < maxCachedWords {
		c.m[w] = append([]int32(nil), ids...)
	}
	c.mu.Unlock()
}

func (c *wordCache) reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
