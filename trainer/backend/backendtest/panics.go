package backendtest

import (
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// testPanics: wrong sizes and out-of-range arguments are programming errors, and the panic names
// the op.
func testPanics(p *pair) {
	b := p.got
	x3, x4, x6, x12 := b.New(3), b.New(4), b.New(6), b.New(12)
	w, err := nf4.Quantize(make([]float32, 64), []int{8, 8}, 64, false)
	if err != nil {
		p.t.Fatal(err)
	}
	qw := b.LoadNF4(w)
	invFreq := ropeFrequencies(2, 10000)
	cases := []struct {
		op string
		f  func()
	}{
		{"View", func() { b.View(x4, 3, 2) }},
		{"Upload", func() { b.Upload(x3, make([]float64, 4)) }},
		{"Download", func() { b.Download(make([]float64, 4), x3) }},
		{"Copy", func() { b.Copy(x3, x4) }},
		{"Dequantize", func() { b.Dequantize(x12, qw) }},
		{"Gemm", func() { b.Gemm(x4, x6, x6, false, false, 2, 3, 3, 1, 0) }}, // c should be (2,3)
		{"Add", func() { b.Add(x3, x3, x4) }},
		{"AddBias", func() { b.AddBias(x12, x4, 4, 3) }},
		{"Embedding", func() { b.Embedding(x6, x6, []int32{0, 2}, 3) }}, // table has 2 rows
		{"RMSNorm", func() { b.RMSNorm(x6, x3, x6, x3, 2, 3, 1e-5) }},   // rstd should hold 2
		{"RMSNormBackward", func() { b.RMSNormBackward(x6, x6, x6, x4, b.New(2), 2, 3) }},
		{"RoPE", func() { b.RoPE(x12, []int32{0, 1, 2}, ropeFrequencies(4, 10000), 3, 2, 2) }},                               // 2 frequencies for hd 2
		{"RoPEBackward", func() { b.RoPEBackward(x12, []int32{0, 1}, invFreq, 3, 2, 2) }},                                    // 2 positions for 3 rows
		{"Attention", func() { b.Attention(x12, x4, x12, x6, x6, nil, 1, 2, 3, 2, 2, 0) }},                                   // 3 heads, 2 kv heads
		{"AttentionBackward", func() { b.AttentionBackward(x12, x6, x6, x12, x12, x3, x12, x6, x6, nil, 1, 2, 3, 1, 2, 0) }}, // lse should hold 6
		{"SwiGLU", func() { b.SwiGLU(x3, x3, x4, 3) }},
		{"SwiGLUBackward", func() { b.SwiGLUBackward(x3, x4, x3, x3, x3, 3) }},
		{"Dropout", func() { b.Dropout(x3, x3, 1, 0, 0, 3) }},
		{"DropoutBackward", func() { b.DropoutBackward(x3, x3, -0.5, 0, 0, 3) }},
		{"CrossEntropy", func() { b.CrossEntropy(b.New(2), x6, []int32{0, 3}, 2, 3) }},
		{"CrossEntropyBackward", func() { b.CrossEntropyBackward(x6, x6, []int32{5, 0}, 1, 2, 3) }},
	}
	for _, c := range cases {
		expectPanic(p.t, c.op, c.f)
	}
}
