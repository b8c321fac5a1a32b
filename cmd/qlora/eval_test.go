package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestEval_MatchesPyTorch ensures `qlora eval` with a PEFT adapter gives the loss and token count
// the independent PyTorch reference computed (eval_loss in testdata/golden), with either base.
func TestEval_MatchesPyTorch(t *testing.T) {
	for _, variant := range []string{"llama", "llama3_tied", "qwen2_bias", "mistral_headdim"} {
		dir := filepath.Join("../../testdata/golden", variant)
		ids, rows, cols := goldenIDs(t, dir)
		tokens := filepath.Join(t.TempDir(), "ids.json")
		js, _ := json.Marshal(map[string]any{"ids": ids})
		os.WriteFile(tokens, js, 0o644)
		for _, base := range []string{"full", "nf4"} {
			stdout, stderr, code := qlora(t, "eval", "--model", dir, "--adapter", filepath.Join(dir, "adapter"),
				"--tokens", tokens, "--base-precision", base, "--json")
			if code != 0 {
				t.Fatalf("%s/%s: exit %d: %s", variant, base, code, stderr)
			}
			var got struct {
				Loss   float64 `json:"loss"`
				Tokens int     `json:"tokens"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			want := goldenScalar(t, filepath.Join(dir, "golden_"+base+".safetensors"), "eval_loss")
			if got.Tokens != rows*(cols-1) || math.Abs(got.Loss-want)/want > 1e-5 {
				t.Errorf("%s/%s: loss %.7f over %d tokens, want %.7f over %d", variant, base, got.Loss, got.Tokens, want, rows*(cols-1))
			}
		}
	}
}

// TestEval_Errors ensures bad token files and flags are refused with the file or flag named.
func TestEval_Errors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"ids": "hello"}`), 0o644)
	outOfRange := filepath.Join(dir, "range.json")
	os.WriteFile(outOfRange, []byte(`{"ids": [1, 2, 999999]}`), 0o644)
	model := "../../testdata/golden/llama"
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval", "--model", model}, 2, "--tokens FILE.json"},
		{[]string{"eval", "--model", model, "--tokens", bad}, 1, bad + `: "ids" must be`},
		{[]string{"eval", "--model", model, "--tokens", outOfRange}, 1, "token id 999999 at row 2"},
		{[]string{"eval", "--model", model, "--tokens", bad, "--base-precision", "int8"}, 2, `"int8"`},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func goldenIDs(t *testing.T, dir string) ([][]int32, int, int) {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "inputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt, _ := f.Tensor("input_ids")
	flat, _ := tt.Int32View()
	rows, cols := tt.Shape[0], tt.Shape[1]
	ids := make([][]int32, rows)
	for r := range ids {
		ids[r] = append([]int32(nil), flat[r*cols:(r+1)*cols]...)
	}
	return ids, rows, cols
}

func goldenScalar(t *testing.T, path, name string) float64 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt, _ := f.Tensor(name)
	v, err := tt.Float32s()
	if err != nil || len(v) != 1 {
		t.Fatalf("%s: %v", name, err)
	}
	return float64(v[0])
}
