package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Gradient checks: for each op with a backward, L = Σ r∘out for a random r, the backward's gradient
// against central differences of L with h = 1e-6, in float64. Gradient buffers start with random
// values, so that a backward that overwrites instead of adding fails too.

const (
	fdStep = 1e-6
	fdTol  = 1e-6 // max |analytic − numeric| over max |numeric|
)

// vec is a float64 tensor with its data at hand.
func vec(x []float64) *Tensor[float64] { return &Tensor[float64]{Data: x} }

func normals(r *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

// weighted is Σ r∘out.
func weighted(r, out []float64) float64 {
	var s float64
	for i, x := range out {
		s += r[i] * x
	}
	return s
}

// gradAdded runs backward on a buffer of n random values and returns what it added.
func gradAdded(rnd *rand.Rand, n int, backward func(g *Tensor[float64])) []float64 {
	g := vec(normals(rnd, n))
	before := append([]float64(nil), g.Data...)
	backward(g)
	for i := range before {
		g.Data[i] -= before[i]
	}
	return g.Data
}

// gradError compares analytic with the central differences of loss with respect to x, perturbing x
// in place (and restoring it), and returns the largest difference relative to the largest gradient.
func gradError(x, analytic []float64, loss func() float64) (float64, error) {
	var worst, scale float64
	at := -1
	for i := range x {
		x0 := x[i]
		x[i] = x0 + fdStep
		up := loss()
		x[i] = x0 - fdStep
		down := loss()
		x[i] = x0
		numeric := (up - down) / (2 * fdStep)
		scale = math.Max(scale, math.Abs(numeric))
		if d := math.Abs(analytic[i] - numeric); !(d <= worst) {
			worst, at = d, i
		}
	}
	if scale == 0 {
		return 0, fmt.Errorf("numeric gradient is zero everywhere: the check proves nothing")
	}
	if !(worst <= fdTol*scale) {
		return worst / scale, fmt.Errorf("element %d off by %.3g, %.3g of the largest gradient %.3g", at, worst, worst/scale, scale)
	}
	return worst / scale, nil
}

func checkGrad(t *testing.T, name string, x, analytic []float64, loss func() float64) {
	t.Helper()
	rel, err := gradError(x, analytic, loss)
	if err != nil {
		t.Errorf("d%s: %v", name, err)
	}
	t.Logf("d%s: relative error %.2g", name, rel)
}

// TestGradError_CatchesWrongGradient ensures that the checker itself fails a gradient off by 1e-5
// relative in a single element, and passes the right one.
func TestGradError_CatchesWrongGradient(t *testing.T) {
	x := []float64{0.3, -1.2, 0.7}
	loss := func() float64 { return x[0]*x[0]*x[1] + math.Sin(x[2]) }
	grad := []float64{2 * x[0] * x[1], x[0] * x[0], math.Cos(x[2])}
	if _, err := gradError(x, grad, loss); err != nil {
		t.Fatalf("right gradient rejected: %v", err)
	}
	grad[2] *= 1 + 1e-5
	if _, err := gradError(x, grad, loss); err == nil {
		t.Fatal("gradient off by 1e-5 accepted")
	}
}

func TestRMSNorm_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 1))
	bk := New[float64]()
	n, c, eps := 3, 7, 1e-5
	x, w, r := vec(normals(rnd, n*c)), vec(normals(rnd, c)), normals(rnd, n*c)
	out, rstd := bk.New(n*c), vec(make([]float64, n))
	loss := func() float64 {
		bk.RMSNorm(out, rstd, x, w, n, c, eps)
		return weighted(r, out.(*Tensor[float64]).Data)
	}
	loss()
	dx := gradAdded(rnd, n*c, func(g *Tensor[float64]) { bk.RMSNormBackward(g, vec(r), x, w, rstd, n, c) })
	checkGrad(t, "x", x.Data, dx, loss)
}

func TestRoPE_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	bk := New[float64]()
	n, heads, hd := 4, 3, 6
	positions := []int32{0, 5, 17, 300}
	invFreq := ropeFrequencies(hd, 10000)
	x, r := normals(rnd, n*heads*hd), normals(rnd, n*heads*hd)
	y := vec(make([]float64, len(x)))
	loss := func() float64 {
		copy(y.Data, x)
		bk.RoPE(y, positions, invFreq, n, heads, hd)
		return weighted(r, y.Data)
	}
	dx := vec(append([]float64(nil), r...)) // in place: dout in, dx out
	bk.RoPEBackward(dx, positions, invFreq, n, heads, hd)
	checkGrad(t, "x", x, dx.Data, loss)
}

func ropeFrequencies(hd int, theta float64) []float64 {
	f := make([]float64, hd/2)
	for i := range f {
		f[i] = 1 / math.Pow(theta, float64(2*i)/float64(hd))
	}
	return f
}

// attentionCase is a batch of two sequences with grouped-query heads.
type attentionCase struct {
	name                                  string
	b, t, heads, kvHeads, headDim, window int
	segments                              []int32
}

var attentionCases = []attentionCase{
	{name: "causal", b: 2, t: 5, heads: 4, kvHeads: 2, headDim: 3},
	{name: "segments+window", b: 2, t: 7, heads: 4, kvHeads: 2, headDim: 4, window: 3,
		segments: []int32{0, 0, 0, 0, 1, 1, 1 /* second sequence */, 2, 2, 3, 3, 3, 3, 3}},
	{name: "mha", b: 1, t: 6, heads: 2, kvHeads: 2, headDim: 5, window: 2, segments: []int32{4, 4, 4, 9, 9, 9}},
}

func TestAttention_Gradient(t *testing.T) {
	for _, tc := range attentionCases {
		t.Run(tc.name, func(t *testing.T) { testAttentionGradient(t, tc) })
	}
}

func testAttentionGradient(t *testing.T, tc attentionCase) {
	rnd := rand.New(rand.NewPCG(1, 3))
	bk := New[float64]()
	rows := tc.b * tc.t
	qn, kn := rows*tc.heads*tc.headDim, rows*tc.kvHeads*tc.headDim
	q, k, v := vec(normals(rnd, qn)), vec(normals(rnd, kn)), vec(normals(rnd, kn))
	r := normals(rnd, qn)
	out, lse := vec(make([]float64, qn)), vec(make([]float64, tc.b*tc.heads*tc.t))
	loss := func() float64 {
		bk.Attention(out, lse, q, k, v, tc.segments, tc.b, tc.t, tc.heads, tc.kvHeads, tc.headDim, tc.window)
		return weighted(r, out.Data)
	}
	loss()
	dq, dk, dv := vec(normals(rnd, qn)), vec(normals(rnd, kn)), vec(normals(rnd, kn))
	before := [][]float64{append([]float64(nil), dq.Data...), append([]float64(nil), dk.Data...), append([]float64(nil), dv.Data...)}
	bk.AttentionBackward(dq, dk, dv, vec(r), out, lse, q, k, v, tc.segments, tc.b, tc.t, tc.heads, tc.kvHeads, tc.headDim, tc.window)
	for i, g := range []*Tensor[float64]{dq, dk, dv} {
		for j := range g.Data {
			g.Data[j] -= before[i][j]
		}
	}
	checkGrad(t, "q", q.Data, dq.Data, loss)
	checkGrad(t, "k", k.Data, dk.Data, loss)
	checkGrad(t, "v", v.Data, dv.Data, loss)
}

func TestSwiGLU_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 4))
	bk := New[float64]()
	n := 11
	gate, up, r := vec(normals(rnd, n)), vec(normals(rnd, n)), normals(rnd, n)
	gate.Data[0], gate.Data[1] = 6, -7 // the tails of the sigmoid
	out := vec(make([]float64, n))
	loss := func() float64 {
		bk.SwiGLU(out, gate, up, n)
		return weighted(r, out.Data)
	}
	dgate, dup := vec(normals(rnd, n)), vec(normals(rnd, n))
	g0, u0 := append([]float64(nil), dgate.Data...), append([]float64(nil), dup.Data...)
	bk.SwiGLUBackward(dgate, dup, vec(r), gate, up, n)
	for i := range g0 {
		dgate.Data[i] -= g0[i]
		dup.Data[i] -= u0[i]
	}
	checkGrad(t, "gate", gate.Data, dgate.Data, loss)
	checkGrad(t, "up", up.Data, dup.Data, loss)
}

func TestDropout_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 5))
	bk := New[float64]()
	n, p := 50, 0.3
	x, r := vec(normals(rnd, n)), normals(rnd, n)
	out := vec(make([]float64, n))
	loss := func() float64 {
		bk.Dropout(out, x, p, 42, 7, n)
		return weighted(r, out.Data)
	}
	dx := gradAdded(rnd, n, func(g *Tensor[float64]) { bk.DropoutBackward(g, vec(r), p, 42, 7, n) })
	checkGrad(t, "x", x.Data, dx, loss)
}

// CrossEntropyBackward takes one scale for every row, so L = scale·Σ losses.
func TestCrossEntropy_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 6))
	bk := New[float64]()
	n, v, scale := 5, 7, 0.37
	targets := []int32{3, -100, 0, 6, -1}
	logits := vec(normals(rnd, n*v))
	losses := vec(make([]float64, n))
	loss := func() float64 {
		bk.CrossEntropy(losses, logits, targets, n, v)
		var s float64
		for _, l := range losses.Data {
			s += scale * l
		}
		return s
	}
	dl := gradAdded(rnd, n*v, func(g *Tensor[float64]) { bk.CrossEntropyBackward(g, logits, targets, scale, n, v) })
	for _, row := range []int{1, 4} {
		for j := range v {
			if dl[row*v+j] != 0 {
				t.Errorf("ignored row %d got gradient %v", row, dl[row*v+j])
			}
		}
	}
	checkGrad(t, "logits", logits.Data, dl, loss)
}

// TestGemm_Gradient uses Gemm as a linear map c = alpha·op(a)·op(b) and its own backward, written
// with Gemm as the model writes it (beta = 1 adds into the gradients), for every transpose pair.
func TestGemm_Gradient(t *testing.T) {
	for tr := range 4 {
		transA, transB := tr&1 != 0, tr&2 != 0
		t.Run(fmt.Sprintf("transA=%v,transB=%v", transA, transB), func(t *testing.T) {
			testGemmGradient(t, transA, transB)
		})
	}
}

func testGemmGradient(t *testing.T, transA, transB bool) {
	rnd := rand.New(rand.NewPCG(1, 7))
	bk := New[float64]()
	m, n, k, alpha := 4, 5, 3, 0.7
	a, b, r := vec(normals(rnd, m*k)), vec(normals(rnd, k*n)), normals(rnd, m*n)
	c := vec(make([]float64, m*n))
	loss := func() float64 {
		bk.Gemm(c, a, b, transA, transB, m, n, k, alpha, 0)
		return weighted(r, c.Data)
	}
	dc := vec(r)
	da := gradAdded(rnd, m*k, func(g *Tensor[float64]) {
		if transA { // da (K,M) += alpha·op(b) (K,Nc) · dcᵀ (Nc,M)
			bk.Gemm(g, b, dc, transB, true, k, m, n, alpha, 1)
		} else { // da (M,K) += alpha·dc (M,Nc) · op(b)ᵀ (Nc,K)
			bk.Gemm(g, dc, b, false, !transB, m, k, n, alpha, 1)
		}
	})
	db := gradAdded(rnd, k*n, func(g *Tensor[float64]) {
		if transB { // db (Nc,K) += alpha·dcᵀ (Nc,M) · op(a) (M,K)
			bk.Gemm(g, dc, a, true, transA, n, k, m, alpha, 1)
		} else { // db (K,Nc) += alpha·op(a)ᵀ (K,M) · dc (M,Nc)
			bk.Gemm(g, a, dc, !transA, false, k, n, m, alpha, 1)
		}
	})
	checkGrad(t, "a", a.Data, da, loss)
	checkGrad(t, "b", b.Data, db, loss)
}
