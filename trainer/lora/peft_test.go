package lora

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Shapes of a tiny Llama with grouped-query attention: hidden 8, two KV heads of 2, MLP 12.
const (
	tinyHidden = 8
	tinyKV     = 4
	tinyMLP    = 12
)

func tinyShape(module string) (in, out int) {
	switch module {
	case "self_attn.k_proj", "self_attn.v_proj":
		return tinyHidden, tinyKV
	case "mlp.gate_proj", "mlp.up_proj":
		return tinyHidden, tinyMLP
	case "mlp.down_proj":
		return tinyMLP, tinyHidden
	}
	return tinyHidden, tinyHidden
}

// sampleAdapter has three layers with all seven modules, rank 4 and values of magnitude 0.01 to 1,
// where F16 has no subnormals.
func sampleAdapter() *Adapter {
	rng := rand.New(rand.NewPCG(1, 2))
	value := func() float32 {
		v := float32(0.01 + 0.99*rng.Float64())
		if rng.IntN(2) == 0 {
			v = -v
		}
		return v
	}
	c := DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout, c.TaskType = 4, 16, 0.05, "CAUSAL_LM"
	c.TargetModules = Strings{List: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	a := &Adapter{Config: c}
	for layer := range 3 {
		for _, module := range Modules {
			in, out := tinyShape(module)
			m := ModuleWeights{Layer: layer, Module: module, R: c.R, In: in, Out: out,
				A: make([]float32, c.R*in), B: make([]float32, out*c.R)}
			for i := range m.A {
				m.A[i] = value()
			}
			for i := range m.B {
				m.B[i] = value()
			}
			a.Modules = append(a.Modules, m)
		}
	}
	return a
}

// TestSave_RoundTrip ensures every module reads back exactly in F32 and within rounding in BF16 and F16.
func TestSave_RoundTrip(t *testing.T) {
	for _, tt := range []struct {
		dtype safetensors.DType
		rel   float64 // half an ulp at 1, relative
	}{{"", 0}, {safetensors.F32, 0}, {safetensors.BF16, 1.0 / 256}, {safetensors.F16, 1.0 / 2048}} {
		want := sampleAdapter()
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := Save(dir, want, tt.dtype); err != nil {
			t.Fatal(err)
		}
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Modules) != 21 {
			t.Fatalf("%s: %d modules, want 21", tt.dtype, len(got.Modules))
		}
		for i, w := range want.Modules {
			g := got.Modules[i]
			if g.Layer != w.Layer || g.Module != w.Module || g.R != w.R || g.In != w.In || g.Out != w.Out {
				t.Fatalf("%s: module %d is %d %s (%d,%d,%d), want %d %s (%d,%d,%d)", tt.dtype, i,
					g.Layer, g.Module, g.R, g.In, g.Out, w.Layer, w.Module, w.R, w.In, w.Out)
			}
			compare(t, fmt.Sprintf("%s layer %d %s A", tt.dtype, w.Layer, w.Module), g.A, w.A, tt.rel)
			compare(t, fmt.Sprintf("%s layer %d %s B", tt.dtype, w.Layer, w.Module), g.B, w.B, tt.rel)
		}
		assertDType(t, filepath.Join(dir, WeightsName), tt.dtype)
	}
}

func compare(t *testing.T, what string, got, want []float32, rel float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > rel*math.Abs(float64(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v (relative tolerance %v)", what, i, got[i], want[i], rel)
		}
	}
}

// assertDType checks the file's metadata, dtypes and that no temporary file was left beside it.
func assertDType(t *testing.T, path string, dtype safetensors.DType) {
	t.Helper()
	if dtype == "" {
		dtype = safetensors.F32
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["format"] != "pt" || len(f.Metadata) != 1 {
		t.Errorf("metadata %v, want {format: pt}", f.Metadata)
	}
	for _, name := range f.Names() {
		if in, _ := f.Info(name); in.DType != dtype {
			t.Errorf("%s: dtype %s, want %s", name, in.DType, dtype)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("folder holds %d entries, want the two adapter files", len(entries))
	}
}

// TestSave_ConfigMatchesPEFTGolden ensures Save writes the config byte-identical to PEFT's.
func TestSave_ConfigMatchesPEFTGolden(t *testing.T) {
	dir := t.TempDir()
	a := &Adapter{Config: referenceConfig()}
	a.Modules = []ModuleWeights{{Layer: 0, Module: "mlp.up_proj", R: 10, In: 2, Out: 3, A: make([]float32, 20), B: make([]float32, 30)}}
	if err := Save(dir, a, safetensors.BF16); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, ConfigName)); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("config mode %v (%v), want -rw-r--r--", st.Mode(), err)
	}
	if !bytes.Equal(got, readGolden(t, "adapter_config_reference.json")) {
		t.Errorf("saved config differs from the golden:\n%s", got)
	}
}

// TestSave_Refusals ensures Save writes nothing for adapters it could not load back, naming the fault.
func TestSave_Refusals(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(a *Adapter)
		dtype  safetensors.DType
		want   string
	}{
		{"dora", func(a *Adapter) { a.Config.UseDoRA = true }, "", "use_dora"},
		{"rank", func(a *Adapter) { a.Modules[3].R = 2 }, "", "layer 0 self_attn.o_proj: rank 2"},
		{"short A", func(a *Adapter) { a.Modules[1].A = a.Modules[1].A[1:] }, "", "layer 0 self_attn.k_proj: A holds"},
		{"short B", func(a *Adapter) { a.Modules[8].B = nil }, "", "layer 1 self_attn.k_proj: B holds"},
		{"untargeted", func(a *Adapter) { a.Config.TargetModules = Strings{List: []string{"q_proj"}} }, "", "target_modules"},
		{"twice", func(a *Adapter) { a.Modules = append(a.Modules, a.Modules[0]) }, "", "appears twice"},
		{"module", func(a *Adapter) { a.Modules[0].Module = "lm_head" }, "", "lm_head"},
		{"dtype", func(a *Adapter) {}, safetensors.I32, "I32"},
		{"empty", func(a *Adapter) { a.Modules = nil }, "", "no modules"},
	}
	for _, tt := range tests {
		a := sampleAdapter()
		tt.breaks(a)
		dir := filepath.Join(t.TempDir(), "out")
		err := Save(dir, a, tt.dtype)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if _, statErr := os.Stat(dir); statErr == nil {
			t.Errorf("%s: the folder was created", tt.name)
		}
	}
}
