package export

import (
	"fmt"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// adapterFile is a PEFT adapter whose weights are decoded one module at a time, when the merge
// reaches that module. lora.Load decodes every module at once, which for the QLoRA recipe on a 65B
// model (r 64 on all seven projections: 800M parameters, 3.2 GB in float32) would by itself break
// the few gigabytes a merge may use. The checks are those of lora.Load plus the base's shapes.
type adapterFile struct {
	dir   string
	cfg   *lora.AdapterConfig
	file  *safetensors.File
	pairs map[moduleKey]*tensorPair
}

type moduleKey struct {
	layer  int
	module string
}

// tensorPair names a module's two factors in the file.
type tensorPair struct{ a, b string }

// openAdapter opens the adapter in dir and checks it against the base: every tensor a LoRA factor
// of a layer the base has, each lora_A with its lora_B, A (r, in) and B (out, r) with the base
// projection's in and out, every module one that target_modules selects.
func openAdapter(dir string, b *base) (*adapterFile, error) {
	cfg, err := lora.ReadConfig(filepath.Join(dir, lora.ConfigName))
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Open(filepath.Join(dir, lora.WeightsName))
	if err != nil {
		return nil, err
	}
	a := &adapterFile{dir: dir, cfg: cfg, file: f, pairs: map[moduleKey]*tensorPair{}}
	if err := a.pairUp(b); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func (a *adapterFile) Close() error { return a.file.Close() }

// pairUp maps every tensor to its module and checks each pair.
func (a *adapterFile) pairUp(b *base) error {
	path := a.file.Path
	for _, name := range a.file.Names() {
		layer, module, factor, err := lora.ParseTensorName(name)
		if err != nil {
			return fmt.Errorf("%s: tensor %w", path, err)
		}
		if layer >= b.cfg.NumLayers {
			return fmt.Errorf("%s: tensor %q: layer %d, but the base %s has %d layers", path, name, layer, b.dir, b.cfg.NumLayers)
		}
		key := moduleKey{layer, module}
		p := a.pairs[key]
		if p == nil {
			p = &tensorPair{}
			a.pairs[key] = p
		}
		slot := &p.a
		if factor == lora.FactorB {
			slot = &p.b
		}
		if *slot != "" {
			return fmt.Errorf("%s: tensor %q: a second %s for layer %d %s (the first is %q)", path, name, factor, layer, module, *slot)
		}
		*slot = name
	}
	if len(a.pairs) == 0 {
		return fmt.Errorf("%s: holds no LoRA tensors", path)
	}
	for key, p := range a.pairs {
		if err := a.checkPair(b, key, p); err != nil {
			return err
		}
	}
	return a.checkComplete(b)
}

// checkComplete requires weights for every projection target_modules selects, as the engine does
// when it applies an adapter: a merge that silently skipped one would not be the model evaluated.
func (a *adapterFile) checkComplete(b *base) error {
	for l := 0; l < b.cfg.NumLayers; l++ {
		for _, m := range lora.Modules {
			if ok, _ := a.cfg.Targets(l, m); ok && a.pairs[moduleKey{l, m}] == nil {
				return fmt.Errorf("%s: no weights for %s, which target_modules %s selects", a.file.Path, lora.ModulePath(l, m), a.cfg.TargetModules)
			}
		}
	}
	return nil
}

// checkPair checks one module's factors against the configuration and the base projection.
func (a *adapterFile) checkPair(b *base, key moduleKey, p *tensorPair) error {
	path := a.file.Path
	if p.a == "" || p.b == "" {
		have, missing := p.a, lora.TensorName(key.layer, key.module, lora.FactorB)
		if have == "" {
			have, missing = p.b, lora.TensorName(key.layer, key.module, lora.FactorA)
		}
		return fmt.Errorf("%s: tensor %q has no partner %q", path, have, missing)
	}
	if ok, err := a.cfg.Targets(key.layer, key.module); err != nil || !ok {
		return fmt.Errorf("%s: tensor %q: %s is not selected by target_modules %s (%s)", path, p.a,
			lora.ModulePath(key.layer, key.module), a.cfg.TargetModules, lora.ConfigName)
	}
	proj := b.projections[lora.ModulePath(key.layer, key.module)+".weight"]
	out, in, r := proj.shape[0], proj.shape[1], a.cfg.R
	if err := a.checkFactor(p.a, r, in); err != nil {
		return err
	}
	return a.checkFactor(p.b, out, r)
}

// checkFactor requires a floating-point matrix of the given shape.
func (a *adapterFile) checkFactor(name string, rows, cols int) error {
	info, _ := a.file.Info(name)
	if !isFloat(info.DType) {
		return fmt.Errorf("%s: tensor %q: dtype %s, want F32, BF16 or F16", a.file.Path, name, info.DType)
	}
	if len(info.Shape) != 2 || info.Shape[0] != rows || info.Shape[1] != cols {
		return fmt.Errorf("%s: tensor %q: shape %v, the base model needs [%d %d] (r=%d)", a.file.Path, name, info.Shape, rows, cols, a.cfg.R)
	}
	return nil
}

// module decodes the weights of one module, or returns nil when the adapter leaves it alone.
func (a *adapterFile) module(layer int, module string) (*lora.ModuleWeights, error) {
	p := a.pairs[moduleKey{layer, module}]
	if p == nil {
		return nil, nil
	}
	ta, err := a.file.Tensor(p.a)
	if err != nil {
		return nil, err
	}
	tb, err := a.file.Tensor(p.b)
	if err != nil {
		return nil, err
	}
	m := &lora.ModuleWeights{Layer: layer, Module: module, R: a.cfg.R, In: ta.Shape[1], Out: tb.Shape[0]}
	if m.A, err = ta.Float32s(); err != nil {
		return nil, err
	}
	if m.B, err = tb.Float32s(); err != nil {
		return nil, err
	}
	return m, nil
}
