//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Gemm computes c (M,Nc) = alpha·op(a)·op(b) + beta·c, row-major, through cublasGemmEx with fp32
// accumulation. Operands of one storage type go to cuBLAS as they are (bf16·bf16 into a bf16 or
// fp32 c, or fp32 throughout); an fp32 operand beside a bf16 one is cast to a bf16 copy first, as
// PyTorch's autocast would (the model casts its LoRA matrices a layer at a time beforehand, so
// training takes this path rarely). With beta 0, c is not read. K == 0 scales c by beta.
//
// With QLORA_CUDA_NF4_GEMM=fused, a b that Dequantize left pending goes to nf4_gemm instead
// (nf4_gemm.go).
//
// Row-major c = op(a)·op(b) is column-major cᵀ = op(b)ᵀ·op(a)ᵀ, so cuBLAS gets b first: a
// row-major (r,s) matrix is a column-major (s,r) one with leading dimension s.
func (bk *Backend) Gemm(c, a, b backend.Tensor, transA, transB bool, m, n, k int, alpha, beta float64) {
	const op = "Gemm"
	checkSizes(op, m, n, k)
	ct, at, bt := tensor(c, op, "c", m*n), tensor(a, op, "a", m*k), lookup(b, op, "b", k*n)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		bk.scaleC(ct, beta)
		return
	}
	if w := pendingWeight(bt); w != nil && at.dt == dtBF16 && !transA {
		bk.gemmNF4(ct, at, w, transB, m, n, k, alpha, beta)
		return
	}
	settle(bt)
	// A bf16 GEMM: fp32 operands get bf16 copies, cast right before it.
	var casts [][2]*Tensor // (bf16 copy, fp32 operand)
	if at.dt != dtF32 || bt.dt != dtF32 || ct.dt != dtF32 {
		if at.dt == dtF32 {
			cp := bk.bf16Copy(op, 0, at)
			casts, at = append(casts, [2]*Tensor{cp, at}), cp
		}
		if bt.dt == dtF32 {
			cp := bk.bf16Copy(op, 1, bt)
			casts, bt = append(casts, [2]*Tensor{cp, bt}), cp
		}
	}
	call := rowMajorGemm(ct, at, bt, transA, transB, m, n, k, alpha, beta)
	bk.dev.do(func() {
		for _, cs := range casts {
			bk.dev.drv.launch(kCast, grid1D(cs[1].n), block1D, argv(cs[0], cs[1], cs[1].n))
		}
		bk.dev.drv.gemm(call)
	})
}

// rowMajorGemm is the cuBLAS call for row-major c = alpha·op(a)·op(b) + beta·c.
func rowMajorGemm(c, a, b *Tensor, transA, transB bool, m, n, k int, alpha, beta float64) *gemmCall {
	lda, ldb := k, n // a (m,k) or, transposed, (k,m); b (k,n) or (n,k)
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	return &gemmCall{
		transA: transB, transB: transA, m: n, n: m, k: k,
		alpha: float32(alpha), beta: float32(beta),
		a: b.ptr, aType: b.dt.cudaType(), lda: ldb,
		b: a.ptr, bType: a.dt.cudaType(), ldb: lda,
		c: c.ptr, cType: c.dt.cudaType(), ldc: n,
	}
}

// scaleC is Gemm with K == 0: c = beta·c, c not read when beta is 0.
func (bk *Backend) scaleC(c *Tensor, beta float64) {
	bk.dev.do(func() {
		if beta == 0 {
			bk.dev.drv.zero(c.ptr, int64(c.n)*c.dt.size())
			return
		}
		bk.dev.drv.launch(kScale, grid1D(c.n), block1D, argv(c, beta, c.n))
	})
}

// Add computes out = a + b elementwise; out may be a or b.
func (bk *Backend) Add(out, a, b backend.Tensor) {
	at := tensor(a, "Add", "a", -1)
	ot, bt := tensor(out, "Add", "out", at.n), tensor(b, "Add", "b", at.n)
	if at.n == 0 {
		return
	}
	bk.dev.do(func() { bk.dev.drv.launch(kAdd, grid1D(at.n), block1D, argv(ot, at, bt, at.n)) })
}

// AddBias adds bias (C) to every row of out (N,C).
func (bk *Backend) AddBias(out, bias backend.Tensor, n, c int) {
	checkSizes("AddBias", n, c)
	ot, bt := tensor(out, "AddBias", "out", n*c), tensor(bias, "AddBias", "bias", c)
	if n*c == 0 {
		return
	}
	bk.dev.do(func() { bk.dev.drv.launch(kAddBias, grid1D(n*c), block1D, argv(ot, bt, n, c)) })
}

// Embedding copies row ids[i] of table (V,C) into row i of out (N,C).
func (bk *Backend) Embedding(out, table backend.Tensor, ids []int32, c int) {
	const op = "Embedding"
	checkSizes(op, c)
	tab := tensor(table, op, "table", -1)
	if c == 0 || tab.n%c != 0 {
		panic(fmt.Sprintf("cuda.Embedding: table of %d elements is not rows of %d", tab.n, c))
	}
	v := tab.n / c
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cuda.Embedding: id %d at row %d outside vocabulary of %d", id, i, v))
		}
	}
	ot := tensor(out, op, "out", len(ids)*c)
	if len(ids) == 0 {
		return
	}
	idPtr, upload := bk.ints(op, slotTokens, ids)
	bk.dev.do(func() {
		upload()
		bk.dev.drv.launch(kEmbedding, grid1D(len(ids)*c), block1D, argv(ot, tab, idPtr, len(ids), c))
	})
}
