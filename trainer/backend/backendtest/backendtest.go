// Package backendtest is the conformance suite every backend runs: each method of backend.Backend
// on random inputs of awkward sizes (odd widths, grouped-query heads, packed segments, a sliding
// window), on the backend under test and on the float64 CPU backend as the reference, compared per
// output by ‖got − ref‖/‖ref‖. Properties that admit no rounding (views share storage, beta = 0
// does not read c, the dropout mask, ignored rows) are checked exactly.
//
// A backend's own test calls it, as gonum's implementations call testblas:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, cuda.New, 2e-2) }
//
// It must not depend on anything but the interface: a backend passes by computing what the CPU
// backend computes, not by sharing its code.
package backendtest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Run runs the suite against the backends newBackend returns (one per subtest), accepting a
// relative error up to tol per output.
func Run(t *testing.T, newBackend func() backend.Backend, tol float64) {
	groups := []struct {
		name string
		run  func(*pair)
	}{
		{"Name", testName},
		{"New", testNew},
		{"UploadDownload", testUploadDownload},
		{"View", testView},
		{"Zero", testZero},
		{"Copy", testCopy},
		{"Load", testLoad},
		{"Dequantize", testDequantize},
		{"Gemm", testGemm},
		{"NF4Linear", testNF4Linear},
		{"Add", testAdd},
		{"AddBias", testAddBias},
		{"Embedding", testEmbedding},
		{"RMSNorm", testRMSNorm},
		{"RoPE", testRoPE},
		{"Attention", testAttention},
		{"AttentionCached", testAttentionCached},
		{"SwiGLU", testSwiGLU},
		{"Dropout", testDropout},
		{"CrossEntropy", testCrossEntropy},
		{"Bytes", testBytes},
		{"SumSquares", testSumSquares},
		{"Scale", testScale},
		{"AdamWStep", testAdamWStep},
		{"AdamW8bitStep", testAdamW8bitStep},
		{"Panics", testPanics},
		{"OptimPanics", testOptimPanics},
		{"FullTrainer", testFullTrainer},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			g.run(&pair{
				t:   t,
				got: newBackend(),
				ref: cpu.New[float64](),
				tol: tol,
				rnd: rand.New(rand.NewPCG(seedOf(g.name), 0x5eed)), // by name: adding a group moves no other's inputs
			})
		})
	}
}

// seedOf is a group's random seed, from its name.
func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// pair is the backend under test and the reference, fed the same inputs.
type pair struct {
	t        *testing.T
	got, ref backend.Backend
	tol      float64
	rnd      *rand.Rand
}

// dual is one tensor held on both backends.
type dual struct {
	got, ref backend.Tensor
	n        int
}

// side picks one backend's tensor of a dual.
type side func(dual) backend.Tensor

func onGot(d dual) backend.Tensor { return d.got }
func onRef(d dual) backend.Tensor { return d.ref }

// both runs f on the backend under test, then on the reference.
func (p *pair) both(f func(b backend.Backend, at side)) {
	f(p.got, onGot)
	f(p.ref, onRef)
}

// values returns n normal values times scale, rounded to bfloat16 so that every backend (16-bit
// storage included) starts from the same numbers.
func (p *pair) values(n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = roundBF16(scale * p.rnd.NormFloat64())
	}
	return x
}

func roundBF16(x float64) float64 {
	return float64(safetensors.BF16ToFloat32(safetensors.Float32ToBF16(float32(x))))
}

// upload puts x on both backends.
func (p *pair) upload(x []float64) dual {
	d := dual{got: p.got.New(len(x)), ref: p.ref.New(len(x)), n: len(x)}
	p.got.Upload(d.got, x)
	p.ref.Upload(d.ref, x)
	return d
}

// random is upload(values(n, scale)).
func (p *pair) random(n int, scale float64) dual { return p.upload(p.values(n, scale)) }

// zeros is a zeroed tensor on both backends.
func (p *pair) zeros(n int) dual {
	return dual{got: p.got.New(n), ref: p.ref.New(n), n: n}
}

// uploadFP32 puts x on both backends in NewFP32 tensors: what the model keeps in float32 (lse,
// losses, adapter parameters and gradients, optimizer states), so that a backend with 16-bit New
// is measured on its kernels, not on a rounding the model never does.
func (p *pair) uploadFP32(x []float64) dual {
	d := p.zerosFP32(len(x))
	p.got.Upload(d.got, x)
	p.ref.Upload(d.ref, x)
	return d
}

// randomFP32 is uploadFP32(values(n, scale)).
func (p *pair) randomFP32(n int, scale float64) dual { return p.uploadFP32(p.values(n, scale)) }

// zerosFP32 is a zeroed NewFP32 tensor on both backends.
func (p *pair) zerosFP32(n int) dual {
	return dual{got: p.got.NewFP32(n), ref: p.ref.NewFP32(n), n: n}
}

// download returns the tensor's values on each backend.
func (p *pair) download(d dual) (got, ref []float64) {
	got, ref = make([]float64, d.n), make([]float64, d.n)
	p.got.Download(got, d.got)
	p.ref.Download(ref, d.ref)
	return got, ref
}

// check compares one output within the tolerance.
func (p *pair) check(name string, d dual) {
	p.t.Helper()
	got, ref := p.download(d)
	if err := relError(got, ref); !(err <= p.tol) {
		p.t.Errorf("%s: ‖got − ref‖/‖ref‖ = %.3g > %.3g (%s)", name, err, p.tol, worst(got, ref))
	}
}

// checkExact compares one output bit for bit (NaN equal to NaN).
func (p *pair) checkExact(name string, got, want []float64) {
	p.t.Helper()
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			p.t.Errorf("%s[%d] = %v, want exactly %v", name, i, got[i], want[i])
			return
		}
	}
}

// relError is ‖got − ref‖₂/‖ref‖₂, or ‖got‖₂ when ref is zero; NaN when got is not finite.
func relError(got, ref []float64) float64 {
	var diff, norm float64
	for i := range ref {
		if math.IsNaN(got[i]) || math.IsInf(got[i], 0) {
			return math.NaN()
		}
		d := got[i] - ref[i]
		diff += d * d
		norm += ref[i] * ref[i]
	}
	if norm == 0 {
		return math.Sqrt(diff)
	}
	return math.Sqrt(diff / norm)
}

// worst describes the element farthest from the reference.
func worst(got, ref []float64) string {
	at, d := -1, -1.0
	for i := range ref {
		if e := math.Abs(got[i] - ref[i]); !(e <= d) {
			at, d = i, e
		}
	}
	if at < 0 {
		return "no elements"
	}
	return fmt.Sprintf("worst at %d: got %v, ref %v", at, got[at], ref[at])
}

// prefills are the starting values of gradient buffers: zero, then random, so that a backward
// that overwrites instead of adding fails.
var prefills = []string{"zeroed", "prefilled"}

// grad returns a gradient buffer of n elements started as prefill says.
func (p *pair) grad(n int, prefill string) dual {
	if prefill == "zeroed" {
		return p.zeros(n)
	}
	return p.random(n, 1)
}

// expectPanic checks that f panics with a message naming op.
func expectPanic(t *testing.T, op string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", op)
			return
		}
		if !strings.Contains(fmt.Sprint(r), op) {
			t.Errorf("%s: panic %q does not name the op", op, fmt.Sprint(r))
		}
	}()
	f()
}
