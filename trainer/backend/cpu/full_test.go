package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Gradient checks of the full-training ops, in float64 as in gradcheck_test.go: L = Σ r∘out of the
// forward op, the backward's gradient against central differences, added into random buffers.

func TestEmbedding_TableGradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 1))
	bk := New[float64]()
	v, c := 6, 5
	ids := []int32{4, 0, 4, 2, 4, 5} // a repeated id sums; rows 1 and 3 get nothing
	table, r := vec(normals(rnd, v*c)), normals(rnd, len(ids)*c)
	out := bk.New(len(ids) * c)
	loss := func() float64 {
		bk.Embedding(out, table, ids, c)
		return weighted(r, out.(*Tensor[float64]).Data)
	}
	dtable := gradAdded(rnd, v*c, func(g *Tensor[float64]) { bk.(*cpuBackend[float64]).EmbeddingBackward(g, vec(r), ids, c) })
	checkGrad(t, "table", table.Data, dtable, loss)
}

func TestRMSNorm_WeightGradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 2))
	bk := New[float64]()
	n, c, eps := 4, 9, 1e-5
	x, w, r := vec(normals(rnd, n*c)), vec(normals(rnd, c)), normals(rnd, n*c)
	out, rstd := bk.New(n*c), vec(make([]float64, n))
	loss := func() float64 {
		bk.RMSNorm(out, rstd, x, w, n, c, eps)
		return weighted(r, out.(*Tensor[float64]).Data)
	}
	loss()
	dw := gradAdded(rnd, c, func(g *Tensor[float64]) {
		bk.(*cpuBackend[float64]).RMSNormWeightBackward(g, vec(r), x, rstd, n, c)
	})
	checkGrad(t, "weight", w.Data, dw, loss)
}

func TestAddBias_Gradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 3))
	bk := New[float64]()
	n, c := 5, 7
	x, bias, r := normals(rnd, n*c), vec(normals(rnd, c)), normals(rnd, n*c)
	out := vec(make([]float64, n*c))
	loss := func() float64 {
		copy(out.Data, x)
		bk.AddBias(out, bias, n, c)
		return weighted(r, out.Data)
	}
	db := gradAdded(rnd, c, func(g *Tensor[float64]) { bk.(*cpuBackend[float64]).AddBiasBackward(g, vec(r), n, c) })
	checkGrad(t, "bias", bias.Data, db, loss)
}

// fullWorkload runs the full-training ops on sizes that split into many parts and returns their
// outputs.
func fullWorkload[T Float]() [][]T {
	rnd := rand.New(rand.NewPCG(11, 4))
	random := func(n int) *Tensor[T] {
		x := make([]T, n)
		for i := range x {
			x[i] = T(rnd.NormFloat64())
		}
		return &Tensor[T]{Data: x}
	}
	bk := New[T]().(*cpuBackend[T])
	v, c, n := 5000, 64, 3000 // 20 chunks of the vocabulary; ids repeat
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rnd.IntN(v / 10)) // crowd a few rows so that sums are long
		if i%3 == 0 {
			ids[i] = int32(rnd.IntN(v))
		}
	}
	dtable := random(v * c)
	bk.EmbeddingBackward(dtable, random(n*c), ids, c)
	rows, width := 2000, 512 // 32 chunks of channels
	x, dout, rstd := random(rows*width), random(rows*width), random(rows)
	dw, db := random(width), random(width)
	bk.RMSNormWeightBackward(dw, dout, x, rstd, rows, width)
	bk.AddBiasBackward(db, dout, rows, width)
	return [][]T{dtable.Data, dw.Data, db.Data}
}

// TestFullOps_BitIdentical ensures the full-training ops give the same bits on 1 and 4 threads:
// their sums over rows are never split across goroutines.
func TestFullOps_BitIdentical(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one := fullWorkload[float32]()
	runtime.GOMAXPROCS(4)
	four := fullWorkload[float32]()
	for i := range one {
		for j := range one[i] {
			if math.Float32bits(one[i][j]) != math.Float32bits(four[i][j]) {
				t.Fatalf("output %d element %d: %v with 1 thread, %v with 4", i, j, one[i][j], four[i][j])
			}
		}
	}
}

// TestEmbeddingBackward_RowOrder ensures a row that several tokens hit receives their gradients in
// the order of the tokens, exactly the sequential sum, whatever the bucketing.
func TestEmbeddingBackward_RowOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	bk := New[float32]().(*cpuBackend[float32])
	c, v := 3, 4000
	ids := []int32{3999, 7, 3999, 0, 7, 3999, 2000, 7}
	rnd := rand.New(rand.NewPCG(5, 5))
	dout := make([]float32, len(ids)*c)
	for i := range dout {
		dout[i] = float32(rnd.NormFloat64()) * float32(math.Pow(10, float64(i%5)))
	}
	want := make([]float32, v*c)
	for i, id := range ids {
		for j := 0; j < c; j++ {
			want[int(id)*c+j] += dout[i*c+j]
		}
	}
	got := &Tensor[float32]{Data: make([]float32, v*c)}
	bk.EmbeddingBackward(got, &Tensor[float32]{Data: dout}, ids, c)
	for i := range want {
		if got.Data[i] != want[i] {
			t.Fatalf("element %d: %v, the sequential sum is %v", i, got.Data[i], want[i])
		}
	}
}

// TestFullOps_DoNotAllocate ensures the full-training ops allocate nothing once warm.
func TestFullOps_DoNotAllocate(t *testing.T) {
	bk := New[float32]().(*cpuBackend[float32])
	ids := []int32{5, 1, 5, 900, 3}
	c, v, n := 16, 1000, len(ids)
	table, dout := &Tensor[float32]{Data: make([]float32, v*c)}, &Tensor[float32]{Data: make([]float32, n*c)}
	w, rstd := &Tensor[float32]{Data: make([]float32, c)}, &Tensor[float32]{Data: make([]float32, n)}
	run := func() {
		bk.EmbeddingBackward(table, dout, ids, c)
		bk.RMSNormWeightBackward(w, dout, dout, rstd, n, c)
		bk.AddBiasBackward(w, dout, n, c)
	}
	run()
	if allocs := testing.AllocsPerRun(10, run); allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}
