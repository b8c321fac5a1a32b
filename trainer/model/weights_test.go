package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// writeTiny writes a tiny model of shape s into a temp folder and opens it.
func writeTiny(t *testing.T, s tinymodel.Shape) (string, *Config, *safetensors.Dir) {
	t.Helper()
	dir := t.TempDir()
	if err := tinymodel.Write(dir, s, 3); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ckpt.Close() })
	return dir, cfg, ckpt
}

// TestBindWeights_Architectures ensures each architecture's tensors bind by their HF names: biases
// for qwen2, the embeddings as lm_head when tied.
func TestBindWeights_Architectures(t *testing.T) {
	for _, s := range []tinymodel.Shape{
		tinymodel.Tiny,
		{Arch: "qwen2", Vocab: 64, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2},
		{Arch: "mistral", Vocab: 64, Hidden: 32, Intermediate: 48, Layers: 1, Heads: 4, KVHeads: 1, Tied: true},
	} {
		t.Run(s.Arch, func(t *testing.T) {
			_, cfg, ckpt := writeTiny(t, s)
			w, err := BindWeights(cfg, ckpt)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Layers) != s.Layers {
				t.Fatalf("%d layers", len(w.Layers))
			}
			q := w.Layers[s.Layers-1].Projections[0]
			if q.Name != "model.layers."+string(rune('0'+s.Layers-1))+".self_attn.q_proj" || q.Dense == nil || q.Dense.Shape[0] != cfg.QDim() {
				t.Errorf("q_proj bound as %+v", q)
			}
			if (q.Bias != nil) != (s.Arch == "qwen2") {
				t.Errorf("q_proj bias bound: %v", q.Bias != nil)
			}
			if s.Tied && w.LMHead.Name != "model.embed_tokens.weight" {
				t.Errorf("tied lm_head is %q", w.LMHead.Name)
			}
			down := w.Layers[0].Projections[6]
			if down.Dense.Name != "model.layers.0.mlp.down_proj.weight" || down.Shape != [2]int{s.Hidden, s.Intermediate} {
				t.Errorf("down_proj %+v", down)
			}
		})
	}
}

// rewriteWithout rewrites the checkpoint in dir, dropping or replacing one tensor.
func rewriteWithout(t *testing.T, dir, name string, replacement *safetensors.Source) {
	t.Helper()
	d, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var keep []safetensors.Source
	for _, n := range d.Names() {
		if n == name {
			continue
		}
		tt, _ := d.Tensor(n)
		keep = append(keep, safetensors.Bytes(n, tt.DType, tt.Shape, append([]byte(nil), tt.Data...)))
	}
	d.Close()
	if replacement != nil {
		keep = append(keep, *replacement)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), nil, keep); err != nil {
		t.Fatal(err)
	}
}

// TestBindWeights_Broken ensures a missing, mis-shaped or wrongly typed tensor is an error naming it.
func TestBindWeights_Broken(t *testing.T) {
	const name = "model.layers.1.self_attn.k_proj.weight"
	wrongShape := safetensors.Bytes(name, safetensors.BF16, []int{16, 64}, make([]byte, 2*16*64))
	wrongType := safetensors.Bytes(name, safetensors.I32, []int{32, 64}, make([]byte, 4*32*64))
	cases := []struct {
		label       string
		replacement *safetensors.Source
		want        string
	}{
		{"missing", nil, `no tensor "` + name + `"`},
		{"shape", &wrongShape, `"` + name + `": shape [16 64], want [32 64]`},
		{"dtype", &wrongType, `"` + name + `": dtype I32`},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			dir, cfg, _ := writeTiny(t, tinymodel.Tiny)
			rewriteWithout(t, dir, name, c.replacement)
			ckpt, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ckpt.Close()
			if _, err := BindWeights(cfg, ckpt); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestInspect_TinyModel ensures the summary reports the architecture, the exact parameter count and
// the stored bytes per dtype.
func TestInspect_TinyModel(t *testing.T) {
	dir, cfg, _ := writeTiny(t, tinymodel.Tiny)
	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Architecture != "llama" || s.Layers != 2 || s.KVHeads != 2 || s.HeadDim != 16 || s.Quantization != "" {
		t.Errorf("summary %+v", s)
	}
	if s.Parameters != cfg.ParamCount() || s.Bytes != 2*s.Parameters || s.DTypes["BF16"] != s.Bytes {
		t.Errorf("parameters %d, bytes %d, dtypes %v", s.Parameters, s.Bytes, s.DTypes)
	}
	var text strings.Builder
	s.WriteText(&text)
	if !strings.Contains(text.String(), "pre-quantized  no") || !strings.Contains(text.String(), "(125248)") {
		t.Errorf("text:\n%s", text.String())
	}
}

// TestInspect_NoWeights ensures a folder with a config but no safetensors is refused, naming it.
func TestInspect_NoWeights(t *testing.T) {
	dir := t.TempDir()
	js, _ := os.ReadFile("../../testdata/models/tiny-llama/config.json")
	os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644)
	if _, err := Inspect(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("got %v", err)
	}
}
