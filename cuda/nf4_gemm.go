//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"os"
)

// NF4 fused into the GEMM (kernels/nf4_gemm.cu), chosen by QLORA_CUDA_NF4_GEMM=fused when a
// Backend opens; by default Dequantize writes the bf16 weight and cuBLAS multiplies it.
//
// Fused, Dequantize writes nothing: it marks its output's allocation as holding the weight,
// pending. A Gemm whose b is exactly the latest pending weight of its allocation (same pointer and
// length) and whose a is bf16 decodes the weight tile by tile inside nf4_gemm instead of reading
// b; the weight stays pending. Every other use of that memory writes the pending weights first:
// each op takes its tensors through tensor(), which settles their allocation, so whatever reads or
// overwrites them (Download, Copy, Add, a Gemm taking the weight as a or c, any op on a view of
// it) sees what the unfused path would have written: the pending state is never observable. Only
// View, Dequantize's output and Gemm's b look without settling. The marks live with the memory,
// not the Backend, so that an op through any view or any Backend settles them, as in the CPU
// backend (trainer/backend/cpu/memory.go); and ops on other bytes (the LoRA products that follow
// the base GEMM, activations in the same allocation) leave them pending, so a training step never
// writes the weight.

// nf4GemmEnv names the environment variable that picks the path: "fused", or "dequantize" (the
// default, also when unset).
const nf4GemmEnv = "QLORA_CUDA_NF4_GEMM"

// fusedNF4FromEnv reads nf4GemmEnv.
func fusedNF4FromEnv() (bool, error) {
	switch v := os.Getenv(nf4GemmEnv); v {
	case "", "dequantize":
		return false, nil
	case "fused":
		return true, nil
	default:
		return false, fmt.Errorf("cuda: %s=%q: want fused or dequantize", nf4GemmEnv, v)
	}
}

// pendingNF4 is an NF4 weight that Dequantize was asked to write at out and has not yet.
type pendingNF4 struct {
	w   *quantized
	out Tensor // pointer, length and type; mem is nil (the allocation holds the mark)
	dev *device
}

// maxPending bounds the weights pending in one allocation; past it the oldest is written. A
// model's scratch weight holds at most three, each smaller one over the start of the one before
// (Llama's down_proj, then the next layer's q_proj, then k_proj); a larger one replaces them.
const maxPending = 4

// deferDequantize marks out as holding w. Pending weights that out covers whole are forgotten
// (nothing could read them any more); the others stay, older first, so that settling writes
// them in the order Dequantize was called.
func (d *device) deferDequantize(out *Tensor, w *quantized) {
	a := out.mem
	kept := a.pending[:0]
	for _, p := range a.pending {
		if !covers(out, &p.out) {
			kept = append(kept, p)
		}
	}
	a.pending = append(kept, pendingNF4{w: w, out: Tensor{ptr: out.ptr, n: out.n, dt: out.dt}, dev: d})
	if len(a.pending) > maxPending {
		oldest := a.pending[0]
		d.do(func() { d.dequantize(&oldest.out, oldest.w) })
		a.pending = append(a.pending[:0], a.pending[1:]...)
	}
}

// covers reports whether t's bytes include all of u's.
func covers(t, u *Tensor) bool { return t.ptr <= u.ptr && u.end() <= t.end() }

// overlaps reports whether t and u share a byte.
func overlaps(t, u *Tensor) bool { return t.ptr < u.end() && u.ptr < t.end() }

// end is the address past t's last byte.
func (t *Tensor) end() devicePtr { return t.ptr + devicePtr(int64(t.n)*t.dt.size()) }

// settle writes the weights pending in t's bytes: the newest one t overlaps and every older one
// in its allocation, oldest first, so that each lands in the order Dequantize was called (newer
// ones, written later, still overwrite them). A model's scratch weight may share its allocation
// with activations; those leave it pending.
func settle(t *Tensor) {
	if t.mem == nil {
		return
	}
	ps, n := t.mem.pending, 0
	for i := range ps {
		if overlaps(t, &ps[i].out) {
			n = i + 1
		}
	}
	if n == 0 {
		return
	}
	ps[0].dev.do(func() {
		for _, p := range ps[:n] {
			p.dev.dequantize(&p.out, p.w)
		}
	})
	t.mem.pending = append(ps[:0], ps[n:]...)
}

// pendingWeight returns the weight t holds when it is exactly its allocation's latest pending
// weight, else nil.
func pendingWeight(t *Tensor) *quantized {
	if t.mem == nil || len(t.mem.pending) == 0 {
		return nil
	}
	p := t.mem.pending[len(t.mem.pending)-1]
	if p.out.ptr != t.ptr || p.out.n != t.n {
		return nil
	}
	return p.w
}

// Launch shape of nf4_gemm (kernels/nf4_gemm.cu BM, BN, THREADS).
const (
	nf4GemmTile    = 128
	nf4GemmThreads = 256
)

// gemmNF4 launches nf4_gemm: c (m,n) = alpha·a·op(w) + beta·c, a bf16, op(w) the flat weight as
// b: (n,k) row-major transposed when transB, else (k,n).
func (bk *Backend) gemmNF4(c, a *Tensor, w *quantized, transB bool, m, n, k int, alpha, beta float64) {
	tiles := func(x int) uint32 { return uint32((x + nf4GemmTile - 1) / nf4GemmTile) }
	grid, block := [3]uint32{tiles(n), tiles(m), 1}, [3]uint32{nf4GemmThreads, 1, 1}
	if m > 65535*nf4GemmTile || max(n, k) > math.MaxInt32 {
		panic(fmt.Sprintf("cuda.Gemm: %d×%d·%d is past nf4_gemm's grid or its 32-bit sizes", m, k, n))
	}
	args := argv(c, a.ptr, w.packed, devPtr(w.absmax), devPtr(w.codes), devPtr(w.nested), devPtr(w.mapOffset),
		w.blocksize, m, n, k, transB, alpha, beta)
	bk.dev.do(func() { bk.dev.drv.launch(kNF4Gemm, grid, block, args) })
}
