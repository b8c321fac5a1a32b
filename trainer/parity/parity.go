// Package parity checks a backend against the CPU reference on one whole training step of a tiny
// model: the check qlora-cuda runs before it trains on a GPU, so that a kernel, driver or card that
// computes something else stops the run instead of silently training the wrong function.
//
// The step covers what a QLoRA step runs: an NF4 base with double quantization, LoRA on all seven
// projections with dropout, grouped-query attention over packed samples, gradient checkpointing,
// cross-entropy with ignored targets, clipping and AdamW.
package parity

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
)

// shape is the tiny model: grouped-query heads of 16 dimensions and widths that are not multiples
// of the NF4 block size or of any kernel's tile.
var shape = tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 96, Intermediate: 200, Layers: 2, Heads: 6, KVHeads: 2}

// Tolerances of a bf16 backend against the float32 CPU. bf16 activations through two checkpointed
// layers put each gradient 1 to 2% from the CPU's (the CUDA emulator, which rounds as the GPU
// stores, gives 1.8%); a wrong kernel is off by far more. The update is compared from equal
// gradients, in fp32 on both sides, so it is held to far less: leaving out weight decay changes it
// by 1e-3.
const (
	LossTolerance   = 1e-2 // relative error of the loss
	Tolerance       = 5e-2 // relative error of the gradient norm, and ‖Δ‖/‖cpu‖ of every adapter gradient
	UpdateTolerance = 1e-4 // ‖Δ‖/‖cpu‖ of every adapter tensor's update
)

// Step is what one training step gives on a backend.
type Step struct {
	Loss, GradNorm float64
	Grads          *lora.Adapter // the backend's own, before clipping
	Update         *lora.Adapter // the adapters after the optimizer step less before it
	flatGrads      []float64     // Grads as the optimizer's arena holds them
}

// TrainStep runs one training step of the tiny model in dir (written by WriteModel) on be. With
// from set (the CPU's step), the optimizer starts from from's gradients instead of be's own, so
// that the two optimizers get equal inputs: at the first step AdamW moves each parameter by about
// lr·sign(g), and a gradient near zero that bf16 rounding flips would look like an optimizer error.
func TrainStep(be backend.Backend, dir string, from *Step) (*Step, error) {
	m, opt, err := load(be, dir)
	if err != nil {
		return nil, err
	}
	sum, n, err := m.Forward(packedBatch(m.Config.VocabSize), true, 3)
	if err != nil {
		return nil, err
	}
	m.ZeroGrads()
	m.Backward(1 / float64(n))
	s := &Step{Loss: sum / float64(n), Grads: m.AdapterGrads(), flatGrads: make([]float64, m.Grads().Len())}
	be.Download(s.flatGrads, m.Grads())
	s.GradNorm = math.Sqrt(be.SumSquares(m.Grads()))
	if from != nil {
		be.Upload(m.Grads(), from.flatGrads)
	}
	before := m.Adapter()
	optim.ClipGradNorm(be, m.Grads(), 1)
	opt.Step(1e-3)
	s.Update = m.Adapter()
	for i, mw := range s.Update.Modules {
		subtract(mw.A, before.Modules[i].A)
		subtract(mw.B, before.Modules[i].B)
	}
	return s, nil
}

// load puts the tiny model on be with LoRA r 8 and dropout on all seven projections, random
// adapters and gradient checkpointing, and makes its AdamW.
func load(be backend.Backend, dir string) (*model.Model, optim.Optimizer, error) {
	ac := lora.DefaultConfig()
	ac.R, ac.LoraAlpha, ac.LoraDropout = 8, 16, 0.1
	ac.TargetModules = lora.Strings{List: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.Load(be, dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: ac,
		Init: randomAdapter(cfg, ac), Seed: 7, GradientCheckpointing: true})
	if err != nil {
		return nil, nil, err
	}
	var segments []optim.Segment
	for _, p := range m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: p.Name, Offset: p.Offset, Len: p.Len})
	}
	opt, err := optim.New(optim.AdamW32bit, be, m.Params(), m.Grads(), segments,
		optim.Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01})
	return m, opt, err
}

// WriteModel writes the tiny model into dir.
func WriteModel(dir string) error { return tinymodel.Write(dir, shape, 5) }

// Result is a backend's step against the CPU's.
type Result struct {
	Loss        float64 `json:"loss"`
	LossCPU     float64 `json:"loss_cpu"`
	GradNorm    float64 `json:"grad_norm"`
	GradNormCPU float64 `json:"grad_norm_cpu"`
	Worst       float64 `json:"worst_gradient_error"` // the largest ‖Δ‖/‖cpu‖ of an adapter gradient
	WorstAt     string  `json:"worst_gradient"`       // which: "layer 1 self_attn.v_proj dA"
	WorstUpdate float64 `json:"worst_update_error"`   // the largest ‖Δ‖/‖cpu‖ of an adapter tensor's update
}

func (r Result) String() string {
	return fmt.Sprintf("loss %.6f (CPU %.6f), gradient norm %.6f (CPU %.6f), adapter gradients within %.2f%% (worst: %s), updates within %.1e",
		r.Loss, r.LossCPU, r.GradNorm, r.GradNormCPU, 100*r.Worst, r.WorstAt, r.WorstUpdate)
}

// Compare measures got against the CPU's ref and returns an error naming the first figure beyond
// its tolerance.
func Compare(got, ref *Step) (Result, error) {
	r := Result{Loss: got.Loss, LossCPU: ref.Loss, GradNorm: got.GradNorm, GradNormCPU: ref.GradNorm}
	var errs []string
	if e := relative(got.Loss, ref.Loss); !(e <= LossTolerance) {
		errs = append(errs, fmt.Sprintf("loss %.6f against the CPU's %.6f (%.2g off, tolerance %.g)", got.Loss, ref.Loss, e, LossTolerance))
	}
	if e := relative(got.GradNorm, ref.GradNorm); !(e <= Tolerance) {
		errs = append(errs, fmt.Sprintf("gradient norm %.6f against the CPU's %.6f (%.2g off, tolerance %.g)", got.GradNorm, ref.GradNorm, e, Tolerance))
	}
	for i, mw := range ref.Grads.Modules {
		g, u, refU := got.Grads.Modules[i], got.Update.Modules[i], ref.Update.Modules[i]
		for _, t := range []struct {
			what     string
			got, ref []float32
			tol      float64
		}{{"dA", g.A, mw.A, Tolerance}, {"dB", g.B, mw.B, Tolerance},
			{"update of A", u.A, refU.A, UpdateTolerance}, {"update of B", u.B, refU.B, UpdateTolerance}} {
			e := relError(t.got, t.ref)
			at := fmt.Sprintf("layer %d %s %s", mw.Layer, mw.Module, t.what)
			if t.tol == Tolerance && !(e <= r.Worst) {
				r.Worst, r.WorstAt = e, at
			}
			if t.tol == UpdateTolerance && !(e <= r.WorstUpdate) {
				r.WorstUpdate = e
			}
			if !(e <= t.tol) {
				errs = append(errs, fmt.Sprintf("%s: ‖Δ‖/‖cpu‖ = %.3g, tolerance %.g", at, e, t.tol))
			}
		}
	}
	if len(errs) > 0 {
		more := ""
		if len(errs) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(errs)-1)
		}
		return r, fmt.Errorf("%s%s", errs[0], more)
	}
	return r, nil
}

// Check runs the step on be and on the float32 CPU backend and compares them. A panic of the
// backend under test (a failed launch) is returned as the error.
func Check(be backend.Backend) (r Result, err error) {
	dir, err := os.MkdirTemp("", "qlora-parity-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if err := WriteModel(dir); err != nil {
		return r, err
	}
	ref, err := TrainStep(cpu.New[float32](), dir, nil)
	if err != nil {
		return r, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s failed in a training step: %v", be.Name(), p)
		}
	}()
	got, err := TrainStep(be, dir, ref)
	if err != nil {
		return r, err
	}
	return Compare(got, ref)
}

func relative(got, ref float64) float64 { return math.Abs(got-ref) / math.Abs(ref) }

// subtract sets x to x - y.
func subtract(x, y []float32) {
	for i := range x {
		x[i] -= y[i]
	}
}

// relError is ‖got − ref‖/‖ref‖ (‖got‖ when ref is zero); NaN when got is not finite.
func relError(got, ref []float32) float64 {
	var diff, norm float64
	for i := range ref {
		d := float64(got[i]) - float64(ref[i])
		diff += d * d
		norm += float64(ref[i]) * float64(ref[i])
	}
	if math.IsNaN(diff) || math.IsInf(diff, 0) {
		return math.NaN()
	}
	if norm == 0 {
		return math.Sqrt(diff)
	}
	return math.Sqrt(diff / norm)
}

// randomAdapter gives every module random A and nonzero B, so that every gradient path is live
// (PEFT's initialisation zeroes B, which zeroes every dA).
func randomAdapter(cfg *model.Config, ac *lora.AdapterConfig) *lora.Adapter {
	rng := rand.New(rand.NewPCG(3, 4))
	ad := &lora.Adapter{Config: ac}
	for l := range cfg.NumLayers {
		for p, proj := range cfg.ProjectionShapes() {
			mw := lora.ModuleWeights{Layer: l, Module: lora.Modules[p], R: ac.R, Out: proj.Shape[0], In: proj.Shape[1]}
			mw.A, mw.B = make([]float32, ac.R*mw.In), make([]float32, mw.Out*ac.R)
			for i := range mw.A {
				mw.A[i] = float32(rng.NormFloat64() / math.Sqrt(float64(mw.In)))
			}
			for i := range mw.B {
				mw.B[i] = float32(rng.NormFloat64() * 0.05)
			}
			ad.Modules = append(ad.Modules, mw)
		}
	}
	return ad
}

// packedBatch is two sequences of 16 tokens; the second packs two samples whose positions
// restart, and a few targets are ignored.
func packedBatch(vocab int) *model.Batch {
	const seqs, length = 2, 16
	b := &model.Batch{B: seqs, T: length}
	rng := rand.New(rand.NewPCG(11, 12))
	for s := range seqs {
		for t := range length {
			seg, pos := int32(0), int32(t)
			if s == 1 && t >= 9 {
				seg, pos = 1, int32(t-9)
			}
			b.IDs = append(b.IDs, int32(rng.IntN(vocab)))
			b.Segments = append(b.Segments, seg)
			b.Positions = append(b.Positions, pos)
		}
	}
	for i := range b.IDs {
		b.Targets = append(b.Targets, b.IDs[(i+1)%len(b.IDs)])
	}
	for _, i := range []int{0, 1, 8, 15, 24, 31} {
		b.Targets[i] = -100
	}
	return b
}
