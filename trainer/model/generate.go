package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/rng"
)

// Sampling chooses how Generate picks each next token.
type Sampling struct {
	MaxTokens   int
	Temperature float64 // 0 is greedy: always the most likely token
	TopP        float64 // nucleus sampling: draw among the most likely tokens whose mass reaches TopP; 0 or 1 = all
	Seed        uint64
	Stop        []int32 // generation ends after any of these (the tokenizer's EOS ids)
}

// sampleStream keeps generation's draws apart from dropout's and initialisation's streams.
const sampleStream = 1<<62 | 1

// Generate continues prompt by up to s.MaxTokens tokens, with a key/value cache so each new token
// costs one row of computation. It returns the new tokens (a stop token included when one ends it).
func (m *Model) Generate(prompt []int32, s Sampling) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt")
	}
	if err := Sequence(prompt).check(m.Config.VocabSize); err != nil {
		return nil, fmt.Errorf("generate: prompt: %w", err)
	}
	d := m.newDecoder(len(prompt)+s.MaxTokens, len(prompt))
	logits := d.step(prompt, 0)
	var out []int32
	for len(out) < s.MaxTokens {
		next := pick(logits, s, uint64(len(out)))
		out = append(out, next)
		if isStop(next, s.Stop) || len(out) == s.MaxTokens {
			break
		}
		logits = d.step([]int32{next}, len(prompt)+len(out)-1)
	}
	return out, nil
}

func isStop(id int32, stop []int32) bool {
	for _, s := range stop {
		if id == s {
			return true
		}
	}
	return false
}

// decoder holds the key/value caches of one generation and buffers for the rows of one step.
type decoder struct {
	m              *Model
	kCache, vCache []backend.Tensor // per layer (rows, NKV·HD)
	arena, arena32 backend.Tensor   // a step's buffers, sized for the largest step (the prompt)
	adapters       backend.Tensor   // every adapter at activation precision, copied once: they do not change while generating
	logits         []float64        // (V) of the last row
}

// newDecoder makes caches for rows tokens in all, and buffers for steps of up to maxStep tokens.
func (m *Model) newDecoder(rows, maxStep int) *decoder {
	kv := m.Config.KVDim()
	counter := &carver{}
	m.carveDecodeStep(&activations{}, counter, maxStep)
	d := &decoder{m: m, arena: m.be.New(counter.off), arena32: m.be.NewFP32(counter.offFP32), logits: make([]float64, m.Config.VocabSize)}
	for range m.layers {
		d.kCache = append(d.kCache, m.be.New(rows*kv))
		d.vCache = append(d.vCache, m.be.New(rows*kv))
	}
	if m.params != nil && m.full == nil {
		d.adapters = m.be.New(m.params.Len())
		m.be.Copy(d.adapters, m.params)
	}
	return d
}

// step runs the new tokens ids (at positions past..) through the model, appending their keys and
// values to the caches, and returns the logits of the last one.
func (d *decoder) step(ids []int32, past int) []float64 {
	m, be, c := d.m, d.m.be, d.m.Config
	n := len(ids)
	a := &activations{}
	m.carveDecodeStep(a, &carver{be: be, arena: d.arena, arena32: d.arena32}, n)
	p := &pass{be: be, s: &a.scratch, n: n}
	positions := make([]int32, n)
	for i := range positions {
		positions[i] = int32(past + i)
	}
	x, la := a.inputs[0], &a.layers[0]
	be.Embedding(x, m.embed, ids, c.HiddenSize)
	kv := c.KVDim()
	for l := range m.layers {
		ly := &m.layers[l]
		if d.adapters != nil { // the layer's adapters for linear.factors, as layer.loadAdapters would copy them
			p.s.adapters = be.View(d.adapters, ly.adapters.off, ly.adapters.n)
		}
		be.RMSNorm(la.xn1, la.rstd1, x, ly.inputNorm, n, c.HiddenSize, c.RMSNormEps)
		ly.proj[projQ].forward(p, la.q, la.h[projQ], la.xn1)
		ly.proj[projK].forward(p, la.k, la.h[projK], la.xn1)
		ly.proj[projV].forward(p, la.v, la.h[projV], la.xn1)
		be.RoPE(la.q, positions, m.invFreq, n, c.NumHeads, c.HeadDim)
		be.RoPE(la.k, positions, m.invFreq, n, c.NumKVHeads, c.HeadDim)
		be.Copy(be.View(d.kCache[l], past*kv, n*kv), la.k)
		be.Copy(be.View(d.vCache[l], past*kv, n*kv), la.v)
		rows := past + n
		be.AttentionCached(la.att, la.q, be.View(d.kCache[l], 0, rows*kv), be.View(d.vCache[l], 0, rows*kv),
			past, n, c.NumHeads, c.NumKVHeads, c.HeadDim, ly.window)
		ly.proj[projO].forward(p, a.tmp, la.h[projO], la.att)
		be.Add(la.x2, x, a.tmp)
		be.RMSNorm(la.xn2, la.rstd2, la.x2, ly.postNorm, n, c.HiddenSize, c.RMSNormEps)
		ly.proj[projGate].forward(p, la.gate, la.h[projGate], la.xn2)
		ly.proj[projUp].forward(p, la.up, la.h[projUp], la.xn2)
		be.SwiGLU(la.act, la.gate, la.up, n*c.IntermediateSize)
		ly.proj[projDown].forward(p, a.tmp, la.h[projDown], la.act)
		be.Add(x, la.x2, a.tmp)
	}
	last := be.View(x, (n-1)*c.HiddenSize, c.HiddenSize)
	be.RMSNorm(a.xnF, a.rstdF, last, m.norm, 1, c.HiddenSize, c.RMSNormEps)
	be.Gemm(a.logits, a.xnF, m.lmHead, false, true, 1, c.VocabSize, c.HiddenSize, 1, 0)
	be.Download(d.logits, a.logits)
	return d.logits
}

// carveDecodeStep lays out one step's buffers for n rows: one layer's activations, reused by every
// layer, and the final norm and logits of the last row.
func (m *Model) carveDecodeStep(a *activations, c *carver, n int) {
	cfg := m.Config
	h := cfg.HiddenSize
	a.inputs = []backend.Tensor{c.take(n * h)}
	a.layers = make([]layerActs, 1)
	s := m.activationShape()
	s.Dropout = false // generation never drops out
	carveLayer(&a.layers[0], c, cfg, s, n)
	a.tmp, a.xnF, a.rstdF, a.logits = c.take(n*h), c.take(h), c.takeFP32(1), c.take(cfg.VocabSize)
	carveScratch(&a.scratch, c, cfg, s, n)
}

// pick chooses the next token from logits: the argmax when greedy, else a draw from the
// temperature-scaled softmax restricted to the top-p nucleus, using draw number i of the seed.
func pick(logits []float64, s Sampling, i uint64) int32 {
	best := 0
	for j, l := range logits {
		if l > logits[best] {
			best = j
		}
	}
	if s.Temperature <= 0 {
		return int32(best)
	}
	probs := make([]float64, len(logits))
	order := make([]int, len(logits))
	var sum float64
	for j, l := range logits {
		probs[j] = math.Exp((l - logits[best]) / s.Temperature)
		sum += probs[j]
		order[j] = j
	}
	sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
	keep, mass := len(order), 0.0
	if s.TopP > 0 && s.TopP < 1 {
		for k, j := range order {
			mass += probs[j] / sum
			if mass >= s.TopP {
				keep = k + 1
				break
			}
		}
	}
	var kept float64
	for _, j := range order[:keep] {
		kept += probs[j]
	}
	u := rng.Uniform(s.Seed, sampleStream, i) * kept
	for _, j := range order[:keep] {
		if u < probs[j] {
			return int32(j)
		}
		u -= probs[j]
	}
	return int32(order[keep-1])
}
