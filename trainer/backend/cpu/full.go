package cpu

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The ops of backend.FullTrainer: the gradients of the embeddings, the norms' weights and the
// biases, which full-parameter training needs and LoRA does not. Each is a sum over rows into a
// small output, so none splits over rows (two goroutines would add into the same output): they
// split over the outputs (vocabulary rows, channels) and walk the rows in order inside each part,
// which makes every sum the same bits for any number of threads.

var _ backend.FullTrainer = (*cpuBackend[float32])(nil)

// fullScratch holds the argument structs of the full-training ops and the embedding backward's
// bucketing of token rows by vocabulary chunk.
type fullScratch[T Float] struct {
	embedding embeddingBackwardKernel[T]
	colSum    columnSumKernel[T]
	order     []int32 // rows of dout, grouped by the vocabulary chunk of their id, in row order
	starts    []int32 // chunk k's rows are order[starts[k]:starts[k+1]]
}

// EmbeddingBackward adds row i of dout (N,C) into row ids[i] of dtable (V,C), N = len(ids). The
// vocabulary is cut into chunks of table rows; a counting sort groups the token rows by chunk,
// keeping their order, and each chunk adds its rows in that order.
func (bk *cpuBackend[T]) EmbeddingBackward(dtable, dout backend.Tensor, ids []int32, c int) {
	checkSizes("EmbeddingBackward", c)
	tab := data[T](dtable, "EmbeddingBackward", "dtable", -1)
	if c == 0 || len(tab)%c != 0 {
		panic(fmt.Sprintf("cpu.EmbeddingBackward: dtable of %d elements is not rows of %d", len(tab), c))
	}
	v := len(tab) / c
	d := data[T](dout, "EmbeddingBackward", "dout", len(ids)*c)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu.EmbeddingBackward: id %d at row %d outside vocabulary of %d", id, i, v))
		}
	}
	grain := rowsGrain(c)
	s := &bk.full
	s.bucket(ids, grain, (v+grain-1)/grain)
	s.embedding = embeddingBackwardKernel[T]{dtable: tab, dout: d, ids: ids, order: s.order, starts: s.starts, c: c, grain: grain}
	bk.launch(v, grain, &s.embedding)
	s.embedding = embeddingBackwardKernel[T]{}
}

// bucket fills order and starts: the rows of ids grouped by chunk (id / grain) of the vocabulary,
// each group in row order.
func (s *fullScratch[T]) bucket(ids []int32, grain, chunks int) {
	if cap(s.order) < len(ids) {
		s.order = make([]int32, len(ids))
	}
	if cap(s.starts) < chunks+1 {
		s.starts = make([]int32, chunks+1)
	}
	s.order, s.starts = s.order[:len(ids)], s.starts[:chunks+1]
	clear(s.starts)
	for _, id := range ids {
		s.starts[int(id)/grain+1]++
	}
	for k := 1; k <= chunks; k++ {
		s.starts[k] += s.starts[k-1]
	}
	next := s.starts[:chunks] // the next free slot of each chunk, advanced below
	for i, id := range ids {
		k := int(id) / grain
		s.order[next[k]] = int32(i)
		next[k]++
	}
	// next aliases starts: each entry now holds its chunk's end, the start of the one after.
	copy(s.starts[1:], s.starts[:chunks])
	s.starts[0] = 0
}

type embeddingBackwardKernel[T Float] struct {
	dtable, dout  []T     // (V,C), (N,C)
	ids           []int32 // (N)
	order, starts []int32
	c, grain      int
}

// run adds the rows of dout whose ids fall in the table rows [lo, hi), one chunk of the vocabulary.
func (k *embeddingBackwardKernel[T]) run(_, lo, hi int) {
	chunk := lo / k.grain
	for _, i := range k.order[k.starts[chunk]:k.starts[chunk+1]] {
		id := int(k.ids[i])
		dst := k.dtable[id*k.c : (id+1)*k.c]
		for j, g := range k.dout[int(i)*k.c : (int(i)+1)*k.c][:len(dst)] {
			dst[j] += g
		}
	}
}

// RMSNormWeightBackward adds Σ_rows dout∘x·rstd to dweight (C): out_j = x_j·rstd·w_j, so
// ∂out_j/∂w_j = x_j·rstd.
func (bk *cpuBackend[T]) RMSNormWeightBackward(dweight, dout, x, rstd backend.Tensor, n, c int) {
	checkSizes("RMSNormWeightBackward", n, c)
	bk.columnSum(columnSumKernel[T]{
		dst:  data[T](dweight, "RMSNormWeightBackward", "dweight", c),
		dout: data[T](dout, "RMSNormWeightBackward", "dout", n*c),
		x:    data[T](x, "RMSNormWeightBackward", "x", n*c),
		rstd: data[T](rstd, "RMSNormWeightBackward", "rstd", n),
		n:    n, c: c,
	})
}

// AddBiasBackward adds the sum of dout's rows (N,C) to dbias (C).
func (bk *cpuBackend[T]) AddBiasBackward(dbias, dout backend.Tensor, n, c int) {
	checkSizes("AddBiasBackward", n, c)
	bk.columnSum(columnSumKernel[T]{
		dst:  data[T](dbias, "AddBiasBackward", "dbias", c),
		dout: data[T](dout, "AddBiasBackward", "dout", n*c),
		n:    n, c: c,
	})
}

// columnSum runs k over the channels, in chunks of at least 16 (a cache line of float32) sized so
// that a chunk reads about chunkElems elements.
func (bk *cpuBackend[T]) columnSum(k columnSumKernel[T]) {
	bk.full.colSum = k
	grain := max(16, chunkElems/max(k.n, 1))
	bk.launch(k.c, grain, &bk.full.colSum)
	bk.full.colSum = columnSumKernel[T]{}
}

// columnSumKernel adds to dst (C) the sum over rows of dout (N,C), each row weighted elementwise
// by x (N,C) and by rstd (N) when they are set.
type columnSumKernel[T Float] struct {
	dst, dout, x, rstd []T
	n, c               int
}

// run sums the channels [lo, hi) over all rows, in row order.
func (k *columnSumKernel[T]) run(_, lo, hi int) {
	dst := k.dst[lo:hi]
	for i := 0; i < k.n; i++ {
		row := k.dout[i*k.c+lo : i*k.c+hi][:len(dst)]
		if k.x == nil {
			for j, g := range row {
				dst[j] += g
			}
			continue
		}
		x, r := k.x[i*k.c+lo : i*k.c+hi][:len(dst)], k.rstd[i]
		for j, g := range row {
			dst[j] += g * (x[j] * r)
		}
	}
}
