package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/rng"
)

// Forward checks on cases small enough to compute by hand, and the masking properties of attention.

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func expectClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !near(got[i], want[i], tol) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// expectPanic runs f and checks that it panics with a message containing want.
func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

// attend runs the float64 forward and returns out and lse.
func attend(q, k, v []float64, segments []int32, b, t, heads, kvHeads, hd, window int) (out, lse []float64) {
	bk := New[float64]()
	o, l := vec(make([]float64, len(q))), vec(make([]float64, b*heads*t))
	bk.Attention(o, l, vec(q), vec(k), vec(v), segments, b, t, heads, kvHeads, hd, window)
	return o.Data, l.Data
}

// TestAttention_OneToken ensures that a lone token's output is its kv head's v and its lse is its
// own score, for every query head of a group.
func TestAttention_OneToken(t *testing.T) {
	q := []float64{1, 2, 3, 4, -1, 0.5, 2, 2} // 4 heads of 2
	k := []float64{0.5, -1, 2, 1}             // 2 kv heads
	v := []float64{7, 8, -9, 10}
	out, lse := attend(q, k, v, nil, 1, 1, 4, 2, 2, 0)
	expectClose(t, "out", out, []float64{7, 8, 7, 8, -9, 10, -9, 10}, 0)
	s := func(h, g int) float64 { return (q[2*h]*k[2*g] + q[2*h+1]*k[2*g+1]) / math.Sqrt2 }
	expectClose(t, "lse", lse, []float64{s(0, 0), s(1, 0), s(2, 1), s(3, 1)}, 1e-15)
}

// TestAttention_TwoTokensByHand checks the second token against the softmax written out.
func TestAttention_TwoTokensByHand(t *testing.T) {
	q := []float64{1, 0, 0.5, -2}
	k := []float64{2, 1, -1, 3}
	v := []float64{1, 2, 3, 4}
	out, lse := attend(q, k, v, nil, 1, 2, 1, 1, 2, 0)
	s0, s1 := (0.5*2-2*1)/math.Sqrt2, (0.5*-1-2*3)/math.Sqrt2
	p0 := math.Exp(s0) / (math.Exp(s0) + math.Exp(s1))
	want := []float64{1, 2, p0*1 + (1-p0)*3, p0*2 + (1-p0)*4}
	expectClose(t, "out", out, want, 1e-15)
	expectClose(t, "lse", lse, []float64{2 / math.Sqrt2, math.Log(math.Exp(s0) + math.Exp(s1))}, 1e-15)
}

// influence reports, for each row, whether changing k and v at row j changes that row's output.
func influence(t *testing.T, j int, segments []int32, b, tt, window int) []bool {
	t.Helper()
	rnd := rand.New(rand.NewPCG(2, 1))
	heads, kvHeads, hd := 4, 2, 3
	q := normals(rnd, b*tt*heads*hd)
	k, v := normals(rnd, b*tt*kvHeads*hd), normals(rnd, b*tt*kvHeads*hd)
	before, _ := attend(q, k, v, segments, b, tt, heads, kvHeads, hd, window)
	for d := range kvHeads * hd {
		k[j*kvHeads*hd+d] += 1
		v[j*kvHeads*hd+d] -= 1
	}
	after, _ := attend(q, k, v, segments, b, tt, heads, kvHeads, hd, window)
	changed := make([]bool, b*tt)
	for i := range changed {
		w := heads * hd
		changed[i] = !slices.Equal(before[i*w:(i+1)*w], after[i*w:(i+1)*w])
	}
	return changed
}

// TestAttention_Masking ensures that a token influences exactly the later tokens of its own
// sequence and segment that are within the window.
func TestAttention_Masking(t *testing.T) {
	cases := []struct {
		name     string
		j        int // the row whose k and v change
		segments []int32
		b, t     int
		window   int
		want     []bool
	}{
		{"causal", 2, nil, 1, 5, 0, []bool{false, false, true, true, true}},
		{"sequences", 1, nil, 2, 3, 0, []bool{false, true, true, false, false, false}},
		{"segments", 1, []int32{0, 0, 0, 1, 1}, 1, 5, 0, []bool{false, true, true, false, false}},
		{"segments-later", 3, []int32{0, 0, 0, 1, 1}, 1, 5, 0, []bool{false, false, false, true, true}},
		{"window", 1, nil, 1, 6, 3, []bool{false, true, true, true, false, false}},
		{"window+segments", 0, []int32{5, 5, 6, 6, 6}, 1, 5, 2, []bool{true, true, false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := influence(t, tc.j, tc.segments, tc.b, tc.t, tc.window)
			if !slices.Equal(got, tc.want) {
				t.Errorf("rows changed by row %d: %v, want %v", tc.j, got, tc.want)
			}
		})
	}
}

// TestAttention_GroupedHeads ensures that query head h reads kv head h/(NH/NKV): changing kv head 1
// changes heads 2 and 3 only.
func TestAttention_GroupedHeads(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 2))
	tt, heads, kvHeads, hd := 3, 4, 2, 2
	q, k, v := normals(rnd, tt*heads*hd), normals(rnd, tt*kvHeads*hd), normals(rnd, tt*kvHeads*hd)
	before, _ := attend(q, k, v, nil, 1, tt, heads, kvHeads, hd, 0)
	for i := range tt {
		v[(i*kvHeads+1)*hd] += 1
	}
	after, _ := attend(q, k, v, nil, 1, tt, heads, kvHeads, hd, 0)
	for i := range tt {
		for h := range heads {
			o := (i*heads + h) * hd
			changed := !slices.Equal(before[o:o+hd], after[o:o+hd])
			if changed != (h >= 2) {
				t.Errorf("token %d head %d: changed = %v", i, h, changed)
			}
		}
	}
}

// TestRoPE_ByHand checks the half-split pairing (i, i+HD/2), not the interleaved one, and the
// direction of the turn.
func TestRoPE_ByHand(t *testing.T) {
	bk := New[float64]()
	a, b := 0.3, 0.05
	x := vec([]float64{1, 0, 0, 0, 0, 1, 0, 0}) // two rows, one head of 4
	bk.RoPE(x, []int32{1, 2}, []float64{a, b}, 2, 1, 4)
	want := []float64{math.Cos(a), 0, math.Sin(a), 0, 0, math.Cos(2 * b), 0, math.Sin(2 * b)}
	expectClose(t, "x", x.Data, want, 1e-15)
}

// TestRoPE_Properties: position 0 is the identity bit for bit, every position keeps each pair's
// norm, and RoPEBackward undoes RoPE.
func TestRoPE_Properties(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 3))
	bk := New[float64]()
	n, heads, hd := 3, 2, 8
	invFreq := ropeFrequencies(hd, 10000)
	x := normals(rnd, n*heads*hd)

	y := vec(append([]float64(nil), x...))
	bk.RoPE(y, []int32{0, 0, 0}, invFreq, n, heads, hd)
	if !slices.Equal(y.Data, x) {
		t.Errorf("position 0 changed x")
	}

	positions := []int32{1, 77, 4095}
	bk.RoPE(y, positions, invFreq, n, heads, hd)
	for o := 0; o < len(x); o += hd {
		for i := range hd / 2 {
			before := math.Hypot(x[o+i], x[o+i+hd/2])
			after := math.Hypot(y.Data[o+i], y.Data[o+i+hd/2])
			if !near(after, before, 1e-15) {
				t.Errorf("pair (%d, %d) norm %v, want %v", o+i, o+i+hd/2, after, before)
			}
		}
	}
	bk.RoPEBackward(y, positions, invFreq, n, heads, hd)
	expectClose(t, "RoPEBackward(RoPE(x))", y.Data, x, 1e-14)
}

func TestRMSNorm_ByHand(t *testing.T) {
	bk := New[float64]()
	out, rstd := vec(make([]float64, 2)), vec(make([]float64, 1))
	bk.RMSNorm(out, rstd, vec([]float64{3, 4}), vec([]float64{1, 2}), 1, 2, 0.5)
	r := 1 / math.Sqrt(12.5+0.5)
	expectClose(t, "rstd", rstd.Data, []float64{r}, 1e-15)
	expectClose(t, "out", out.Data, []float64{3 * r, 8 * r}, 1e-15)
}

func TestSwiGLU_ByHand(t *testing.T) {
	bk := New[float64]()
	out := vec(make([]float64, 3))
	bk.SwiGLU(out, vec([]float64{0, 1, -2}), vec([]float64{5, 2, 3}), 3)
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	expectClose(t, "out", out.Data, []float64{0, 2 * sig(1), 3 * -2 * sig(-2)}, 1e-15)
}

func TestCrossEntropy_ByHand(t *testing.T) {
	bk := New[float64]()
	v := 5
	logits := vec([]float64{
		2, 2, 2, 2, 2, // uniform: log V
		0, math.Log(3), 0, 0, 0, // p(target 1) = 3/7
		1e4, 0, 0, 0, 0, // needs the max subtracted
		9, 9, 9, 9, 9, // ignored
	})
	losses := vec([]float64{-1, -1, -1, -1})
	bk.CrossEntropy(losses, logits, []int32{3, 1, 0, -100}, 4, v)
	expectClose(t, "losses", losses.Data, []float64{math.Log(5), math.Log(7.0 / 3), 0, 0}, 1e-15)
}

func TestCrossEntropy_ProgrammingErrors(t *testing.T) {
	bk := New[float64]()
	logits, losses := vec(make([]float64, 6)), vec(make([]float64, 2))
	expectPanic(t, "cpu.CrossEntropy: target 3 at row 1", func() { bk.CrossEntropy(losses, logits, []int32{0, 3}, 2, 3) })
	expectPanic(t, "cpu.CrossEntropyBackward: target 3", func() { bk.CrossEntropyBackward(logits, logits, []int32{3, 0}, 1, 2, 3) })
	logits.Data[4] = math.NaN()
	bk.CrossEntropy(losses, logits, []int32{0, 2}, 2, 3)
	if !math.IsNaN(losses.Data[1]) || math.IsNaN(losses.Data[0]) {
		t.Errorf("a NaN logit in row 1 gives losses %v, want NaN in row 1 only", losses.Data)
	}
	bk.CrossEntropy(losses, logits, []int32{0, -100}, 2, 3) // a NaN in an ignored row is not read
	if losses.Data[1] != 0 {
		t.Errorf("ignored row's loss %v", losses.Data[1])
	}
}

// TestDropout_Mask ensures that the mask is rng.Uniform(seed, stream, i) ≥ p, kept values are scaled
// by 1/(1−p), p = 0 copies exactly, and p outside [0, 1) panics.
func TestDropout_Mask(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 4))
	bk := New[float32]()
	n, p := 1000, 0.25
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rnd.NormFloat64())
	}
	out := &Tensor[float32]{Data: make([]float32, n)}
	bk.Dropout(out, &Tensor[float32]{Data: x}, p, 3, 9, n)
	kept := 0
	for i, y := range out.Data {
		want := float32(0)
		if rng.Uniform(3, 9, uint64(i)) >= p {
			want, kept = x[i]*float32(1/(1-p)), kept+1
		}
		if y != want {
			t.Fatalf("out[%d] = %v, want %v", i, y, want)
		}
	}
	if kept < 700 || kept > 800 {
		t.Errorf("kept %d of %d at p = %v", kept, n, p)
	}
	bk.Dropout(out, &Tensor[float32]{Data: x}, 0, 3, 9, n)
	if !slices.Equal(out.Data, x) {
		t.Error("p = 0 did not copy x")
	}
	for _, bad := range []float64{1, -0.1, math.NaN()} {
		expectPanic(t, "cpu.Dropout: p =", func() { bk.Dropout(out, out, bad, 0, 0, n) })
	}
}
