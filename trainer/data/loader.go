package data

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/rng"
)

// Random streams of the data's draws, apart from dropout's (which count steps from 0) and LoRA
// initialisation's (1<<63 | module): epoch e's order is stream orderStreams|e, the validation split
// is splitStream.
const (
	orderStreams = 1 << 62
	splitStream  = orderStreams | 1<<40
)

// LoaderConfig says how samples become batches.
type LoaderConfig struct {
	BatchSize int // sequences per batch (micro_batch_size)
	// MaxLength is the most tokens in a sequence. With packing every sequence is this long; without,
	// a batch is as long as its longest sample. Samples must already fit (Load truncates them).
	MaxLength int
	Packing   bool   // several samples per sequence, apart by segment ids
	Shuffle   bool   // a new seeded order of sequences every epoch
	Seed      uint64 // the run's seed
	PadID     int32  // the token padding carries (the tokenizer's pad or EOS); never trained on
}

// Position is the loader's whole state: the next batch to take. A checkpoint stores it and a resumed
// run passes it back, with no replay.
type Position struct {
	Epoch int `json:"epoch"`
	Step  int `json:"step"` // batch within the epoch, 0 ≤ Step < Len()
}

// Loader yields the batches of every epoch: Batch(epoch, step) depends only on the samples, the
// configuration and its arguments. It is safe for concurrent use.
type Loader struct {
	cfg     LoaderConfig
	samples []Sample
	seqs    [][]int // each sequence's samples, by index
	tokens  int

	mu         sync.Mutex
	orderEpoch int
	order      []int // sequence indexes in epoch orderEpoch's order; nil before the first
}

// NewLoader prepares the sequences (packed, or one per sample) of an epoch.
func NewLoader(samples []Sample, cfg LoaderConfig) (*Loader, error) {
	if cfg.BatchSize <= 0 || cfg.MaxLength <= 0 {
		return nil, fmt.Errorf("data loader: batch size %d and max length %d must be positive", cfg.BatchSize, cfg.MaxLength)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("data loader: %w", ErrNoSamples)
	}
	l := &Loader{cfg: cfg, samples: samples}
	lengths := make([]int, len(samples))
	for i := range samples {
		s := &samples[i]
		if len(s.IDs) == 0 || len(s.IDs) > cfg.MaxLength || len(s.Labels) != len(s.IDs) {
			return nil, fmt.Errorf("data loader: the sample of line %d has %d tokens and %d labels; max length %d", s.Line, len(s.IDs), len(s.Labels), cfg.MaxLength)
		}
		lengths[i] = len(s.IDs)
		l.tokens += s.Trained()
	}
	if cfg.Packing {
		l.seqs = packSequences(lengths, cfg.MaxLength)
	} else {
		l.seqs = make([][]int, len(samples))
		for i := range samples {
			l.seqs[i] = []int{i}
		}
	}
	return l, nil
}

// Len is the number of batches in an epoch; the last may hold fewer sequences.
func (l *Loader) Len() int { return (len(l.seqs) + l.cfg.BatchSize - 1) / l.cfg.BatchSize }

// Sequences is the number of sequences in an epoch.
func (l *Loader) Sequences() int { return len(l.seqs) }

// Tokens is the number of targets counted in the loss in an epoch.
func (l *Loader) Tokens() int { return l.tokens }

// Next is the position after p.
func (l *Loader) Next(p Position) Position {
	if p.Step++; p.Step >= l.Len() {
		return Position{Epoch: p.Epoch + 1}
	}
	return p
}

// Fingerprint identifies the samples and the configuration, so that a resumed run can refuse a
// dataset or settings that changed since its checkpoint.
func (l *Loader) Fingerprint() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%+v|%d|", l.cfg, len(l.samples))
	buf := make([]byte, 0, 4096)
	for _, s := range l.samples {
		buf = buf[:0]
		for i := range s.IDs {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(s.IDs[i]))
			buf = binary.LittleEndian.AppendUint32(buf, uint32(s.Labels[i]))
		}
		h.Write(buf)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Batch is the batch at step of epoch. Targets are shifted: Targets[i] is the label of the next
// token of the same sample, IgnoreLabel at each sample's last token and on padding.
func (l *Loader) Batch(p Position) *model.Batch {
	if p.Epoch < 0 || p.Step < 0 || p.Step >= l.Len() {
		panic(fmt.Sprintf("data: Batch(%+v) outside 0 ≤ step < %d", p, l.Len()))
	}
	order := l.epochOrder(p.Epoch)
	rows := order[p.Step*l.cfg.BatchSize : min((p.Step+1)*l.cfg.BatchSize, len(order))]
	t := l.cfg.MaxLength
	if !l.cfg.Packing {
		t = 0
		for _, seq := range rows {
			t = max(t, len(l.samples[l.seqs[seq][0]].IDs))
		}
	}
	b := newBatch(len(rows), t)
	for r, seq := range rows {
		l.fillRow(b, r, l.seqs[seq])
	}
	return b
}

func newBatch(rows, t int) *model.Batch {
	n := rows * t
	return &model.Batch{B: rows, T: t, IDs: make([]int32, n), Targets: make([]int32, n),
		Positions: make([]int32, n), Segments: make([]int32, n)}
}

// fillRow lays samples one after another in row r, then pads the rest: the padding is a segment of
// its own, with positions from 0 and no targets.
func (l *Loader) fillRow(b *model.Batch, r int, samples []int) {
	at := r * b.T
	end := at + b.T
	for seg, i := range samples {
		s := &l.samples[i]
		for j, id := range s.IDs {
			b.IDs[at+j] = id
			b.Positions[at+j] = int32(j)
			b.Segments[at+j] = int32(seg)
			b.Targets[at+j] = IgnoreLabel
			if j+1 < len(s.IDs) {
				b.Targets[at+j] = s.Labels[j+1]
			}
		}
		at += len(s.IDs)
	}
	for j := 0; at < end; at, j = at+1, j+1 {
		b.IDs[at] = l.cfg.PadID
		b.Positions[at] = int32(j)
		b.Segments[at] = int32(len(samples))
		b.Targets[at] = IgnoreLabel
	}
}

// epochOrder is the order of the sequences in an epoch: a seeded permutation, the same for the same
// seed and epoch on every machine, or the file's order without shuffling.
func (l *Loader) epochOrder(epoch int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.order == nil || l.orderEpoch != epoch {
		if l.cfg.Shuffle {
			l.order = permutation(len(l.seqs), l.cfg.Seed, orderStreams|uint64(epoch))
		} else if l.order == nil {
			l.order = identity(len(l.seqs))
		}
		l.orderEpoch = epoch
	}
	return l.order
}

// permutation is a Fisher–Yates shuffle of 0..n-1 whose i-th swap draws counter i of the stream.
func permutation(n int, seed, stream uint64) []int {
	p := identity(n)
	for i := n - 1; i > 0; i-- {
		j := int(uint64(rng.Uint32(seed, stream, uint64(i))) * uint64(i+1) >> 32)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}
