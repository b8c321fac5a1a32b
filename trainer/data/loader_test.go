package data

import (
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// sample makes a sample of the given ids, trained from token from on.
func sample(line int, from int, ids ...int32) Sample {
	labels := make([]int32, len(ids))
	for i, id := range ids {
		labels[i] = IgnoreLabel
		if i >= from {
			labels[i] = id
		}
	}
	return Sample{Line: line, IDs: ids, Labels: labels, Length: len(ids)}
}

func newLoader(t testing.TB, samples []Sample, cfg LoaderConfig) *Loader {
	t.Helper()
	l, err := NewLoader(samples, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const pad = 99

// TestLoader_PackingBoundaries ensures a packed row lays its samples one after another with their
// own segment ids and positions from 0, targets shifted within each sample only (the last token of
// one sample never predicts the first of the next), and padding as a segment of its own with
// the pad id and no targets.
func TestLoader_PackingBoundaries(t *testing.T) {
	samples := []Sample{
		sample(1, 0, 10, 11, 12, 13), // 4 tokens, all trained
		sample(2, 2, 20, 21, 22),     // 3 tokens, the first two masked
		sample(3, 0, 30, 31),         // 2 tokens
	}
	l := newLoader(t, samples, LoaderConfig{BatchSize: 1, MaxLength: 10, Packing: true, PadID: pad})
	if l.Len() != 1 || l.Sequences() != 1 {
		t.Fatalf("Len %d, Sequences %d; want one of each", l.Len(), l.Sequences())
	}
	b := l.Batch(Position{})
	want := &model.Batch{B: 1, T: 10,
		// longest first: samples 1, 2, 3, then one padding token
		IDs:       []int32{10, 11, 12, 13, 20, 21, 22, 30, 31, pad},
		Targets:   []int32{11, 12, 13, -100, -100, 22, -100, 31, -100, -100},
		Positions: []int32{0, 1, 2, 3, 0, 1, 2, 0, 1, 0},
		Segments:  []int32{0, 0, 0, 0, 1, 1, 1, 2, 2, 3},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("batch\n got %+v\nwant %+v", b, want)
	}
	if got := b.Counted(); got != l.Tokens() || got != 5 {
		t.Errorf("counted %d, Tokens %d; want 5", got, l.Tokens())
	}
}

// TestLoader_NoPacking ensures without packing each row is one sample, the batch as long as its
// longest sample, the shorter padded as their own segment, and the last batch smaller.
func TestLoader_NoPacking(t *testing.T) {
	samples := []Sample{sample(1, 0, 10, 11, 12), sample(2, 1, 20, 21), sample(3, 0, 30, 31, 32, 33, 34)}
	l := newLoader(t, samples, LoaderConfig{BatchSize: 2, MaxLength: 8, PadID: pad})
	if l.Len() != 2 {
		t.Fatalf("Len %d", l.Len())
	}
	b := l.Batch(Position{Step: 0})
	want := &model.Batch{B: 2, T: 3,
		IDs:       []int32{10, 11, 12, 20, 21, pad},
		Targets:   []int32{11, 12, -100, 21, -100, -100},
		Positions: []int32{0, 1, 2, 0, 1, 0},
		Segments:  []int32{0, 0, 0, 0, 0, 1},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("batch 0\n got %+v\nwant %+v", b, want)
	}
	if b := l.Batch(Position{Step: 1}); b.B != 1 || b.T != 5 || b.Counted() != 4 {
		t.Errorf("batch 1: B %d T %d counted %d", b.B, b.T, b.Counted())
	}
}

// manySamples makes n samples of varied lengths 1..maxLen with ids below 256.
func manySamples(n, maxLen int) []Sample {
	s := make([]Sample, n)
	for i := range s {
		length := 1 + (i*7919)%maxLen
		ids := make([]int32, length)
		for j := range ids {
			ids[j] = int32((i*31 + j*17) % 256)
		}
		s[i] = sample(i+1, (i%3)*length/4, ids...)
	}
	return s
}

// epochLines lists the lines of the samples of every batch of an epoch, in order, and checks each
// batch's sizes.
func epochLines(t *testing.T, l *Loader, epoch int, samples []Sample) (lines []int, counted int) {
	t.Helper()
	for step := range l.Len() {
		b := l.Batch(Position{Epoch: epoch, Step: step})
		if len(b.IDs) != b.B*b.T || b.T > l.cfg.MaxLength {
			t.Fatalf("batch %d: B %d T %d, %d ids", step, b.B, b.T, len(b.IDs))
		}
		counted += b.Counted()
		for r := range b.B {
			for _, seg := range l.seqs[l.epochOrder(epoch)[step*l.cfg.BatchSize+r]] {
				lines = append(lines, samples[seg].Line)
			}
		}
	}
	return lines, counted
}

// TestLoader_Epochs ensures every epoch holds every sample exactly once, counts Tokens() targets,
// and with shuffling takes a new order each epoch that depends only on the seed and the epoch.
func TestLoader_Epochs(t *testing.T) {
	samples := manySamples(200, 48)
	for _, packing := range []bool{false, true} {
		cfg := LoaderConfig{BatchSize: 3, MaxLength: 64, Packing: packing, Shuffle: true, Seed: 7, PadID: pad}
		l := newLoader(t, samples, cfg)
		var orders [][]int
		for epoch := range 3 {
			lines, counted := epochLines(t, l, epoch, samples)
			sorted := slices.Clone(lines)
			sort.Ints(sorted)
			for i, line := range sorted {
				if line != i+1 {
					t.Fatalf("packing %v epoch %d: sample lines %v...", packing, epoch, sorted[:i+1])
				}
			}
			if counted != l.Tokens() {
				t.Errorf("packing %v epoch %d: counted %d, Tokens %d", packing, epoch, counted, l.Tokens())
			}
			orders = append(orders, lines)
		}
		if reflect.DeepEqual(orders[0], orders[1]) || reflect.DeepEqual(orders[1], orders[2]) {
			t.Errorf("packing %v: the same order in two epochs", packing)
		}
		again := newLoader(t, samples, cfg)
		// jump straight to epoch 2, step 5: the same batch as the first loader's
		if !reflect.DeepEqual(again.Batch(Position{Epoch: 2, Step: 5}), l.Batch(Position{Epoch: 2, Step: 5})) {
			t.Errorf("packing %v: a resumed loader gives another batch", packing)
		}
		cfg.Seed = 8
		if other := newLoader(t, samples, cfg); reflect.DeepEqual(other.Batch(Position{}), l.Batch(Position{})) {
			t.Errorf("packing %v: seeds 7 and 8 give the same first batch", packing)
		}
	}
}

// TestLoader_WithoutShuffle ensures the file's order is kept when shuffling is off.
func TestLoader_WithoutShuffle(t *testing.T) {
	samples := manySamples(10, 8)
	l := newLoader(t, samples, LoaderConfig{BatchSize: 4, MaxLength: 8})
	for epoch := range 2 {
		if lines, _ := epochLines(t, l, epoch, samples); !reflect.DeepEqual(lines, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
			t.Errorf("epoch %d: %v", epoch, lines)
		}
	}
}

// TestLoader_Next ensures positions run through an epoch and on to the next.
func TestLoader_Next(t *testing.T) {
	l := newLoader(t, manySamples(5, 4), LoaderConfig{BatchSize: 2, MaxLength: 4})
	p := Position{}
	var seen []Position
	for range 4 {
		seen = append(seen, p)
		p = l.Next(p)
	}
	want := []Position{{0, 0}, {0, 1}, {0, 2}, {1, 0}}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("positions %v", seen)
	}
}

// TestNewLoader_Refuses ensures bad sizes and samples that do not fit are refused.
func TestNewLoader_Refuses(t *testing.T) {
	ok := []Sample{sample(1, 0, 1, 2)}
	for name, c := range map[string]struct {
		s   []Sample
		cfg LoaderConfig
	}{
		"no samples":   {nil, LoaderConfig{BatchSize: 1, MaxLength: 4}},
		"batch size 0": {ok, LoaderConfig{MaxLength: 4}},
		"too long":     {[]Sample{sample(3, 0, 1, 2, 3)}, LoaderConfig{BatchSize: 1, MaxLength: 2}},
		"labels short": {[]Sample{{Line: 4, IDs: []int32{1, 2}, Labels: []int32{1}}}, LoaderConfig{BatchSize: 1, MaxLength: 2}},
	} {
		if _, err := NewLoader(c.s, c.cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLoader_Fingerprint ensures the fingerprint changes with the samples and the configuration.
func TestLoader_Fingerprint(t *testing.T) {
	samples := manySamples(20, 8)
	cfg := LoaderConfig{BatchSize: 2, MaxLength: 8, Shuffle: true, Seed: 1}
	a := newLoader(t, samples, cfg).Fingerprint()
	if b := newLoader(t, samples, cfg).Fingerprint(); a != b {
		t.Errorf("same loaders: %s %s", a, b)
	}
	cfg.Seed = 2
	if b := newLoader(t, samples, cfg).Fingerprint(); a == b {
		t.Error("another seed, the same fingerprint")
	}
	cfg.Seed = 1
	changed := slices.Clone(samples)
	changed[3] = sample(4, 0, 1, 2, 3)
	if b := newLoader(t, changed, cfg).Fingerprint(); a == b {
		t.Error("another sample, the same fingerprint")
	}
}

// TestLoader_PackedLossEqualsSeparate runs the real model: packed batches must give the same summed
// loss and count as their samples run one by one, which holds only when segments keep attention
// apart and no target crosses a boundary. (Positions are checked in PackingBoundaries: RoPE is
// relative, so a sample starting at another position scores the same.)
func TestLoader_PackedLossEqualsSeparate(t *testing.T) {
	m, err := model.Load(cpu.New[float64](), "../../testdata/models/tiny-llama", model.Options{Base: model.BaseFull})
	if err != nil {
		t.Fatal(err)
	}
	samples := manySamples(9, 20)
	l := newLoader(t, samples, LoaderConfig{BatchSize: 2, MaxLength: 32, Packing: true, PadID: 0})
	var packedSum float64
	var packedN int
	for step := range l.Len() {
		s, n, err := m.Forward(l.Batch(Position{Step: step}), false, 0)
		if err != nil {
			t.Fatal(err)
		}
		packedSum, packedN = packedSum+s, packedN+n
	}
	var sum float64
	var n int
	for _, s := range samples {
		one := newLoader(t, []Sample{s}, LoaderConfig{BatchSize: 1, MaxLength: 32})
		b := one.Batch(Position{})
		if b.Counted() == 0 {
			continue
		}
		ls, ln, err := m.Forward(b, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		sum, n = sum+ls, n+ln
	}
	if n != packedN || math.Abs(sum-packedSum) > 1e-9*math.Abs(sum) {
		t.Errorf("packed: loss %.12g over %d; separate: %.12g over %d", packedSum, packedN, sum, n)
	}
}

// TestPackSequences ensures best fit decreasing fills sequences without overflow and places every
// sample once.
func TestPackSequences(t *testing.T) {
	lengths := []int{5, 9, 1, 4, 6, 3, 10, 2}
	seqs := packSequences(lengths, 10)
	want := [][]int{{6}, {1, 2}, {4, 3}, {0, 5, 7}}
	if !reflect.DeepEqual(seqs, want) {
		t.Errorf("packed %v, want %v", seqs, want)
	}
	lengths = make([]int, 1000)
	for i := range lengths {
		lengths[i] = 1 + (i*7919)%200
	}
	seen := make([]bool, len(lengths))
	total := 0
	seqs = packSequences(lengths, 256)
	for _, seq := range seqs {
		n := 0
		for _, i := range seq {
			if seen[i] {
				t.Fatalf("sample %d placed twice", i)
			}
			seen[i], n = true, n+lengths[i]
		}
		if n > 256 {
			t.Fatalf("a sequence of %d tokens", n)
		}
		total += n
	}
	if eff := float64(total) / float64(256*len(seqs)); eff < 0.95 {
		t.Errorf("packing efficiency %.3f", eff)
	}
}

// TestPermutation_Golden pins the order of epochs 0 and 1 for seed 7: checkpoints store only
// (epoch, step), so a change of generator would silently resume into another order.
func TestPermutation_Golden(t *testing.T) {
	for epoch, want := range [][]int{{5, 1, 8, 7, 0, 9, 2, 6, 3, 4}, {0, 2, 4, 5, 3, 1, 8, 9, 6, 7}} {
		if got := permutation(10, 7, orderStreams|uint64(epoch)); !reflect.DeepEqual(got, want) {
			t.Errorf("epoch %d: %v, want %v", epoch, got, want)
		}
	}
}
