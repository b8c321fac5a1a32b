package model

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
)

// addAdapters lays out every targeted projection's A and B in one parameter arena (and the same
// layout again for the gradients), then fills them from opt.Init or PEFT's initialisation.
func (m *Model) addAdapters() error {
	cfg := m.opt.Adapter
	if err := cfg.Validate(); err != nil {
		return err
	}
	type slot struct {
		l          *linear
		module     uint64
		offA, offB int
	}
	var slots []slot
	size := 0
	for i := range m.layers {
		for p := range m.layers[i].proj {
			ok, err := cfg.Targets(i, lora.Modules[p])
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			l := &m.layers[i].proj[p]
			slots = append(slots, slot{l, uint64(i*NumProjections + p), size, size + cfg.R*l.in})
			size += cfg.R * (l.in + l.out)
		}
	}
	if len(slots) == 0 {
		return fmt.Errorf("adapter: target_modules %v matches no projection", cfg.TargetModules)
	}
	m.params, m.grads = m.be.NewFP32(size), m.be.NewFP32(size)
	for _, s := range slots {
		layer := &m.layers[s.module/NumProjections]
		if layer.adapters.n == 0 {
			layer.adapters.off = s.offA
		}
		layer.adapters.n = s.offB + s.l.out*cfg.R - layer.adapters.off
		a := &adapter{r: cfg.R, scaling: cfg.Scaling(), dropout: cfg.LoraDropout, module: s.module, offA: s.offA, offB: s.offB,
			inLayer: s.offA - layer.adapters.off}
		a.a, a.da = m.be.View(m.params, s.offA, cfg.R*s.l.in), m.be.View(m.grads, s.offA, cfg.R*s.l.in)
		a.b, a.db = m.be.View(m.params, s.offB, s.l.out*cfg.R), m.be.View(m.grads, s.offB, s.l.out*cfg.R)
		s.l.lora = a
		m.adapters = append(m.adapters, a)
	}
	if m.opt.Init != nil {
		return m.SetAdapter(m.opt.Init)
	}
	for _, a := range m.adapters {
		l := m.linearOf(a)
		m.be.Upload(a.a, lora.InitA(a.r, l.in, m.opt.Seed, a.module))
	}
	return nil
}

// linearOf is the projection an adapter belongs to.
func (m *Model) linearOf(a *adapter) *linear {
	layer, p := int(a.module)/NumProjections, int(a.module)%NumProjections
	return &m.layers[layer].proj[p]
}

// SetAdapter uploads adapter weights (for example a PEFT adapter loaded from disk) into the model's
// adapters; it must adapt exactly the projections the model's adapter configuration targets.
func (m *Model) SetAdapter(ad *lora.Adapter) error {
	if len(ad.Modules) != len(m.adapters) {
		return fmt.Errorf("adapter has %d modules, the model adapts %d", len(ad.Modules), len(m.adapters))
	}
	for _, a := range m.adapters {
		layer, p := int(a.module)/NumProjections, int(a.module)%NumProjections
		mw := ad.Module(layer, lora.Modules[p])
		l := m.linearOf(a)
		switch {
		case mw == nil:
			return fmt.Errorf("adapter has no weights for layer %d %s", layer, lora.Modules[p])
		case mw.R != a.r || mw.In != l.in || mw.Out != l.out:
			return fmt.Errorf("adapter layer %d %s: r %d, in %d, out %d; the model needs r %d, in %d, out %d",
				layer, lora.Modules[p], mw.R, mw.In, mw.Out, a.r, l.in, l.out)
		}
		m.be.Upload(a.a, widen(mw.A))
		m.be.Upload(a.b, widen(mw.B))
	}
	return nil
}

// Adapter downloads the current adapter weights, ready for lora.Save.
func (m *Model) Adapter() *lora.Adapter {
	return m.snapshot(func(a *adapter) (backend.Tensor, backend.Tensor) { return a.a, a.b })
}

// AdapterGrads downloads the adapters' gradients, in the shape of Adapter.
func (m *Model) AdapterGrads() *lora.Adapter {
	return m.snapshot(func(a *adapter) (backend.Tensor, backend.Tensor) { return a.da, a.db })
}

// snapshot downloads one pair of tensors per adapter into a lora.Adapter.
func (m *Model) snapshot(pick func(*adapter) (backend.Tensor, backend.Tensor)) *lora.Adapter {
	ad := &lora.Adapter{Config: m.opt.Adapter}
	for _, a := range m.adapters {
		l := m.linearOf(a)
		ta, tb := pick(a)
		ad.Modules = append(ad.Modules, lora.ModuleWeights{
			Layer: int(a.module) / NumProjections, Module: lora.Modules[int(a.module)%NumProjections],
			R: a.r, In: l.in, Out: l.out, A: m.download(ta), B: m.download(tb),
		})
	}
	return ad
}

// ParamTensor is one parameter tensor (an adapter's A or B, or a weight in full-parameter
// training) within the flat arenas.
type ParamTensor struct {
	Name        string // the PEFT tensor name, or the Hugging Face weight name
	Offset, Len int
}

// ParamTensors lists every adapter tensor in the arenas, in arena order: the optimizer's segments.
// In full-parameter training they are the model's weights, named as Hugging Face names them.
func (m *Model) ParamTensors() []ParamTensor {
	if m.full != nil {
		return m.fullParamTensors()
	}
	var out []ParamTensor
	for _, a := range m.adapters {
		l := m.linearOf(a)
		layer, p := int(a.module)/NumProjections, lora.Modules[int(a.module)%NumProjections]
		out = append(out,
			ParamTensor{lora.TensorName(layer, p, lora.FactorA), a.offA, a.r * l.in},
			ParamTensor{lora.TensorName(layer, p, lora.FactorB), a.offB, l.out * a.r})
	}
	return out
}

// Params and Grads are the flat arenas of every adapter parameter (in full-parameter training,
// every weight) and its gradient, in one layout, for the optimizer. Both are nil when the model
// has nothing to train.
func (m *Model) Params() backend.Tensor { return m.params }
func (m *Model) Grads() backend.Tensor  { return m.grads }

// ZeroGrads clears the gradient arena before a new accumulation.
func (m *Model) ZeroGrads() {
	if m.grads != nil {
		m.be.Zero(m.grads)
	}
}

func (m *Model) download(t backend.Tensor) []float32 {
	buf := make([]float64, t.Len())
	m.be.Download(buf, t)
	out := make([]float32, len(buf))
	for i, v := range buf {
		out[i] = float32(v)
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
