package cpu

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// chunkElems is about how many elements one goroutine takes at a time in the memory-bound ops.
const chunkElems = 1 << 14

// rowsGrain is the number of rows of c elements in a chunk of about chunkElems.
func rowsGrain(c int) int { return max(1, chunkElems/max(c, 1)) }

// Add computes out = a + b elementwise; out may alias a or b.
func (bk *cpuBackend[T]) Add(out, a, b backend.Tensor) {
	ad := data[T](a, "Add", "a", -1)
	bk.add = addKernel[T]{
		out: data[T](out, "Add", "out", len(ad)),
		a:   ad,
		b:   data[T](b, "Add", "b", len(ad)),
	}
	bk.launch(len(ad), chunkElems, &bk.add)
	bk.add = addKernel[T]{}
}

// AddBias adds bias (C) to every row of out (N,C).
func (bk *cpuBackend[T]) AddBias(out, bias backend.Tensor, n, c int) {
	checkSizes("AddBias", n, c)
	bk.add = addKernel[T]{
		out:  data[T](out, "AddBias", "out", n*c),
		b:    data[T](bias, "AddBias", "bias", c),
		bias: true,
		c:    c,
	}
	bk.launch(n, rowsGrain(c), &bk.add)
	bk.add = addKernel[T]{}
}

// addKernel is Add over elements, or AddBias over rows.
type addKernel[T Float] struct {
	out, a, b []T
	bias      bool // out (N,C) += b (C), items are rows
	c         int
}

func (k *addKernel[T]) run(_, lo, hi int) {
	if !k.bias {
		out, a, b := k.out[lo:hi], k.a[lo:hi], k.b[lo:hi]
		for i := range out {
			out[i] = a[i] + b[i]
		}
		return
	}
	for r := lo; r < hi; r++ {
		row := k.out[r*k.c : (r+1)*k.c]
		for j, x := range k.b[:len(row)] {
			row[j] += x
		}
	}
}

// Embedding copies row ids[i] of table (V,C) into row i of out (N,C), N = len(ids).
func (bk *cpuBackend[T]) Embedding(out, table backend.Tensor, ids []int32, c int) {
	checkSizes("Embedding", c)
	tab := data[T](table, "Embedding", "table", -1)
	if c == 0 || len(tab)%c != 0 {
		panic(fmt.Sprintf("cpu.Embedding: table of %d elements is not rows of %d", len(tab), c))
	}
	v := len(tab) / c
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu.Embedding: id %d at row %d outside vocabulary of %d", id, i, v))
		}
	}
	bk.embedding = embeddingKernel[T]{out: data[T](out, "Embedding", "out", len(ids)*c), table: tab, ids: ids, c: c}
	bk.launch(len(ids), rowsGrain(c), &bk.embedding)
	bk.embedding = embeddingKernel[T]{}
}

type embeddingKernel[T Float] struct {
	out, table []T // out (N,C), table (V,C)
	ids        []int32
	c          int
}

func (k *embeddingKernel[T]) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		id := int(k.ids[i])
		copy(k.out[i*k.c:(i+1)*k.c], k.table[id*k.c:(id+1)*k.c])
	}
}
