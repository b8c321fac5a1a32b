package gguf

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// ggufName is the llama.cpp name of a Hugging Face tensor, spelled out independently of mappings.
func ggufName(hf string) string {
	r := strings.NewReplacer(
		"model.embed_tokens.", "token_embd.", "model.norm.", "output_norm.", "lm_head.", "output.",
		"model.layers.", "blk.", ".input_layernorm.", ".attn_norm.", ".post_attention_layernorm.", ".ffn_norm.",
		".self_attn.q_proj.", ".attn_q.", ".self_attn.k_proj.", ".attn_k.", ".self_attn.v_proj.", ".attn_v.",
		".self_attn.o_proj.", ".attn_output.", ".mlp.gate_proj.", ".ffn_gate.", ".mlp.up_proj.", ".ffn_up.",
		".mlp.down_proj.", ".ffn_down.")
	return r.Replace(hf)
}

// hfRows undoes llama.cpp's q/k permutation: GGUF row r of a head holds the Hugging Face row at
// half r%2, position r/2 (numpy: reshape(heads, hd/2, 2, cols).swapaxes(1, 2)).
func hfRows(v []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(v))
	hd := rows / heads
	for r := range rows {
		h, within := r/hd, r%hd
		src := h*hd + (within%2)*(hd/2) + within/2
		copy(out[src*cols:(src+1)*cols], v[r*cols:(r+1)*cols])
	}
	return out
}

// TestPlanHF_EveryTensorReadsBack ensures that for every variant and type, the file holds exactly
// the model's tensors under llama.cpp's names, in ggml's dimension order, with norms and biases in
// F32, and that each reads back (permutation undone) as the source: F32 exactly, F16 and BF16
// within their rounding, Q8_0 within half a quantization step and block for block equal to the
// independent reference quantizer.
func TestPlanHF_EveryTensorReadsBack(t *testing.T) {
	for _, v := range variants {
		for _, typ := range exportTypes {
			t.Run(v.name+"/"+typ.String(), func(t *testing.T) {
				dir, f, _ := exported(t, v, typ)
				cfg, err := model.LoadConfig(dir)
				must(t, err)
				ckpt, err := safetensors.OpenDir(dir)
				must(t, err)
				defer ckpt.Close()
				seen := map[string]bool{"rope_freqs.weight": cfg.RopeScaling != nil}
				for _, name := range ckpt.Names() {
					gname := ggufName(name)
					seen[gname] = true
					checkTensor(t, f, cfg, ckpt, name, gname, typ)
				}
				for _, ti := range f.Tensors {
					if !seen[ti.Name] {
						t.Errorf("tensor %s is not in the model", ti.Name)
					}
				}
				if len(f.Tensors) != len(ckpt.Names())+boolInt(cfg.RopeScaling != nil) {
					t.Errorf("%d tensors, want %d", len(f.Tensors), len(ckpt.Names()))
				}
			})
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkTensor(t *testing.T, f *File, cfg *model.Config, ckpt *safetensors.Dir, name, gname string, typ GGMLType) {
	t.Helper()
	src, err := ckpt.Tensor(name)
	must(t, err)
	want, err := src.Float32s()
	must(t, err)
	ti, ok := f.Tensor(gname)
	if !ok {
		t.Fatalf("%s (%s) is not in the file", gname, name)
	}
	dims := slices.Clone(src.Shape)
	slices.Reverse(dims)
	if !slices.Equal(ti.Dims, dims) {
		t.Fatalf("%s: dims %v, want %v (reversed %v)", gname, ti.Dims, dims, src.Shape)
	}
	wantType := typ
	switch {
	case len(src.Shape) == 1:
		wantType = F32
	case typ == Q8_0 && src.Shape[1]%32 != 0:
		wantType = F16
	}
	if ti.Type != wantType {
		t.Fatalf("%s: type %s, want %s", gname, ti.Type, wantType)
	}
	raw, err := f.Data(gname)
	must(t, err)
	got, err := f.Float32s(gname)
	must(t, err)
	heads := 0
	if cfg.Architecture != model.ArchQwen2 && strings.Contains(name, "q_proj") {
		heads = cfg.NumHeads
	} else if cfg.Architecture != model.ArchQwen2 && strings.Contains(name, "k_proj") {
		heads = cfg.NumKVHeads
	}
	cols := 1
	if len(src.Shape) == 2 {
		cols = src.Shape[1]
	}
	if heads > 0 {
		if ti.Type == Q8_0 {
			// the blocks are of the permuted rows: compare them before undoing it
			checkQ8_0(t, gname, raw, permuteForTest(want, src.Shape[0], cols, heads))
		}
		got = hfRows(got, src.Shape[0], cols, heads)
	} else if ti.Type == Q8_0 {
		checkQ8_0(t, gname, raw, want)
	}
	compareValues(t, gname, ti.Type, got, want)
}

// permuteForTest applies the permutation hfRows undoes.
func permuteForTest(v []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(v))
	hd := rows / heads
	for r := range rows {
		h, within := r/hd, r%hd
		src := h*hd + (within%2)*(hd/2) + within/2
		copy(out[r*cols:(r+1)*cols], v[src*cols:(src+1)*cols])
	}
	return out
}

// compareValues checks got against the source values for a tensor of type typ.
func compareValues(t *testing.T, name string, typ GGMLType, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range want {
		var tol float64
		w := math.Abs(float64(want[i]))
		switch typ {
		case F16:
			tol = w*0x1p-11 + 0x1p-25 // half an ulp, subnormals included
		case BF16:
			tol = w * 0x1p-8
		case Q8_0:
			tol = q8Step(want, i)*(0.5+127*0x1p-11) + 127*0x1p-25 // the step rounds to float16, maybe to 0
		}
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol || math.IsNaN(d) {
			t.Fatalf("%s[%d] = %g, want %g (|Δ| %g > %g)", name, i, got[i], want[i], d, tol)
		}
	}
}

// q8Step is the quantization step of the Q8_0 block holding element i, amax/127: rounding costs
// half of it, and the float16 rounding of the step (2^-11 relative) up to 127 times that.
func q8Step(v []float32, i int) float64 {
	start := i / 32 * 32
	var amax float64
	for _, x := range v[start : start+32] {
		amax = math.Max(amax, math.Abs(float64(x)))
	}
	return amax / 127
}

// checkQ8_0 requires the tensor's blocks to equal the independent reference quantizer's.
func checkQ8_0(t *testing.T, name string, raw []byte, values []float32) {
	t.Helper()
	want := referenceQ8_0(values)
	if len(raw) != len(want) {
		t.Fatalf("%s: %d bytes of Q8_0, want %d", name, len(raw), len(want))
	}
	for b := 0; b < len(want); b += 34 {
		if string(raw[b:b+34]) != string(want[b:b+34]) {
			t.Fatalf("%s: Q8_0 block %d is %x, the reference gives %x", name, b/34, raw[b:b+34], want[b:b+34])
		}
	}
}

// TestPlanHF_TiedHasNoOutput ensures a model with tied embeddings has no output tensor, so
// llama.cpp reuses token_embd.
func TestPlanHF_TiedHasNoOutput(t *testing.T) {
	_, f, _ := exported(t, variantNamed("qwen2-bias-tied"), F16)
	if _, ok := f.Tensor("output.weight"); ok {
		t.Fatal("a tied model has output.weight")
	}
	if _, ok := f.Tensor("token_embd.weight"); !ok {
		t.Fatal("no token_embd.weight")
	}
}

// TestPlanHF_RopeFreqs ensures Llama 3.1 scaling gives rope_freqs.weight, F32, of head_dim/2
// factors as llama.cpp's converter computes them: 1 for high frequencies, factor for low ones, and
// 1/((1-s)/factor + s) between.
func TestPlanHF_RopeFreqs(t *testing.T) {
	dir, f, _ := exported(t, variantNamed("llama3-ropescaled"), Q8_0)
	cfg, err := model.LoadConfig(dir)
	must(t, err)
	ti, ok := f.Tensor("rope_freqs.weight")
	if !ok || ti.Type != F32 || !slices.Equal(ti.Dims, []int{cfg.HeadDim / 2}) {
		t.Fatalf("rope_freqs.weight: %+v, %v", ti, ok)
	}
	got, err := f.Float32s("rope_freqs.weight")
	must(t, err)
	const factor, low, high, old = 8.0, 1.0, 4.0, 32.0
	var bands [3]int
	for i, g := range got {
		freq := 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(cfg.HeadDim))
		wavelen := 2 * math.Pi / freq
		want, band := 1.0, 0
		switch {
		case wavelen > old/low:
			want, band = factor, 2
		case wavelen >= old/high:
			s := (old/wavelen - low) / (high - low)
			want, band = 1/((1-s)/factor+s), 1
		}
		bands[band]++
		if math.Abs(float64(g)-want) > 1e-6*want {
			t.Errorf("rope_freqs[%d] = %g, want %g", i, g, want)
		}
	}
	if bands[0] == 0 || bands[1] == 0 || bands[2] == 0 {
		t.Fatalf("the test config misses a band: %v", bands)
	}
}

// TestPlan_SizeAndProgress ensures Size is the written file's size and progress counts every tensor.
func TestPlan_SizeAndProgress(t *testing.T) {
	dir := t.TempDir()
	variantNamed("llama-chatml-gpt2").make(t, dir)
	var calls [][2]int
	plan, err := PlanHF(dir, Options{Type: F16, Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
	must(t, err)
	defer plan.Close()
	size, err := plan.Size()
	must(t, err)
	path := dir + "/model.gguf"
	must(t, plan.Write(path))
	st, err := os.Stat(path)
	must(t, err)
	if st.Size() != size {
		t.Errorf("Size %d, file %d bytes", size, st.Size())
	}
	n := len(plan.Tensors)
	if len(calls) != n || calls[n-1] != [2]int{n, n} {
		t.Errorf("progress calls %v, want 1..%d of %d", calls, n, n)
	}
}

// TestPlanHF_Warnings ensures a Q8_0 fallback and Mistral's sliding window are reported.
func TestPlanHF_Warnings(t *testing.T) {
	_, _, plan := exported(t, variantNamed("llama-sentencepiece"), Q8_0)
	if len(plan.Warnings) != 2 || !strings.Contains(plan.Warnings[0], "blk.0.ffn_down.weight") {
		t.Errorf("warnings %q, want the two ffn_down fallbacks", plan.Warnings)
	}
	_, _, plan = exported(t, variantNamed("mistral-sentencepiece"), F16)
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "sliding_window 4096") {
		t.Errorf("warnings %q, want the sliding window", plan.Warnings)
	}
}

// TestPlanHF_Refuses ensures checkpoints that do not match their config, or that llama.cpp would
// run differently, are refused with the tensor or field named.
func TestPlanHF_Refuses(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(t *testing.T, dir string)
	}{
		{"extra tensor", `"model.extra.weight" has no place in a GGUF qwen2 model`, func(t *testing.T, dir string) {
			addTensor(t, dir, "model.extra.weight", []int{4})
		}},
		{"missing lm_head", `"lm_head.weight" is missing`, func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["tie_word_embeddings"] = false })
		}},
		{"shape", `has shape [295 64], the config says [295 96]`, func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["hidden_size"] = 96; c["head_dim"] = 16 })
		}},
		{"vocab", "the tokenizer has 295 tokens, more than vocab_size 290", func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["vocab_size"] = 290; c["bos_token_id"] = 1 })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			variantNamed("qwen2-bias-tied").make(t, dir) // qwen2, tied
			c.edit(t, dir)
			_, err := PlanHF(dir, Options{Type: F16})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v, want one naming %s and %q", err, dir, c.want)
			}
		})
	}
}

// addTensor rewrites the checkpoint with one more tensor.
func addTensor(t *testing.T, dir, name string, shape []int) {
	t.Helper()
	ckpt, err := safetensors.OpenDir(dir)
	must(t, err)
	var sources []safetensors.Source
	for _, n := range ckpt.Names() {
		x, err := ckpt.Tensor(n)
		must(t, err)
		sources = append(sources, safetensors.Bytes(n, x.DType, x.Shape, append([]byte(nil), x.Data...)))
	}
	ckpt.Close()
	sources = append(sources, safetensors.Bytes(name, safetensors.F32, shape, make([]byte, 4*shape[0])))
	must(t, safetensors.WriteFile(dir+"/model.safetensors", nil, sources))
}

// TestPermuteRotary_Inverse ensures UnpermuteRotary undoes PermuteRotary and that PermuteRotary
// is the permutation the test's independent hfRows undoes.
func TestPermuteRotary_Inverse(t *testing.T) {
	rows, cols, heads := 24, 3, 2
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = float32(i)
	}
	p := PermuteRotary(v, rows, cols, heads)
	if !slices.Equal(UnpermuteRotary(p, rows, cols, heads), v) || !slices.Equal(hfRows(p, rows, cols, heads), v) {
		t.Fatal("the permutation does not invert")
	}
	if slices.Equal(p, v) {
		t.Fatal("the permutation changed nothing")
	}
	if got := fmt.Sprint(p[:cols*4]); got != "[0 1 2 18 19 20 3 4 5 21 22 23]" {
		t.Fatalf("first rows %s: want rows 0, 6, 1, 7 (head 0: pairs of halves)", got)
	}
}
