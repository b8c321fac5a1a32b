package export

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// someTargets leaves k_proj, o_proj, gate_proj and up_proj unadapted, so that both kinds of
// projection are checked.
var someTargets = []string{"q_proj", "v_proj", "down_proj"}

// roundingTol is half a unit in the last place of each output dtype, relative, and half its
// smallest subnormal step, absolute: the most that rounding the exact merge to it may move a value.
var roundingTol = map[safetensors.DType][2]float64{
	safetensors.F32:  {0, 0},
	safetensors.BF16: {1.0 / 256, 0},
	safetensors.F16:  {1.0 / 2048, 1.0 / (1 << 25)},
}

// TestExport_Merged_EqualsIndependentMerge ensures every merged projection equals W + scaling·B·A
// computed element by element from the base and the adapter as lora.Load reads it, rounded to the
// chosen dtype; the unadapted projections and every other tensor are the base's, converted.
func TestExport_Merged_EqualsIndependentMerge(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 8, 16, someTargets, 1)
	runDir := fakeRun(t, baseDir, ad, 0, 3)
	base := openOut(t, baseDir)
	for _, dtype := range []safetensors.DType{safetensors.F32, safetensors.BF16, safetensors.F16} {
		t.Run(string(dtype), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged")
			res, err := Export(context.Background(), runDir, out, Options{Format: Merged, DType: dtype})
			if err != nil {
				t.Fatal(err)
			}
			if res.MergeInto != MergeOriginal || res.DType != dtype || res.Step != 3 || res.Bytes == 0 {
				t.Errorf("result %+v", res)
			}
			got := openOut(t, out)
			checkMerged(t, base, got, ad, dtype, func(w []float32, _ [2]int) []float32 { return w })
			checkConfig(t, out, torchNames[dtype], false)
		})
	}
}

// TestExport_Merged_Qwen2Tied ensures a model with q/k/v biases and tied embeddings merges the
// same way, its biases converted and no lm_head invented.
func TestExport_Merged_Qwen2Tied(t *testing.T) {
	baseDir := writeBase(t, tinymodel.Shape{Arch: "qwen2", Vocab: 300, Hidden: 64, Intermediate: 160, Layers: 2, Heads: 4, KVHeads: 2, Tied: true})
	ad := randomAdapter(t, baseDir, 4, 8, run.AllLinear, 7)
	out := filepath.Join(t.TempDir(), "merged")
	if _, err := Export(context.Background(), fakeRun(t, baseDir, ad, 0, 1), out, Options{Format: Merged, DType: safetensors.F32}); err != nil {
		t.Fatal(err)
	}
	got := openOut(t, out)
	if _, ok := got.Info("lm_head.weight"); ok {
		t.Error("lm_head written for tied embeddings")
	}
	checkMerged(t, openOut(t, baseDir), got, ad, safetensors.F32, func(w []float32, _ [2]int) []float32 { return w })
}

// TestExport_Merged_IntoNF4 ensures --merge-into nf4 merges into the base quantized as the QLoRA
// run quantized it and dequantized as the trainer dequantizes it.
func TestExport_Merged_IntoNF4(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 4, 8, someTargets, 2)
	runDir := fakeRun(t, baseDir, ad, 0, 5)
	out := filepath.Join(t.TempDir(), "merged")
	res, err := Export(context.Background(), runDir, out, Options{Format: Merged, DType: safetensors.F32, MergeInto: MergeNF4})
	if err != nil {
		t.Fatal(err)
	}
	if res.MergeInto != MergeNF4 {
		t.Errorf("merged into %q", res.MergeInto)
	}
	dequantized := func(w []float32, shape [2]int) []float32 {
		q, err := nf4.Quantize(w, shape[:], 64, true) // the run's bnb_4bit_blocksize and double quant
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float32, len(w))
		q.Dequantize(d)
		return d
	}
	checkMerged(t, openOut(t, baseDir), openOut(t, out), ad, safetensors.F32, dequantized)
}

// TestExport_Merged_PreQuantizedBase ensures a pre-quantized base merges into its stored NF4
// weights by default, that asking for its original weights is refused, and that the output holds
// none of the bitsandbytes tensors and no quantization_config.
func TestExport_Merged_PreQuantizedBase(t *testing.T) {
	full := writeBase(t, smallShape)
	quantized := filepath.Join(t.TempDir(), "base-nf4")
	if err := WriteBnB4bit(full, quantized, BnB4bitOptions{Blocksize: 64, DoubleQuant: true}); err != nil {
		t.Fatal(err)
	}
	ad := randomAdapter(t, full, 4, 8, someTargets, 3)
	runDir := fakeRun(t, quantized, ad, 0, 2)

	parent := t.TempDir()
	_, err := Export(context.Background(), runDir, filepath.Join(parent, "x"), Options{Format: Merged, MergeInto: MergeOriginal})
	if err == nil || !strings.Contains(err.Error(), "pre-quantized") {
		t.Fatalf("merge into the original of a pre-quantized base: %v", err)
	}
	emptyDir(t, parent)

	out := filepath.Join(t.TempDir(), "merged")
	res, err := Export(context.Background(), runDir, out, Options{Format: Merged, DType: safetensors.F32})
	if err != nil {
		t.Fatal(err)
	}
	if res.MergeInto != MergeNF4 {
		t.Errorf("merged into %q, want nf4", res.MergeInto)
	}
	src, got := openOut(t, quantized), openOut(t, out)
	for _, name := range got.Names() {
		if strings.Contains(name, ".weight.") {
			t.Errorf("%s: bitsandbytes state in a merged model", name)
		}
	}
	for _, m := range ad.Modules {
		prefix := lora.ModulePath(m.Layer, m.Module)
		q, _, err := nf4.Read(src, prefix)
		if err != nil {
			t.Fatal(err)
		}
		w := make([]float32, q.Len())
		q.Dequantize(w)
		want := mergeIndependently(w, &m, ad.Config.Scaling())
		if !reflect.DeepEqual(floats(t, got, prefix+".weight"), want) {
			t.Errorf("%s: differs from the stored NF4 weight merged", prefix)
		}
	}
	checkConfig(t, out, "float32", false)
}

// TestExport_BnB4_MergedThenQuantized ensures the 4-bit export stores each projection as the NF4
// quantization of the independently merged weight, in the bitsandbytes layout transformers loads.
func TestExport_BnB4_MergedThenQuantized(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 8, 16, someTargets, 4)
	runDir := fakeRun(t, baseDir, ad, 0, 4)
	out := filepath.Join(t.TempDir(), "bnb4")
	res, err := Export(context.Background(), runDir, out, Options{Format: BnB4})
	if err != nil {
		t.Fatal(err)
	}
	if res.DType != safetensors.BF16 || res.MergeInto != MergeOriginal {
		t.Errorf("result %+v", res)
	}
	cfg, err := model.LoadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if q := cfg.Quantization; q == nil || q.QuantType != "nf4" || !q.DoubleQuant || q.ComputeDType != "bfloat16" {
		t.Fatalf("quantization_config %+v", cfg.Quantization)
	}
	base, got := openOut(t, baseDir), openOut(t, out)
	w, err := model.BindWeights(cfg, got)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range w.Layers {
		for _, p := range l.Projections {
			weight := floats(t, base, p.Name+".weight")
			layer, module := layerModule(t, p.Name)
			if m := ad.Module(layer, module); m != nil {
				weight = mergeIndependently(weight, m, ad.Config.Scaling())
			}
			want, _ := nf4.Quantize(weight, p.Shape[:], 64, true)
			if p.NF4 == nil || !bytes.Equal(p.NF4.Packed, want.Packed) || !reflect.DeepEqual(p.NF4.Double, want.Double) {
				t.Errorf("%s: not the NF4 quantization of the merged weight", p.Name)
			}
		}
	}
	for _, name := range []string{"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"} {
		a, _ := base.Tensor(name)
		b, _ := got.Tensor(name)
		if a.DType != b.DType || !bytes.Equal(a.Data, b.Data) {
			t.Errorf("%s: not copied unchanged", name)
		}
	}
}

// TestExport_Sharded ensures a small shard limit gives several shards with an index whose tensors
// are those of the unsharded export, byte for byte.
func TestExport_Sharded(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	runDir := fakeRun(t, baseDir, randomAdapter(t, baseDir, 4, 8, someTargets, 5), 0, 1)
	one, many := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "many")
	var last [2]int
	if _, err := Export(context.Background(), runDir, one, Options{Format: Merged}); err != nil {
		t.Fatal(err)
	}
	_, err := Export(context.Background(), runDir, many, Options{Format: Merged, MaxShardBytes: 200_000,
		Progress: func(done, total int) { last = [2]int{done, total} }})
	if err != nil {
		t.Fatal(err)
	}
	a, b := openOut(t, one), openOut(t, many)
	if len(b.Files) < 3 || len(a.Files) != 1 {
		t.Fatalf("%d and %d files", len(a.Files), len(b.Files))
	}
	if _, err := os.Stat(filepath.Join(many, safetensors.IndexName)); err != nil {
		t.Error(err)
	}
	for _, name := range a.Names() {
		x, _ := a.Tensor(name)
		y, err := b.Tensor(name)
		if err != nil || !bytes.Equal(x.Data, y.Data) {
			t.Errorf("%s: differs between the sharded and unsharded export (%v)", name, err)
		}
	}
	if last[0] != last[1] || last[1] != len(a.Names()) {
		t.Errorf("progress ended at %v for %d tensors", last, len(a.Names()))
	}
}

// TestExport_PEFT_RoundTrip ensures the adapter export reads back as the checkpoint's adapter:
// exactly in F32, to bfloat16 rounding in BF16, with a model card beside it.
func TestExport_PEFT_RoundTrip(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 8, 16, someTargets, 6)
	runDir := fakeRun(t, baseDir, ad, 0, 2)
	want, err := lora.Load(run.CheckpointDir(runDir, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
		out := filepath.Join(t.TempDir(), "adapter")
		res, err := Export(context.Background(), runDir, out, Options{Format: PEFT, DType: dtype})
		if err != nil {
			t.Fatal(err)
		}
		got, err := lora.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Config, want.Config) || len(got.Modules) != len(want.Modules) {
			t.Fatalf("%s: config or modules differ", dtype)
		}
		for i, m := range got.Modules {
			w := want.Modules[i]
			if dtype == safetensors.F32 && !reflect.DeepEqual(m, w) {
				t.Errorf("%s: layer %d %s differs", dtype, m.Layer, m.Module)
			}
			if dtype == safetensors.BF16 && !reflect.DeepEqual(m.A, roundBF16(w.A)) {
				t.Errorf("%s: layer %d %s A is not the bfloat16 rounding", dtype, m.Layer, m.Module)
			}
		}
		if res.Format != PEFT || res.DType != dtype {
			t.Errorf("result %+v", res)
		}
		if _, err := os.Stat(filepath.Join(out, CardName)); err != nil {
			t.Error(err)
		}
	}
}

func roundBF16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(x))
	}
	return out
}

// checkMerged compares every projection of got with base(W) + scaling·B·A (or base(W) alone
// where the adapter leaves it), and every other tensor with the base's, each rounded to dtype.
func checkMerged(t *testing.T, src, got *safetensors.Dir, ad *lora.Adapter, dtype safetensors.DType, base func([]float32, [2]int) []float32) {
	t.Helper()
	if len(got.Names()) != len(src.Names()) {
		t.Errorf("%d tensors, the base has %d", len(got.Names()), len(src.Names()))
	}
	for _, name := range src.Names() {
		info, _ := got.Info(name)
		if info.DType != dtype {
			t.Errorf("%s: dtype %s, want %s", name, info.DType, dtype)
		}
		want := floats(t, src, name)
		if prefix, ok := strings.CutSuffix(name, ".weight"); ok && strings.Contains(prefix, "_proj") {
			want = base(want, [2]int{info.Shape[0], info.Shape[1]})
			layer, module := layerModule(t, prefix)
			if m := ad.Module(layer, module); m != nil {
				want = mergeIndependently(want, m, ad.Config.Scaling())
			}
		}
		if i := worst(floats(t, got, name), want, roundingTol[dtype]); i >= 0 {
			t.Errorf("%s: element %d is %v, want %v: more than %s rounding allows", name, i, floats(t, got, name)[i], want[i], dtype)
		}
	}
}

// worst returns the first element farther from want than tol (relative, absolute) allows, or -1.
func worst(got, want []float32, tol [2]float64) int {
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if got[i] != want[i] && !(d <= tol[0]*math.Abs(float64(want[i]))+tol[1]) {
			return i
		}
	}
	return -1
}

func layerModule(t *testing.T, prefix string) (int, string) {
	t.Helper()
	for l := 0; l < 100; l++ {
		for _, m := range lora.Modules {
			if lora.ModulePath(l, m) == prefix {
				return l, m
			}
		}
	}
	t.Fatalf("%s: not a projection", prefix)
	return 0, ""
}

// checkConfig requires config.json's torch_dtype and the presence of quantization_config.
func checkConfig(t *testing.T, dir, dtype string, quantized bool) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.Unmarshal(js, &cfg)
	if _, q := cfg["quantization_config"]; cfg["torch_dtype"] != dtype || q != quantized {
		t.Errorf("config.json: torch_dtype %v, quantization_config %v", cfg["torch_dtype"], cfg["quantization_config"])
	}
	for _, name := range []string{GenerationConfigName, "tokenizer.json", CardName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s is missing: %v", name, err)
		}
	}
}
