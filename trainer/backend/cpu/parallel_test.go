package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// workload runs every parallel op on sizes that split into many chunks and returns all outputs.
func workload[T Float](seed uint64) [][]T {
	rnd := rand.New(rand.NewPCG(seed, 3))
	rand := func(n int) *Tensor[T] { return &Tensor[T]{Data: randSlice[T](rnd, n)} }
	zeros := func(n int) *Tensor[T] { return &Tensor[T]{Data: make([]T, n)} }
	bk := New[T]()

	m, n, k := 100, 300, 270
	c := rand(m * n)
	bk.Gemm(c, rand(m*k), rand(k*n), false, true, m, n, k, 1, 0.5)

	b, t, heads, kvHeads, hd, window := 2, 40, 4, 2, 8, 17
	segments := make([]int32, b*t)
	for i := range segments {
		segments[i] = int32(i / 13)
	}
	qn, kn := b*t*heads*hd, b*t*kvHeads*hd
	q, kk, v, out, lse := rand(qn), rand(kn), rand(kn), zeros(qn), zeros(b*heads*t)
	bk.Attention(out, lse, q, kk, v, segments, b, t, heads, kvHeads, hd, window)
	dq, dk, dv := zeros(qn), zeros(kn), zeros(kn)
	bk.AttentionBackward(dq, dk, dv, rand(qn), out, lse, q, kk, v, segments, b, t, heads, kvHeads, hd, window)

	rows, width := 600, 96
	x, w, norm, rstd, dx := rand(rows*width), rand(width), zeros(rows*width), zeros(rows), zeros(rows*width)
	bk.RMSNorm(norm, rstd, x, w, rows, width, 1e-5)
	bk.RMSNormBackward(dx, rand(rows*width), x, w, rstd, rows, width)
	positions := make([]int32, rows)
	for i := range positions {
		positions[i] = int32(i * 7)
	}
	rot := &Tensor[T]{Data: append([]T(nil), x.Data...)}
	bk.RoPE(rot, positions, []float64{1, 0.1, 0.01, 0.001}, rows, width/8, 8)

	vocab := 1000
	logits, losses, dlogits := rand(rows*vocab), zeros(rows), zeros(rows*vocab)
	targets := make([]int32, rows)
	for i := range targets {
		targets[i] = int32(i * 37 % vocab)
		if i%5 == 4 {
			targets[i] = -100
		}
	}
	bk.CrossEntropy(losses, logits, targets, rows, vocab)
	bk.CrossEntropyBackward(dlogits, logits, targets, 0.01, rows, vocab)

	elems := 100_000
	gate, up, act := rand(elems), rand(elems), zeros(elems)
	bk.SwiGLU(act, gate, up, elems)
	drop := zeros(elems)
	bk.Dropout(drop, act, 0.1, 5, 6, elems)

	return [][]T{c.Data, out.Data, lse.Data, dq.Data, dk.Data, dv.Data, norm.Data, rstd.Data, dx.Data,
		rot.Data, losses.Data, dlogits.Data, act.Data, drop.Data}
}

// TestParallel_BitIdentical ensures that 1 and 4 threads give the same bits for every parallel op.
func TestParallel_BitIdentical(t *testing.T) {
	t.Run("float32", testBitIdentical[float32])
	t.Run("float64", testBitIdentical[float64])
}

func testBitIdentical[T Float](t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one := workload[T](1)
	runtime.GOMAXPROCS(4)
	four := workload[T](1)
	for i := range one {
		for j := range one[i] {
			if math.Float64bits(float64(one[i][j])) != math.Float64bits(float64(four[i][j])) {
				t.Fatalf("output %d element %d: %v with 1 thread, %v with 4", i, j, one[i][j], four[i][j])
			}
		}
	}
}

// hotOps runs the ops that run once per layer per step: Gemm, attention, RMSNorm.
func hotOps(bk backend.Backend) func() {
	rnd := rand.New(rand.NewPCG(3, 3))
	rand := func(n int) *Tensor[float32] { return &Tensor[float32]{Data: randSlice[float32](rnd, n)} }
	m, n, k := 96, 400, 64
	c, a, b := rand(m*n), rand(m*k), rand(k*n)
	bt, heads, kvHeads, hd := 32, 4, 2, 8
	q, kk, v, out, lse := rand(bt*heads*hd), rand(bt*kvHeads*hd), rand(bt*kvHeads*hd), rand(bt*heads*hd), rand(heads*bt)
	dq, dk, dv := rand(bt*heads*hd), rand(bt*kvHeads*hd), rand(bt*kvHeads*hd)
	rows, width := 2000, 64
	x, w, norm, rstd, dx := rand(rows*width), rand(width), rand(rows*width), rand(rows), rand(rows*width)
	return func() {
		bk.Gemm(c, a, b, false, false, m, n, k, 1, 0)
		bk.Attention(out, lse, q, kk, v, nil, 1, bt, heads, kvHeads, hd, 0)
		bk.AttentionBackward(dq, dk, dv, out, out, lse, q, kk, v, nil, 1, bt, heads, kvHeads, hd, 0)
		bk.RMSNorm(norm, rstd, x, w, rows, width, 1e-5)
		bk.RMSNormBackward(dx, norm, x, w, rstd, rows, width)
	}
}

// TestHotOps_DoNotAllocate ensures that, once warm, the hot ops allocate nothing, on one thread
// (testing.AllocsPerRun) and on several.
func TestHotOps_DoNotAllocate(t *testing.T) {
	run := hotOps(New[float32]())
	if allocs := testing.AllocsPerRun(10, run); allocs != 0 {
		t.Errorf("%v allocations per run on 1 thread", allocs)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	run() // grow the scratch for 4 workers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		run()
	}
	runtime.ReadMemStats(&after)
	if allocs := after.Mallocs - before.Mallocs; allocs >= runs {
		t.Errorf("%d allocations in %d runs on 4 threads", allocs, runs)
	}
}

// panicky panics on item bad and counts the items it ran.
type panicky struct {
	bad  int
	seen []bool
}

func (k *panicky) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		if i == k.bad {
			panic("boom")
		}
		k.seen[i] = true
	}
}

// TestParallelFor_PanicReachesCaller ensures that a panic on a helper goroutine is raised on the
// caller's, after every worker has stopped, and that the pool works afterwards.
func TestParallelFor_PanicReachesCaller(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, bad := range []int{0, 37} {
		k := &panicky{bad: bad, seen: make([]bool, 64)}
		func() {
			defer func() {
				r := recover()
				kp, ok := r.(kernelPanic)
				if !ok || kp.value != "boom" {
					t.Fatalf("recovered %v, want the kernel's panic", r)
				}
			}()
			parallelFor(64, 1, 4, k)
		}()
	}
	k := &panicky{bad: -1, seen: make([]bool, 64)}
	parallelFor(64, 1, 4, k)
	for i, ok := range k.seen {
		if !ok {
			t.Fatalf("item %d not run after a panic", i)
		}
	}
}
