package backendtest

import (
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Tensors: allocation, transfers, views, loading and dequantizing. These admit no rounding: the
// values are bfloat16 numbers, which every storage holds exactly.

func testName(p *pair) {
	if p.got.Name() == "" {
		p.t.Error("Name is empty")
	}
}

func testNew(p *pair) {
	for _, n := range []int{0, 1, 1001} {
		x := p.got.New(n)
		if x.Len() != n {
			p.t.Errorf("New(%d).Len() = %d", n, x.Len())
		}
		got := make([]float64, n)
		p.got.Download(got, x)
		p.checkExact("New", got, make([]float64, n))
	}
}

func testUploadDownload(p *pair) {
	x := p.values(77, 10)
	x[3], x[4] = 0, roundBF16(-1e30) // zero and a large magnitude
	d := p.got.New(len(x))
	p.got.Upload(d, x)
	got := make([]float64, len(x))
	p.got.Download(got, d)
	p.checkExact("Download(Upload(x))", got, x)
}

// testView: views share storage both ways, nest, may be empty, and an op writing into a view
// leaves the rest of the parent alone (flat arenas depend on it).
func testView(p *pair) {
	b := p.got
	parent := b.New(10)
	view := b.View(parent, 3, 4)
	if view.Len() != 4 {
		p.t.Fatalf("View(parent, 3, 4).Len() = %d", view.Len())
	}
	b.Upload(view, []float64{1, 2, 3, 4})
	got := make([]float64, 10)
	b.Download(got, parent)
	p.checkExact("parent after writing its view", got, []float64{0, 0, 0, 1, 2, 3, 4, 0, 0, 0})

	b.Upload(parent, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	inner := b.View(view, 1, 2)
	pair := make([]float64, 2)
	b.Download(pair, inner)
	p.checkExact("view of a view after writing the parent", pair, []float64{4, 5})
	b.Upload(inner, []float64{-4, -5})
	b.Download(got, parent)
	p.checkExact("parent after writing a view of a view", got, []float64{0, 1, 2, 3, -4, -5, 6, 7, 8, 9})

	if e := b.View(parent, 10, 0); e.Len() != 0 {
		p.t.Errorf("empty view at the end has %d elements", e.Len())
	}

	b.Add(b.View(parent, 2, 3), b.View(parent, 5, 3), b.View(parent, 7, 3))
	b.Download(got, parent)
	p.checkExact("parent after Add into a view", got, []float64{0, 1, -5 + 7, 6 + 8, 7 + 9, -5, 6, 7, 8, 9})
}

func testZero(p *pair) {
	x := p.values(33, 1)
	d := p.got.New(len(x))
	p.got.Upload(d, x)
	p.got.Zero(p.got.View(d, 5, 20))
	want := slices.Clone(x)
	clear(want[5:25])
	got := make([]float64, len(x))
	p.got.Download(got, d)
	p.checkExact("Zero of a view", got, want)
}

func testCopy(p *pair) {
	x := p.values(40, 1)
	src, dst := p.got.New(len(x)), p.got.New(len(x))
	p.got.Upload(src, x)
	p.got.Copy(dst, src)
	got := make([]float64, len(x))
	p.got.Download(got, dst)
	p.checkExact("Copy", got, x)

	p.got.Copy(p.got.View(dst, 0, 10), p.got.View(src, 30, 10)) // between views
	p.got.Download(got, dst)
	want := slices.Concat(x[30:40], x[10:])
	p.checkExact("Copy between views", got, want)

	// Into activation precision: values that bf16 cannot hold round as Upload rounds them.
	fine := make([]float64, 50)
	for i := range fine {
		fine[i] = float64(float32(1 + float64(i)/3 + float64(i)*1e-4))
	}
	wide, narrow, direct := p.got.NewFP32(len(fine)), p.got.New(len(fine)), p.got.New(len(fine))
	p.got.Upload(wide, fine)
	p.got.Copy(narrow, wide)
	p.got.Upload(direct, fine)
	got, want = make([]float64, len(fine)), make([]float64, len(fine))
	p.got.Download(got, narrow)
	p.got.Download(want, direct)
	p.checkExact("Copy from NewFP32 into New", got, want)
}

// testLoad: F32, F16 and BF16 checkpoint tensors decode exactly; other dtypes are errors naming
// the tensor.
func testLoad(p *pair) {
	x := p.values(15, 1) // bfloat16 values: exact in all three dtypes
	f32 := make([]float32, len(x))
	for i, v := range x {
		f32[i] = float32(v)
	}
	for _, dtype := range []safetensors.DType{safetensors.F32, safetensors.F16, safetensors.BF16} {
		raw, err := safetensors.Encode(dtype, f32)
		if err != nil {
			p.t.Fatal(err)
		}
		st := safetensors.Tensor{Info: safetensors.Info{Name: "model.norm.weight", DType: dtype, Shape: []int{3, 5}}, Data: raw}
		want, _ := st.Float32s()
		got := p.loaded(st)
		for i := range want {
			if got[i] != float64(want[i]) {
				p.t.Errorf("Load %s: element %d = %v, want %v", dtype, i, got[i], want[i])
				break
			}
		}
	}
	for _, dtype := range []safetensors.DType{safetensors.I32, safetensors.F64, safetensors.U8} {
		st := safetensors.Tensor{
			Info: safetensors.Info{Name: "model.layers.0.mlp.up_proj.weight", DType: dtype, Shape: []int{2}},
			Data: make([]byte, 2*dtype.Size()),
		}
		if _, err := p.got.Load(st); err == nil || !strings.Contains(err.Error(), st.Name) {
			p.t.Errorf("Load %s: error %v, want one naming the tensor", dtype, err)
		}
	}
}

func (p *pair) loaded(st safetensors.Tensor) []float64 {
	p.t.Helper()
	d, err := p.got.Load(st)
	if err != nil {
		p.t.Fatalf("Load %s: %v", st.DType, err)
	}
	if d.Len() != st.NumElements() {
		p.t.Fatalf("Load %s: %d elements, want %d", st.DType, d.Len(), st.NumElements())
	}
	got := make([]float64, d.Len())
	p.got.Download(got, d)
	return got
}

// testDequantize: a real nf4.Quantize'd weight of odd size (a partial last block, an odd element
// count), with and without double quantization.
func testDequantize(p *pair) {
	out, in := 37, 95
	w := make([]float32, out*in)
	rnd := rand.New(rand.NewPCG(7, 7))
	for i := range w {
		w[i] = float32(0.02 * rnd.NormFloat64())
	}
	for _, double := range []bool{false, true} {
		q, err := nf4.Quantize(w, []int{out, in}, 64, double)
		if err != nil {
			p.t.Fatal(err)
		}
		d := p.zeros(out * in)
		p.both(func(b backend.Backend, at side) {
			qw := b.LoadNF4(q)
			if qw.Shape() != [2]int{out, in} {
				p.t.Errorf("LoadNF4: Shape() = %v, want [%d %d]", qw.Shape(), out, in)
			}
			b.Dequantize(at(d), qw)
		})
		p.check("Dequantize", d)
		want := make([]float32, out*in)
		q.Dequantize(want)
		_, ref := p.download(d)
		for i := range want {
			if ref[i] != float64(want[i]) {
				p.t.Fatalf("reference Dequantize[%d] = %v, nf4 says %v", i, ref[i], want[i])
			}
		}
	}
}
