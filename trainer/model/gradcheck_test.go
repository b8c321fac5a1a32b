package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
)

// allSeven adapts every projection of every layer.
func allSeven(r int, alpha, dropout float64) *lora.AdapterConfig {
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout = r, alpha, dropout
	c.TargetModules = lora.Strings{List: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	return c
}

// randomAdapter gives every module random A and nonzero random B, so every gradient path is live.
func randomAdapter(cfg *Config, ac *lora.AdapterConfig, seed uint64) *lora.Adapter {
	rng := rand.New(rand.NewPCG(seed, 5))
	ad := &lora.Adapter{Config: ac}
	for l := 0; l < cfg.NumLayers; l++ {
		for p, proj := range cfg.ProjectionShapes() {
			mw := lora.ModuleWeights{Layer: l, Module: lora.Modules[p], R: ac.R, Out: proj.Shape[0], In: proj.Shape[1]}
			mw.A, mw.B = make([]float32, ac.R*mw.In), make([]float32, mw.Out*ac.R)
			for i := range mw.A {
				mw.A[i] = float32(rng.NormFloat64() * 0.2)
			}
			for i := range mw.B {
				mw.B[i] = float32(rng.NormFloat64() * 0.2)
			}
			ad.Modules = append(ad.Modules, mw)
		}
	}
	return ad
}

// packedBatch is two sequences of 9 tokens; the second packs two samples (5 + 4 tokens) whose
// positions restart, and a few targets are ignored.
func packedBatch(vocab int) *Batch {
	b := &Batch{B: 2, T: 9}
	rng := rand.New(rand.NewPCG(11, 12))
	for s := 0; s < 2; s++ {
		for t := 0; t < 9; t++ {
			seg, pos := int32(0), int32(t)
			if s == 1 && t >= 5 {
				seg, pos = 1, int32(t-5)
			}
			b.IDs = append(b.IDs, int32(rng.IntN(vocab)))
			b.Segments = append(b.Segments, seg)
			b.Positions = append(b.Positions, pos)
		}
	}
	for i := range b.IDs {
		b.Targets = append(b.Targets, b.IDs[(i+1)%len(b.IDs)])
	}
	for _, i := range []int{0, 1, 4, 8, 13, 17} { // a prompt, sample ends, a sequence end
		b.Targets[i] = -100
	}
	return b
}

// tinyModel builds a small GQA model in float64 with every projection adapted.
func tinyModel(t *testing.T, opt Options) *Model {
	t.Helper()
	s := tinymodel.Shape{Arch: "llama", Vocab: 48, Hidden: 32, Intermediate: 40, Layers: 2, Heads: 4, KVHeads: 2}
	_, cfg, ckpt := writeTiny(t, s)
	w, err := BindWeights(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Adapter == nil {
		opt.Adapter = allSeven(3, 6, 0)
	}
	opt.Init = randomAdapter(cfg, opt.Adapter, 9)
	m, err := New(cpu.New[float64](), cfg, w, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// meanLoss runs a training forward pass at step 1 and returns the mean loss.
func meanLoss(t *testing.T, m *Model, b *Batch) float64 {
	t.Helper()
	sum, n, err := m.Forward(b, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	return sum / float64(n)
}

// TestModel_GradientCheck ensures the gradient of every adapter parameter (a sample of each
// module's A and B) and of the input embeddings equals central finite differences in float64, for
// a 2-layer GQA model with packed segments, an NF4 base, LoRA with nonzero B on all seven
// projections, with and without dropout.
func TestModel_GradientCheck(t *testing.T) {
	for _, dropout := range []float64{0, 0.25} {
		m := tinyModel(t, Options{Base: BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: allSeven(3, 6, dropout), Seed: 4})
		b := packedBatch(m.Config.VocabSize)
		meanLoss(t, m, b)
		m.ZeroGrads()
		m.Backward(1 / float64(b.Counted()))
		analytic := make([]float64, m.grads.Len())
		m.be.Download(analytic, m.grads)
		params := make([]float64, m.params.Len())
		m.be.Download(params, m.params)

		rng := rand.New(rand.NewPCG(1, 2))
		var num, den float64
		for k := 0; k < 300; k++ {
			i := rng.IntN(len(params))
			fd := finiteDifference(func(x float64) float64 {
				old := params[i]
				params[i] = x
				m.be.Upload(m.params, params)
				l := meanLoss(t, m, b)
				params[i] = old
				m.be.Upload(m.params, params)
				return l
			}, params[i])
			num += (fd - analytic[i]) * (fd - analytic[i])
			den += analytic[i] * analytic[i]
		}
		if rel := math.Sqrt(num / den); rel > 1e-6 || den == 0 {
			t.Errorf("dropout %g: adapter gradients differ from finite differences by %.2e (relative)", dropout, rel)
		}
		checkInputGrad(t, m, b)
	}
}

// checkInputGrad compares the input-embedding gradient with finite differences taken through the
// embedding table: the rows of a token that occurs once receive exactly that position's gradient.
func checkInputGrad(t *testing.T, m *Model, b *Batch) {
	t.Helper()
	meanLoss(t, m, b)
	m.ZeroGrads()
	m.Backward(1 / float64(b.Counted()))
	grad := m.InputGrad()
	row, token := onceToken(b.IDs)
	c := m.Config.HiddenSize
	table := make([]float64, m.embed.Len())
	m.be.Download(table, m.embed)
	var num, den float64
	for j := 0; j < c; j++ {
		i := int(token)*c + j
		fd := finiteDifference(func(x float64) float64 {
			old := table[i]
			table[i] = x
			m.be.Upload(m.embed, table)
			l := meanLoss(t, m, b)
			table[i] = old
			m.be.Upload(m.embed, table)
			return l
		}, table[i])
		an := grad[row*c+j]
		num += (fd - an) * (fd - an)
		den += an * an
	}
	if rel := math.Sqrt(num / den); rel > 1e-6 || den == 0 {
		t.Errorf("input-embedding gradient differs from finite differences by %.2e (relative)", rel)
	}
}

func onceToken(ids []int32) (int, int32) {
	count := map[int32]int{}
	for _, id := range ids {
		count[id]++
	}
	for i, id := range ids {
		if count[id] == 1 {
			return i, id
		}
	}
	panic("no token occurs once")
}

func finiteDifference(f func(float64) float64, x float64) float64 {
	const h = 1e-6
	return (f(x+h) - f(x-h)) / (2 * h)
}

// TestModel_GradientCheckpointing ensures recomputing each layer in the backward pass gives
// bit-identical gradients to keeping every activation, dropout included.
func TestModel_GradientCheckpointing(t *testing.T) {
	var grads [2][]float64
	for i, checkpointing := range []bool{false, true} {
		m := tinyModel(t, Options{Base: BaseNF4, Blocksize: 64, Adapter: allSeven(3, 6, 0.1), Seed: 4, GradientCheckpointing: checkpointing})
		b := packedBatch(m.Config.VocabSize)
		meanLoss(t, m, b)
		m.ZeroGrads()
		m.Backward(1 / float64(b.Counted()))
		grads[i] = make([]float64, m.grads.Len())
		m.be.Download(grads[i], m.grads)
	}
	for i := range grads[0] {
		if grads[0][i] != grads[1][i] {
			t.Fatalf("gradient %d: %g without checkpointing, %g with", i, grads[0][i], grads[1][i])
		}
	}
}

// TestModel_PackedSamplesIndependent ensures a packed sample's loss does not depend on the sample
// packed before it: changing the first sample's tokens leaves the second's logits unchanged.
func TestModel_PackedSamplesIndependent(t *testing.T) {
	m := tinyModel(t, Options{Base: BaseFull})
	b := packedBatch(m.Config.VocabSize)
	if _, _, err := m.Forward(b, false, 0); err != nil {
		t.Fatal(err)
	}
	before := m.Logits()
	b.IDs[9], b.IDs[10] = (b.IDs[9]+1)%48, (b.IDs[10]+7)%48 // first sample of sequence 2
	m.Forward(b, false, 0)
	after := m.Logits()
	v := m.Config.VocabSize
	for i := 14 * v; i < 18*v; i++ { // rows 14..17: the second sample
		if before[i] != after[i] {
			t.Fatalf("logit %d of the second sample changed: %g -> %g", i, before[i], after[i])
		}
	}
	if before[9*v] == after[9*v] {
		t.Error("changing the first sample did not change its own logits")
	}
}

// TestBatch_Check ensures malformed batches are refused with the field and row named.
func TestBatch_Check(t *testing.T) {
	m := tinyModel(t, Options{Base: BaseFull})
	cases := []struct {
		edit func(*Batch)
		want string
	}{
		{func(b *Batch) { b.IDs[3] = 48 }, "token id 48 at row 3"},
		{func(b *Batch) { b.Targets[5] = 99 }, "target 99 at row 5"},
		{func(b *Batch) { b.Segments = b.Segments[:4] }, "segments has 4 entries"},
		{func(b *Batch) { b.Positions[2] = -1 }, "negative position at row 2"},
	}
	for _, c := range cases {
		b := packedBatch(48)
		c.edit(b)
		if _, _, err := m.Forward(b, false, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
