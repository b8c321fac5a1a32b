package export

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

const tinyModel = "../../testdata/models/tiny-llama"

// copyModel copies the tiny model into a temp folder, with a tokenizer file beside it.
func copyModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors"} {
		if err := safefile.Copy(filepath.Join(dir, name), filepath.Join(tinyModel, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model":{}}`), 0o644)
	return dir
}

// quantizeAndBind writes src as a bnb 4-bit checkpoint and binds the result.
func quantizeAndBind(t *testing.T, src string, opt BnB4bitOptions) (string, *model.Config, *model.Weights, *safetensors.Dir) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "nf4")
	if err := WriteBnB4bit(src, out, opt); err != nil {
		t.Fatal(err)
	}
	cfg, err := model.LoadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := safetensors.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ckpt.Close() })
	w, err := model.BindWeights(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	return out, cfg, w, ckpt
}

// TestWriteBnB4bit_ReadsBack ensures every projection comes back as the NF4 weight quantized
// directly from the source, every other tensor byte for byte, with config and tokenizer beside them.
func TestWriteBnB4bit_ReadsBack(t *testing.T) {
	src := copyModel(t)
	out, cfg, w, ckpt := quantizeAndBind(t, src, BnB4bitOptions{Blocksize: 64, DoubleQuant: true})
	if q := cfg.Quantization; q == nil || q.QuantType != "nf4" || !q.DoubleQuant || q.ComputeDType != "bfloat16" {
		t.Fatalf("quantization_config %+v", cfg.Quantization)
	}
	source, _ := safetensors.OpenDir(src)
	defer source.Close()
	for _, l := range w.Layers {
		for _, p := range l.Projections {
			if p.NF4 == nil {
				t.Fatalf("%s: not quantized", p.Name)
			}
			orig, _ := source.Tensor(p.Name + ".weight")
			f, _ := orig.Float32s()
			want, _ := nf4.Quantize(f, p.Shape[:], 64, true)
			if !bytes.Equal(p.NF4.Packed, want.Packed) || !reflect.DeepEqual(p.NF4.Double, want.Double) {
				t.Errorf("%s: stored NF4 differs from a direct quantization", p.Name)
			}
		}
	}
	for _, name := range []string{"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.1.input_layernorm.weight"} {
		a, _ := source.Tensor(name)
		b, err := ckpt.Tensor(name)
		if err != nil || a.DType != b.DType || !bytes.Equal(a.Data, b.Data) {
			t.Errorf("%s: not copied unchanged (%v)", name, err)
		}
	}
	if js, err := os.ReadFile(filepath.Join(out, "tokenizer.json")); err != nil || string(js) != `{"model":{}}` {
		t.Errorf("tokenizer.json not copied: %v", err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o755 {
		t.Errorf("output folder mode %v", st.Mode())
	}
}

// TestWriteBnB4bit_Sharded ensures a small shard limit gives several shards and an index that read
// back as one checkpoint.
func TestWriteBnB4bit_Sharded(t *testing.T) {
	var calls, lastDone, lastTotal int
	out, _, _, ckpt := quantizeAndBind(t, copyModel(t), BnB4bitOptions{
		Blocksize: 128, MaxShardBytes: 40_000,
		Progress: func(done, total int) { calls++; lastDone, lastTotal = done, total },
	})
	if len(ckpt.Files) < 3 {
		t.Errorf("%d shards, want several", len(ckpt.Files))
	}
	if _, err := os.Stat(filepath.Join(out, safetensors.IndexName)); err != nil {
		t.Error(err)
	}
	if calls == 0 || lastDone != lastTotal {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
}

// TestWriteBnB4bit_Refusals ensures bad requests fail with a clear error and leave nothing behind.
func TestWriteBnB4bit_Refusals(t *testing.T) {
	src := copyModel(t)
	quantized, _, _, _ := quantizeAndBind(t, src, BnB4bitOptions{Blocksize: 64, DoubleQuant: true})

	broken := copyModel(t)
	d, _ := safetensors.OpenDir(broken)
	var keep []safetensors.Source
	for _, name := range d.Names() {
		if name != "model.layers.1.mlp.up_proj.weight" {
			tt, _ := d.Tensor(name)
			keep = append(keep, safetensors.Bytes(name, tt.DType, tt.Shape, append([]byte(nil), tt.Data...)))
		}
	}
	d.Close()
	if err := safetensors.WriteFile(filepath.Join(broken, "model.safetensors"), nil, keep); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, src, out string
		opt            BnB4bitOptions
		want           string
	}{
		{"out exists", src, quantized, BnB4bitOptions{Blocksize: 64}, "already exists"},
		{"already quantized", quantized, "", BnB4bitOptions{Blocksize: 64}, "already quantized"},
		{"missing tensor", broken, "", BnB4bitOptions{Blocksize: 64}, `"model.layers.1.mlp.up_proj.weight"`},
		{"bad blocksize", src, "", BnB4bitOptions{Blocksize: 48}, "blocksize"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := c.out
			if out == "" {
				out = filepath.Join(parent, "out")
			}
			err := WriteBnB4bit(c.src, out, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}
