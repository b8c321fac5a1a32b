package model

import (
	"math/rand/v2"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// benchShape is the small model of the CPU-speed target: 4 layers, hidden 256, 8 heads, 4 KV heads.
var benchShape = tinymodel.Shape{Arch: "llama", Vocab: 2048, Hidden: 256, Intermediate: 688, Layers: 4, Heads: 8, KVHeads: 4}

// BenchmarkNF4Linear times one adapted NF4 projection (256 → 688, r 16) on 256 rows: forward, and
// forward + backward. GFLOP/s counts the base and LoRA matrix products.
func BenchmarkNF4Linear(b *testing.B) {
	const n, in, out, r = 256, 256, 688, 16
	be := cpu.New[float32]()
	rng := rand.New(rand.NewPCG(1, 1))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.02)
	}
	q, _ := nf4.Quantize(w, []int{out, in}, 64, true)
	l := &linear{out: out, in: in, nf4: be.LoadNF4(q), lora: &adapter{r: r, scaling: 2,
		a: be.New(r * in), b: be.New(out * r), da: be.New(r * in), db: be.New(out * r)}}
	p := &pass{be: be, n: n, train: true, s: &scratch{weight: be.New(out * in), dropped: be.New(0), dh: be.New(n * r)}}
	x, y, h, dx := be.New(n*in), be.New(n*out), be.New(n*r), be.New(n*in)
	fill := make([]float64, n*in)
	for i := range fill {
		fill[i] = rng.NormFloat64()
	}
	be.Upload(x, fill)
	forward := 2.0 * n * (out*in + r*(in+out))
	backward := 2.0 * n * (out*in + 2*r*(in+out)) // dx through the base; dB, dh, dA, dx through LoRA
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			l.forward(p, y, h, x)
		}
		b.ReportMetric(forward*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("forward+backward", func(b *testing.B) {
		for b.Loop() {
			l.forward(p, y, h, x)
			l.backward(p, dx, y, x, h)
		}
		b.ReportMetric((forward+backward)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkTrainingStep times one LoRA training step (forward and backward, no optimizer) of the
// benchmark shape on one sequence of 256 tokens, r 16 on all seven projections, NF4 base.
func BenchmarkTrainingStep(b *testing.B) {
	dir := b.TempDir()
	if err := tinymodel.Write(dir, benchShape, 1); err != nil {
		b.Fatal(err)
	}
	m, err := Load(cpu.New[float32](), dir, Options{Base: BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: allSeven(16, 32, 0), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	const T = 256
	ids := make([]int32, T)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range ids {
		ids[i] = int32(rng.IntN(benchShape.Vocab))
	}
	batch := Sequence(ids)
	step := func() {
		_, n, _ := m.Forward(batch, true, 1)
		m.ZeroGrads()
		m.Backward(1 / float64(n))
	}
	step() // warm-up: sizes the arenas, so the loop shows the steady state's allocations
	for b.Loop() {
		step()
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
	b.ReportMetric(stepFLOPs(m.Config, T, 16)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// stepFLOPs counts the matrix arithmetic of one LoRA step on t tokens: every base product twice
// (forward, and backward to the inputs; frozen weights get no gradient), LoRA products three times,
// causal attention's two products once forward and twice backward.
func stepFLOPs(c *Config, t, r int) float64 {
	var base, lora float64
	for _, p := range c.ProjectionShapes() {
		base += float64(p.Shape[0] * p.Shape[1])
		lora += float64(r * (p.Shape[0] + p.Shape[1]))
	}
	base, lora = base*float64(c.NumLayers), lora*float64(c.NumLayers)
	base += float64(c.VocabSize * c.HiddenSize)
	attention := 2 * 2 * float64(t) * float64(t) / 2 * float64(c.QDim()) * float64(c.NumLayers)
	return 2*float64(t)*(2*base+3*lora) + 3*attention
}
