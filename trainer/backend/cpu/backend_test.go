package cpu

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestLoad_Errors ensures that a dtype other than F32, F16, BF16 and bytes that do not match the
// shape are errors naming the file and the tensor.
func TestLoad_Errors(t *testing.T) {
	bk := New[float32]()
	for _, tc := range []struct {
		tensor safetensors.Tensor
		want   string
	}{
		{safetensors.Tensor{Info: safetensors.Info{Name: "w", DType: safetensors.I64, Shape: []int{2}}, File: "a.safetensors", Data: make([]byte, 16)},
			`a.safetensors: tensor "w": dtype I64, want F32, F16 or BF16`},
		{safetensors.Tensor{Info: safetensors.Info{Name: "w", DType: safetensors.BF16, Shape: []int{2, 3}}, Data: make([]byte, 10)},
			`tensor "w": 10 bytes for 6 elements of BF16`},
	} {
		if _, err := bk.Load(tc.tensor); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load: error %v, want one containing %q", err, tc.want)
		}
	}
}

// TestOps_PanicOnForeignTensors ensures that a tensor of another backend type is refused by name.
func TestOps_PanicOnForeignTensors(t *testing.T) {
	bk := New[float64]()
	f32 := New[float32]().New(3)
	expectPanic(t, "cpu.Add: b is *cpu.Tensor[float32], want *cpu.Tensor[float64]", func() { bk.Add(bk.New(3), bk.New(3), f32) })
	expectPanic(t, "cpu.Gemm: c has 4 elements, want 6", func() { bk.Gemm(bk.New(4), bk.New(6), bk.New(9), false, false, 2, 3, 3, 1, 0) })
	expectPanic(t, "cpu.Gemm: negative size -1", func() { bk.Gemm(bk.New(0), bk.New(0), bk.New(0), false, false, -1, 0, 0, 1, 0) })
}

// TestDequantize_ExactAcrossChunks ensures that the parallel chunks of a large weight decode exactly
// what nf4 decodes, in float32 and widened to float64.
func TestDequantize_ExactAcrossChunks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 4))
	out, in := 301, 129 // 38829 elements: several chunks, an odd count
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(rnd.NormFloat64())
	}
	q, err := nf4.Quantize(w, []int{out, in}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, out*in)
	q.Dequantize(want)

	b32, b64 := New[float32](), New[float64]()
	d32, d64 := b32.New(out*in), b64.New(out*in)
	b32.Dequantize(d32, b32.LoadNF4(q))
	b64.Dequantize(d64, b64.LoadNF4(q))
	got32, got64 := make([]float64, out*in), make([]float64, out*in)
	b32.Download(got32, d32) // decodes the pending weight
	b64.Download(got64, d64)
	for i, x := range want {
		if g := got32[i]; g != float64(x) {
			t.Fatalf("float32 element %d = %v, want %v", i, g, x)
		}
		if g := got64[i]; g != float64(x) {
			t.Fatalf("float64 element %d = %v, want %v", i, g, x)
		}
	}
}
