package lora

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// The file names of a PEFT adapter folder.
const (
	ConfigName  = "adapter_config.json"
	WeightsName = "adapter_model.safetensors"
)

// ModuleWeights is the LoRA pair of one projection of one layer, in float32 as the engine trains it.
type ModuleWeights struct {
	Layer  int
	Module string // one of Modules, e.g. "self_attn.q_proj"
	R      int
	In     int       // the projection's input features
	Out    int       // the projection's output features
	A      []float32 // (R, In), row-major: PEFT's lora_A.weight
	B      []float32 // (Out, R), row-major: PEFT's lora_B.weight
}

// Adapter is a LoRA adapter: its configuration and the weights of every adapted module. Load
// returns the modules ordered by layer and then as in Modules; Save takes them in any order.
type Adapter struct {
	Config  *AdapterConfig
	Modules []ModuleWeights
}

// Module returns the weights of a layer's module, or nil when the adapter does not adapt it.
func (a *Adapter) Module(layer int, module string) *ModuleWeights {
	for i := range a.Modules {
		if m := &a.Modules[i]; m.Layer == layer && m.Module == module {
			return m
		}
	}
	return nil
}

// check verifies one module's shapes against the configuration; errors name the module.
func (m *ModuleWeights) check(c *AdapterConfig) error {
	name := fmt.Sprintf("layer %d %s", m.Layer, m.Module)
	switch {
	case m.Layer < 0 || moduleIndex(m.Module) < 0:
		return fmt.Errorf("%s: not a projection of a Llama-family layer (modules: %v)", name, Modules)
	case m.R != c.R:
		return fmt.Errorf("%s: rank %d, but the configuration's r is %d", name, m.R, c.R)
	case m.In <= 0 || m.Out <= 0:
		return fmt.Errorf("%s: in %d and out %d must be positive", name, m.In, m.Out)
	case len(m.A) != m.R*m.In:
		return fmt.Errorf("%s: A holds %d values, (r=%d, in=%d) needs %d", name, len(m.A), m.R, m.In, m.R*m.In)
	case len(m.B) != m.Out*m.R:
		return fmt.Errorf("%s: B holds %d values, (out=%d, r=%d) needs %d", name, len(m.B), m.Out, m.R, m.Out*m.R)
	}
	if err := m.checkTarget(c); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Save writes the adapter into dir (created if needed) as PEFT's save_pretrained does:
// adapter_model.safetensors with metadata {"format":"pt"}, then adapter_config.json. dtype is the
// weights' element type: F32 (also when empty), BF16 or F16, rounded to nearest even. Each file goes
// to a temporary name first and is renamed into place, so a failure never leaves half a file, and a
// configuration is never newer than its weights.
func Save(dir string, a *Adapter, dtype safetensors.DType) error {
	if dtype == "" {
		dtype = safetensors.F32
	}
	if dtype != safetensors.F32 && dtype != safetensors.BF16 && dtype != safetensors.F16 {
		return fmt.Errorf("%s: cannot save LoRA weights as %s; want F32, BF16 or F16", dir, dtype)
	}
	configPath := filepath.Join(dir, ConfigName)
	if a.Config == nil {
		return fmt.Errorf("%s: the adapter has no configuration", configPath)
	}
	if err := a.Config.Validate(); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	js, err := a.Config.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	weightsPath := filepath.Join(dir, WeightsName)
	sources, err := a.sources(dtype)
	if err != nil {
		return fmt.Errorf("%s: %w", weightsPath, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.WriteFile(weightsPath, map[string]string{"format": "pt"}, sources); err != nil {
		return err
	}
	return safefile.WriteFile(configPath, js)
}

// sources checks every module and returns its two tensors, encoded only when written.
func (a *Adapter) sources(dtype safetensors.DType) ([]safetensors.Source, error) {
	if len(a.Modules) == 0 {
		return nil, errors.New("the adapter has no modules")
	}
	seen := map[[2]int]bool{}
	var out []safetensors.Source
	for i := range a.Modules {
		m := &a.Modules[i]
		if err := m.check(a.Config); err != nil {
			return nil, err
		}
		id := [2]int{m.Layer, moduleIndex(m.Module)}
		if seen[id] {
			return nil, fmt.Errorf("layer %d %s: appears twice", m.Layer, m.Module)
		}
		seen[id] = true
		out = append(out,
			encoded(TensorName(m.Layer, m.Module, FactorA), dtype, []int{m.R, m.In}, m.A),
			encoded(TensorName(m.Layer, m.Module, FactorB), dtype, []int{m.Out, m.R}, m.B))
	}
	return out, nil
}

func encoded(name string, dtype safetensors.DType, shape []int, v []float32) safetensors.Source {
	return safetensors.Source{Name: name, DType: dtype, Shape: shape, Data: func() ([]byte, error) {
		return safetensors.Encode(dtype, v)
	}}
}

// Load reads a PEFT LoRA adapter folder. It checks that every lora_A has its lora_B, that A is
// (r, in) and B is (out, r) for the configuration's r, that every module is one target_modules
// selects, and decodes F32, BF16 and F16 weights to float32. Errors name the file and the key or
// tensor at fault.
func Load(dir string) (*Adapter, error) {
	cfg, err := ReadConfig(filepath.Join(dir, ConfigName))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, WeightsName)
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, explainMissingWeights(dir, err)
	}
	defer f.Close()
	pairs, err := pairTensors(f)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Config: cfg, Modules: make([]ModuleWeights, 0, len(pairs))}
	for _, p := range pairs {
		m, err := readModule(f, cfg, p)
		if err != nil {
			return nil, err
		}
		a.Modules = append(a.Modules, m)
	}
	return a, nil
}

// explainMissingWeights adds a hint when the folder holds only PEFT's older pickle format.
func explainMissingWeights(dir string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, statErr := os.Stat(filepath.Join(dir, "adapter_model.bin")); statErr == nil {
		return fmt.Errorf("%w (the folder has adapter_model.bin, a pickle this program does not read; "+
			"convert it to safetensors)", err)
	}
	return err
}

type moduleID struct {
	layer  int
	module string
}

// modulePair holds the tensor names of a module's two factors as found in the file.
type modulePair struct {
	moduleID
	a, b string
}

// pairTensors maps every tensor of the file to its module and requires each module to have exactly
// one lora_A and one lora_B. The pairs come back ordered by layer and module.
func pairTensors(f *safetensors.File) ([]*modulePair, error) {
	byID := map[moduleID]*modulePair{}
	var pairs []*modulePair
	for _, name := range f.Names() {
		layer, module, factor, err := ParseTensorName(name)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %w", f.Path, err)
		}
		id := moduleID{layer, module}
		p := byID[id]
		if p == nil {
			p = &modulePair{moduleID: id}
			byID[id] = p
			pairs = append(pairs, p)
		}
		slot := &p.a
		if factor == FactorB {
			slot = &p.b
		}
		if *slot != "" {
			return nil, fmt.Errorf("%s: tensor %q: a second %s for layer %d %s (the first is %q)", f.Path, name, factor, layer, module, *slot)
		}
		*slot = name
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s: holds no LoRA tensors", f.Path)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].before(pairs[j].moduleID) })
	for _, p := range pairs {
		if p.a == "" || p.b == "" {
			have, missing := p.a, TensorName(p.layer, p.module, FactorB)
			if have == "" {
				have, missing = p.b, TensorName(p.layer, p.module, FactorA)
			}
			return nil, fmt.Errorf("%s: tensor %q has no partner %q", f.Path, have, missing)
		}
	}
	return pairs, nil
}

// before orders modules by layer, then as in Modules.
func (id moduleID) before(other moduleID) bool {
	if id.layer != other.layer {
		return id.layer < other.layer
	}
	return moduleIndex(id.module) < moduleIndex(other.module)
}

// readModule checks and decodes one module's pair.
func readModule(f *safetensors.File, cfg *AdapterConfig, p *modulePair) (ModuleWeights, error) {
	ta, err := floatTensor(f, p.a)
	if err != nil {
		return ModuleWeights{}, err
	}
	tb, err := floatTensor(f, p.b)
	if err != nil {
		return ModuleWeights{}, err
	}
	if ta.Shape[0] != cfg.R {
		return ModuleWeights{}, fmt.Errorf("%s: tensor %q: shape %v, lora_A must be (r=%d, in)", f.Path, p.a, ta.Shape, cfg.R)
	}
	if tb.Shape[1] != cfg.R {
		return ModuleWeights{}, fmt.Errorf("%s: tensor %q: shape %v, lora_B must be (out, r=%d)", f.Path, p.b, tb.Shape, cfg.R)
	}
	m := ModuleWeights{Layer: p.layer, Module: p.module, R: cfg.R, In: ta.Shape[1], Out: tb.Shape[0]}
	if err := m.checkTarget(cfg); err != nil {
		return ModuleWeights{}, fmt.Errorf("%s: tensor %q: %w (%s)", f.Path, p.a, err, ConfigName)
	}
	if m.A, err = ta.Float32s(); err != nil {
		return ModuleWeights{}, err
	}
	if m.B, err = tb.Float32s(); err != nil {
		return ModuleWeights{}, err
	}
	return m, nil
}

// checkTarget requires that target_modules selects the module.
func (m *ModuleWeights) checkTarget(c *AdapterConfig) error {
	targeted, err := c.Targets(m.Layer, m.Module)
	if err != nil {
		return err
	}
	if !targeted {
		return fmt.Errorf("%s is not selected by target_modules %s", ModulePath(m.Layer, m.Module), c.TargetModules)
	}
	return nil
}

// floatTensor returns a named tensor that must be a 2-D matrix of F32, BF16 or F16 with no empty side.
func floatTensor(f *safetensors.File, name string) (safetensors.Tensor, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return t, err
	}
	switch t.DType {
	case safetensors.F32, safetensors.BF16, safetensors.F16:
	default:
		return t, fmt.Errorf("%s: tensor %q: dtype %s, want F32, BF16 or F16", f.Path, name, t.DType)
	}
	if len(t.Shape) != 2 || t.Shape[0] == 0 || t.Shape[1] == 0 {
		return t, fmt.Errorf("%s: tensor %q: shape %v, want a matrix with no empty side", f.Path, name, t.Shape)
	}
	return t, nil
}
