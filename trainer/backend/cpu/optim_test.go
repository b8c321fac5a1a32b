package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// The optimizer ops against straightforward scalar loops written here, bit for bit.

// naiveAdamW is torch.optim.AdamW's single-tensor step as its Python reads, one element at a time,
// with T rounding where torch's float tensors round.
func naiveAdamW[T Float](p, g, m, v []T, h backend.AdamW) {
	t := float64(h.Step)
	biasCorrection1 := 1 - math.Pow(h.Beta1, t)
	biasCorrection2 := 1 - math.Pow(h.Beta2, t)
	stepSize := h.LR / biasCorrection1
	bc2Sqrt := T(math.Sqrt(biasCorrection2))
	for i := range p {
		if h.WeightDecay != 0 {
			p[i] = p[i] * T(1-float64(h.LR*h.WeightDecay))
		}
		m[i] = T(m[i]*T(h.Beta1)) + T(T(1-h.Beta1)*g[i])
		v[i] = T(v[i]*T(h.Beta2)) + T(T(T(1-h.Beta2)*g[i])*g[i])
		denom := T(math.Sqrt(float64(v[i])))/bc2Sqrt + T(h.Eps)
		p[i] = p[i] + T(T(-stepSize)*m[i])/denom
	}
}

// quantize2DPort is quantize_2D from bitsandbytes' kernels.cu line for line: the pivots, the
// bounds it tracks and their starting values.
func quantize2DPort[T Float](code *[256]T, signed bool, x T) uint8 {
	pivot, upperPivot, lowerPivot := 127, 255, 0
	lower, upper := T(0), T(1)
	if signed {
		lower = -1
	}
	val := code[127] // quadrants[1]
	for i := 64; i > 0; i >>= 1 {
		if x > val {
			lowerPivot, lower = pivot, val
			pivot += i
		} else {
			upperPivot, upper = pivot, val
			pivot -= i
		}
		val = code[pivot]
	}
	if x > val {
		if x > (upper+val)*0.5 {
			return uint8(upperPivot)
		}
		return uint8(pivot)
	}
	if x < (lower+val)*0.5 {
		return uint8(lowerPivot)
	}
	return uint8(pivot)
}

// naiveAdamW8bit is kOptimizerStatic8bit2StateBlockwise as the GPU runs it: each block of 256 is
// loaded with the kernel's fill values past the end (gradient 0, codes 128 and 0), updated whole,
// reduced, and stored back up to the end.
func naiveAdamW8bit[T Float](p, g []T, c1, c2 []byte, absmax1, absmax2 []T, h backend.AdamW) {
	var q1, q2 [256]T
	s, u := nf4.DynamicMap(), nf4.DynamicMapUnsigned()
	for i := range q1 {
		q1[i], q2[i] = T(s[i]), T(u[i])
	}
	f32 := func(x float64) T { return T(float32(x)) } // the kernel's float arguments
	beta1, beta2, eps, lr, wd := f32(h.Beta1), f32(h.Beta2), f32(h.Eps), f32(h.LR), f32(h.WeightDecay)
	correction1 := 1 - T(math.Pow(float64(beta1), float64(h.Step)))
	correction2 := T(math.Sqrt(float64(1 - T(math.Pow(float64(beta2), float64(h.Step))))))
	stepSize := -lr * correction2 / correction1
	isFinite := func(x T) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

	for blk := 0; blk*256 < len(p); blk++ {
		var gv, pv, s1, s2 [256]T
		var cs1, cs2 [256]byte
		valid := min(256, len(p)-blk*256)
		for j := range 256 {
			gv[j], cs1[j], cs2[j] = 0, 128, 0
			if j < valid {
				gv[j], cs1[j], cs2[j], pv[j] = g[blk*256+j], c1[blk*256+j], c2[blk*256+j], p[blk*256+j]
			}
		}
		newMax1, newMax2 := T(-math.MaxFloat32), T(-math.MaxFloat32)
		for j := range 256 {
			if isFinite(gv[j]) {
				s2[j] = q2[cs2[j]] * absmax2[blk]
				gVal := gv[j]
				s2[j] = T(s2[j]*beta2) + T(T((1-beta2)*gVal)*gVal)
				s1[j] = q1[cs1[j]] * absmax1[blk]
				s1[j] = T(s1[j]*beta1) + T((1-beta1)*gVal)
			} else {
				s1[j], s2[j] = 0, 0
			}
			newMax1 = T(fmaxC(float64(newMax1), math.Abs(float64(s1[j]))))
			newMax2 = T(fmaxC(float64(newMax2), math.Abs(float64(s2[j]))))
		}
		absmax1[blk], absmax2[blk] = newMax1, newMax2
		for j := range 256 {
			if isFinite(gv[j]) {
				pv[j] = pv[j] + T(stepSize*(s1[j]/(T(math.Sqrt(float64(s2[j])))+T(correction2*eps))))
				if wd > 0 {
					pv[j] = pv[j] * (1 - T(lr*wd))
				}
			}
		}
		for j := range 256 {
			cs1[j] = quantize2DPort(&q1, true, s1[j]/newMax1)
			cs2[j] = quantize2DPort(&q2, false, s2[j]/newMax2)
			if math.Signbit(float64(q1[cs1[j]])) != math.Signbit(float64(s1[j])) {
				if s1[j] > 0 {
					cs1[j]++
				} else {
					cs1[j]--
				}
			}
		}
		for j := range valid {
			p[blk*256+j], c1[blk*256+j], c2[blk*256+j] = pv[j], cs1[j], cs2[j]
		}
	}
}

func fmaxC(a, b float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return math.Max(a, b)
}

// optimCase is a run of steps over n parameters: gradients normal with a scale that changes from
// block to block (so absmax differs), block 2 zero for the first two steps (an all-zero block:
// absmax 0, codes from 0/0), and NaN, +Inf and −Inf gradients at a few places and steps.
type optimCase struct {
	n, steps int
	h        backend.AdamW
}

func (c optimCase) params(seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, c.n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func (c optimCase) grads(seed uint64, step int) []float64 {
	r := rand.New(rand.NewPCG(seed, uint64(step)+100))
	g := make([]float64, c.n)
	for i := range g {
		scale := math.Ldexp(1, -(i/256)%7)
		g[i] = scale * r.NormFloat64()
		if i/256 == 2 && step <= 2 {
			g[i] = 0
		}
	}
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
	for k, at := range []int{7, c.n / 2, c.n - 3} {
		if (step+k)%2 == 0 && at >= 0 && at < c.n {
			g[at] = bad[k]
		}
	}
	return g
}

func toT[T Float](x []float64) []T {
	out := make([]T, len(x))
	for i, v := range x {
		out[i] = T(v)
	}
	return out
}

func sameBits[T Float](t *testing.T, what string, got, want []T) {
	t.Helper()
	for i := range want {
		if math.Float64bits(float64(got[i])) != math.Float64bits(float64(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s[%d] = %d, want %d", what, i, got[i], want[i])
		}
	}
}

// TestAdamWStep_MatchesScalarLoop ensures AdamWStep is bit-identical to torch's update written as
// a scalar loop, with and without weight decay, over sizes that split into several chunks.
func TestAdamWStep_MatchesScalarLoop(t *testing.T) {
	t.Run("float32", testAdamWStepMatches[float32])
	t.Run("float64", testAdamWStepMatches[float64])
}

func testAdamWStepMatches[T Float](t *testing.T) {
	for _, c := range []optimCase{
		{n: 1, steps: 3, h: backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		{n: 3*chunkElems + 5, steps: 4, h: backend.AdamW{LR: 2e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}},
		{n: 1000, steps: 3, h: backend.AdamW{LR: 0.5, Beta1: 0.5, Beta2: 0.9, Eps: 1e-3, WeightDecay: 1}},
	} {
		bk := New[T]()
		p0 := toT[T](c.params(1))
		p, m, v := &Tensor[T]{Data: append([]T(nil), p0...)}, &Tensor[T]{Data: make([]T, c.n)}, &Tensor[T]{Data: make([]T, c.n)}
		wp, wm, wv := append([]T(nil), p0...), make([]T, c.n), make([]T, c.n)
		for step := 1; step <= c.steps; step++ {
			g := toT[T](c.grads(1, step))
			for i := range g {
				if math.IsNaN(float64(g[i])) || math.IsInf(float64(g[i]), 0) {
					g[i] = 0.5 // AdamW does not skip; keep the comparison finite
				}
			}
			h := c.h
			h.Step = step
			bk.AdamWStep(p, &Tensor[T]{Data: g}, m, v, h)
			naiveAdamW(wp, g, wm, wv, h)
			what := fmt.Sprintf("n=%d step %d", c.n, step)
			sameBits(t, what+" params", p.Data, wp)
			sameBits(t, what+" m", m.Data, wm)
			sameBits(t, what+" v", v.Data, wv)
		}
	}
}

// TestAdamW8bitStep_MatchesKernelPort ensures AdamW8bitStep is bit-identical to the port of the
// CUDA kernel above (exact division and pow in both): parameters, codes and absmax, through a
// partial last block, an all-zero block, skipped non-finite gradients and weight decay.
func TestAdamW8bitStep_MatchesKernelPort(t *testing.T) {
	t.Run("float32", testAdamW8bitMatches[float32])
	t.Run("float64", testAdamW8bitMatches[float64])
}

func testAdamW8bitMatches[T Float](t *testing.T) {
	for _, c := range []optimCase{
		{n: 5*256 + 77, steps: 8, h: backend.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}},
		{n: 100, steps: 3, h: backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		{n: 70*256 + 1, steps: 3, h: backend.AdamW{LR: 1e-3, Beta1: 0.8, Beta2: 0.95, Eps: 1e-6}},
	} {
		bk := New[T]()
		blocks := (c.n + 255) / 256
		p0 := toT[T](c.params(2))
		p := &Tensor[T]{Data: append([]T(nil), p0...)}
		c1, c2 := bk.NewBytes(c.n).(*Bytes), bk.NewBytes(c.n).(*Bytes)
		a1, a2 := &Tensor[T]{Data: make([]T, blocks)}, &Tensor[T]{Data: make([]T, blocks)}
		wp, wc1, wc2, wa1, wa2 := append([]T(nil), p0...), make([]byte, c.n), make([]byte, c.n), make([]T, blocks), make([]T, blocks)
		for step := 1; step <= c.steps; step++ {
			g := toT[T](c.grads(2, step))
			h := c.h
			h.Step = step
			bk.AdamW8bitStep(p, &Tensor[T]{Data: g}, c1, c2, a1, a2, h)
			naiveAdamW8bit(wp, g, wc1, wc2, wa1, wa2, h)
			what := fmt.Sprintf("n=%d step %d", c.n, step)
			sameBits(t, what+" params", p.Data, wp)
			sameBytes(t, what+" c1", c1.Data, wc1)
			sameBytes(t, what+" c2", c2.Data, wc2)
			sameBits(t, what+" absmax1", a1.Data, wa1)
			sameBits(t, what+" absmax2", a2.Data, wa2)
			for i, gi := range g {
				if math.IsNaN(float64(gi)) || math.IsInf(float64(gi), 0) {
					if p.Data[i] != p0[i] && step == 1 {
						t.Fatalf("%s: parameter %d with gradient %v moved", what, i, gi)
					}
					if blk := i / 256; a1.Data[blk] != 0 && (c1.Data[i] != 127 || c2.Data[i] != 0) {
						t.Fatalf("%s: skipped element %d has codes %d, %d, want 127, 0 (zero states)", what, i, c1.Data[i], c2.Data[i])
					}
				}
			}
		}
	}
}

// TestQuantize2D_MatchesPort ensures the branchless search and (in float32) the table equal the
// kernel's search on both maps, for every code value, every midpoint and its float neighbours,
// ±0, ±1, beyond ±1, infinities, NaN, random values and a sweep of float32 bit patterns.
func TestQuantize2D_MatchesPort(t *testing.T) {
	t.Run("float32", testQuantize2D[float32])
	t.Run("float64", testQuantize2D[float64])
}

func testQuantize2D[T Float](t *testing.T) {
	maps := mapsFor[T]()
	for _, m := range []struct {
		name   string
		code   *[256]T
		table  *codeTable
		signed bool
	}{{"signed", &maps.signed, maps.signedTable, true}, {"unsigned", &maps.unsigned, maps.unsignedTable, false}} {
		xs := []T{0, T(math.Copysign(0, -1)), 1, -1, 2, -2, T(math.NaN()), T(math.Inf(1)), T(math.Inf(-1))}
		for i := range 256 {
			xs = append(xs, m.code[i])
			if i < 255 {
				mid := (m.code[i] + m.code[i+1]) * 0.5
				xs = append(xs, mid, nextAfter(mid, 2), nextAfter(mid, -2))
			}
		}
		r := rand.New(rand.NewPCG(4, 4))
		for range 100000 {
			xs = append(xs, T(2*r.Float64()-1))
		}
		if _, ok := any(xs[0]).(float32); ok { // every 4093rd float32 bit pattern as well
			for b := uint64(0); b < 1<<32; b += 4093 {
				xs = append(xs, T(math.Float32frombits(uint32(b))))
			}
		}
		for _, x := range xs {
			want := quantize2DPort(m.code, m.signed, x)
			if got := quantize2D(m.code, x); got != want {
				t.Fatalf("%s map: quantize2D(%v) = %d, kernel %d", m.name, x, got, want)
			}
			if got := quantize(m.code, m.table, x); got != want {
				t.Fatalf("%s map: table gives %d for %v, kernel %d", m.name, got, x, want)
			}
		}
	}
}

func nextAfter[T Float](x, toward T) T {
	if _, ok := any(x).(float32); ok {
		return T(math.Nextafter32(float32(x), float32(toward)))
	}
	return T(math.Nextafter(float64(x), float64(toward)))
}

// TestSumSquares ensures SumSquares adds squares in float64: exact on small integers, and within
// rounding of a plain float64 sum over many chunks.
func TestSumSquares(t *testing.T) {
	bk := New[float32]()
	if got := bk.SumSquares(&Tensor[float32]{Data: []float32{3, 4, -12}}); got != 169 {
		t.Errorf("SumSquares(3, 4, -12) = %v, want 169", got)
	}
	if got := bk.SumSquares(&Tensor[float32]{}); got != 0 {
		t.Errorf("SumSquares of nothing = %v, want 0", got)
	}
	x := randSlice[float32](rand.New(rand.NewPCG(5, 5)), 5*chunkElems+3)
	var want float64
	for _, v := range x {
		want += float64(v) * float64(v)
	}
	if got := bk.SumSquares(&Tensor[float32]{Data: x}); math.Abs(got-want) > 1e-12*want {
		t.Errorf("SumSquares = %v, plain sum %v", got, want)
	}
	// Float32 squares would lose this: (1+2^-20)² needs 41 bits.
	y := float32(1 + math.Ldexp(1, -20))
	if got, want := bk.SumSquares(&Tensor[float32]{Data: []float32{y}}), float64(y)*float64(y); got != want {
		t.Errorf("SumSquares(%v) = %v, want %v", y, got, want)
	}
}

// TestScale ensures Scale multiplies by alpha rounded to T.
func TestScale(t *testing.T) {
	x := &Tensor[float32]{Data: []float32{1, -2, 3}}
	New[float32]().Scale(x, 0.1)
	a := float32(0.1)
	sameBits(t, "Scale", x.Data, []float32{a, -2 * a, 3 * a})
}

// optimWorkload runs every optimizer op on sizes of several chunks and returns the outputs.
func optimWorkload[T Float]() (float64, [][]T, [][]byte) {
	bk := New[T]()
	c := optimCase{n: 7*chunkElems + 77, steps: 3, h: backend.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}}
	g0 := &Tensor[T]{Data: toT[T](c.grads(6, 1))}
	g0.Data[7] = 1 // no NaN for the norm
	norm := bk.SumSquares(g0)
	bk.Scale(g0, 0.3)
	p, m, v := &Tensor[T]{Data: toT[T](c.params(6))}, bk.New(c.n), bk.New(c.n)
	q := &Tensor[T]{Data: toT[T](c.params(7))}
	blocks := (c.n + 255) / 256
	c1, c2, a1, a2 := bk.NewBytes(c.n), bk.NewBytes(c.n), bk.New(blocks), bk.New(blocks)
	for step := 1; step <= c.steps; step++ {
		h := c.h
		h.Step = step
		bk.AdamWStep(p, g0, m, v, h)
		bk.AdamW8bitStep(q, &Tensor[T]{Data: toT[T](c.grads(6, step))}, c1, c2, a1, a2, h)
	}
	ts := [][]T{g0.Data, p.Data, m.(*Tensor[T]).Data, v.(*Tensor[T]).Data, q.Data, a1.(*Tensor[T]).Data, a2.(*Tensor[T]).Data}
	return norm, ts, [][]byte{c1.(*Bytes).Data, c2.(*Bytes).Data}
}

// TestOptimOps_BitIdenticalAcrossThreads ensures 1 and 4 threads give the same bits.
func TestOptimOps_BitIdenticalAcrossThreads(t *testing.T) {
	t.Run("float32", testOptimThreads[float32])
	t.Run("float64", testOptimThreads[float64])
}

func testOptimThreads[T Float](t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	norm1, ts1, bs1 := optimWorkload[T]()
	runtime.GOMAXPROCS(4)
	norm4, ts4, bs4 := optimWorkload[T]()
	if math.Float64bits(norm1) != math.Float64bits(norm4) {
		t.Errorf("SumSquares: %v with 1 thread, %v with 4", norm1, norm4)
	}
	for i := range ts1 {
		sameBits(t, fmt.Sprintf("output %d", i), ts4[i], ts1[i])
	}
	for i := range bs1 {
		sameBytes(t, fmt.Sprintf("codes %d", i), bs4[i], bs1[i])
	}
}

// optimStep returns one optimizer step of every op on n float32 parameters.
func optimStep(bk backend.Backend, n int) func() {
	r := rand.New(rand.NewPCG(8, 8))
	tensor := func(n int) *Tensor[float32] { return &Tensor[float32]{Data: randSlice[float32](r, n)} }
	p, g, m, v, q := tensor(n), tensor(n), tensor(n), tensor(n), tensor(n)
	for i := range v.Data {
		v.Data[i] *= v.Data[i]
	}
	blocks := (n + 255) / 256
	c1, c2, a1, a2 := bk.NewBytes(n), bk.NewBytes(n), bk.New(blocks), bk.New(blocks)
	h := backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	return func() {
		h.Step++
		bk.SumSquares(g)
		bk.Scale(g, 1)
		bk.AdamWStep(p, g, m, v, h)
		bk.AdamW8bitStep(q, g, c1, c2, a1, a2, h)
	}
}

// TestOptimOps_DoNotAllocate ensures that, once warm, the optimizer ops allocate nothing, on one
// thread and on several.
func TestOptimOps_DoNotAllocate(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	run := optimStep(New[float32](), 5*chunkElems+9)
	if allocs := testing.AllocsPerRun(10, run); allocs != 0 {
		t.Errorf("%v allocations per step on 1 thread", allocs)
	}
	runtime.GOMAXPROCS(4)
	run() // grow for 4 workers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		run()
	}
	runtime.ReadMemStats(&after)
	if allocs := after.Mallocs - before.Mallocs; allocs >= runs {
		t.Errorf("%d allocations in %d steps on 4 threads", allocs, runs)
	}
}

// TestOptimOps_PanicOnWrongSizes ensures size mistakes and a step of 0 panic naming the op.
func TestOptimOps_PanicOnWrongSizes(t *testing.T) {
	bk := New[float32]()
	x4, x5, x1, x2 := bk.New(4), bk.New(5), bk.New(1), bk.New(2)
	b4, b5 := bk.NewBytes(4), bk.NewBytes(5)
	h := backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	h0 := h
	h0.Step = 0
	for _, c := range []struct {
		op string
		f  func()
	}{
		{"AdamWStep", func() { bk.AdamWStep(x4, x5, x4, x4, h) }},
		{"AdamWStep", func() { bk.AdamWStep(x4, x4, x4, x4, h0) }},
		{"AdamW8bitStep", func() { bk.AdamW8bitStep(x4, x4, b4, b5, x1, x1, h) }},
		{"AdamW8bitStep", func() { bk.AdamW8bitStep(x4, x4, b4, b4, x2, x1, h) }},
		{"AdamW8bitStep", func() { bk.AdamW8bitStep(x4, x4, b4, b4, x1, x1, h0) }},
		{"UploadBytes", func() { bk.UploadBytes(b4, make([]byte, 5)) }},
		{"DownloadBytes", func() { bk.DownloadBytes(make([]byte, 3), b4) }},
		{"NewBytes", func() { bk.NewBytes(-1) }},
		{"SumSquares", func() { bk.SumSquares(New[float64]().New(3)) }},
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), c.op) {
					t.Errorf("%s: panic %v, want one naming the op", c.op, r)
				}
			}()
			c.f()
		}()
	}
}

// The benchmarks report ns per parameter for one step over 10M float32 parameters (the 8-bit
// states warm: the first step, which only fills them, is not timed).

func BenchmarkAdamW(b *testing.B) {
	const n = 10_000_000
	bk := New[float32]()
	r := rand.New(rand.NewPCG(9, 9))
	p, g := &Tensor[float32]{Data: randSlice[float32](r, n)}, &Tensor[float32]{Data: randSlice[float32](r, n)}
	m, v := bk.New(n), bk.New(n)
	h := backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1}
	bk.AdamWStep(p, g, m, v, h) // touch every page before timing
	for b.Loop() {
		h.Step++
		bk.AdamWStep(p, g, m, v, h)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/param")
}

func BenchmarkAdamW8bit(b *testing.B) {
	const n = 10_000_000
	bk := New[float32]()
	r := rand.New(rand.NewPCG(9, 9))
	p, g := &Tensor[float32]{Data: randSlice[float32](r, n)}, &Tensor[float32]{Data: randSlice[float32](r, n)}
	c1, c2, a1, a2 := bk.NewBytes(n), bk.NewBytes(n), bk.New((n+255)/256), bk.New((n+255)/256)
	h := backend.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1}
	bk.AdamW8bitStep(p, g, c1, c2, a1, a2, h) // touch every page before timing
	for b.Loop() {
		h.Step++
		bk.AdamW8bitStep(p, g, c1, c2, a1, a2, h)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/param")
}
