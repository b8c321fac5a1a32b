package cpu

import (
	"runtime"
	"unsafe"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// Gemm's blocking, BLIS style. c is cut into micro-tiles of gemmMR×gemmNR, each computed by the
// micro-kernel with its sums in registers; k is walked in parts of gemmKC (so that the part of a
// panel of b stays in L1 while the micro-tiles below it use it), the sums of a micro-tile kept
// as they are between parts; the last part writes alpha·sum + beta·c. Every element of c is
// therefore one chain of fused multiply-adds over k, in order of k, from zero:
//
//	s = 0;  for p in 0..k-1: s = fma(op(a)[i,p], op(b)[p,j], s);  c[i,j] = alpha·s (+ beta·c[i,j])
//
// whatever the tiling or the number of threads. The AVX-512 and AVX2 assembly compute exactly this,
// and so does the Go kernel under exactGo (fma32), which the tests hold the assembly to; the Go
// kernel other CPUs run by default rounds as plain Go multiply-adds do.
//
// The micro-kernel reads op(a) where it lies, through a row and a column stride, and op(b) as rows
// of gemmNR floats: straight from b when b is stored (K,Nc) as floats, otherwise from a panel
// packed per gemmNR columns: b stored transposed, or an NF4 weight decoded on the fly (gemm_nf4.go).
// The micro-tiles are grouped into tiles, about four per worker: bands of whole column panels when
// there are enough of them (so that each panel of b is packed once), else bands of rows too.
const (
	gemmMR = 12
	gemmNR = 32
	gemmKC = 256 // k is cut in parts of this many

	// gemmSerialFlops is the size below which waking a second core costs more than it saves.
	gemmSerialFlops = 1 << 18
)

// Gemm computes c (M,Nc) = alpha·op(a)·op(b) + beta·c with op(a) (M,K) and op(b) (K,Nc); a is stored
// (K,M) when transA, b is stored (Nc,K) when transB. With beta == 0, c is not read. c must not
// overlap a or b. b may be a weight that Dequantize left pending: it is then decoded while packed.
func (bk *cpuBackend[T]) Gemm(c, a, b backend.Tensor, transA, transB bool, m, n, k int, alpha, beta float64) {
	checkSizes("Gemm", m, n, k)
	g := gemmKernel[T]{
		c:      data[T](c, "Gemm", "c", m*n),
		a:      data[T](a, "Gemm", "a", m*k),
		transB: transB,
		m:      m, n: n, k: k,
		alpha: T(alpha), beta: T(beta),
		ars: k, aps: 1,
	}
	bt := tensor[T](b, "Gemm", "b")
	if g.q = pendingWeight(bt); g.q == nil {
		g.b = data[T](b, "Gemm", "b", k*n)
	} else if len(bt.Data) != k*n {
		data[T](b, "Gemm", "b", k*n) // panics with the sizes
	}
	if transA {
		g.ars, g.aps = 1, m
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		g.scaleC()
		return
	}
	g.isa = isaFor[T]()
	g.panelsM, g.panelsN = ceilDiv(m, gemmMR), ceilDiv(n, gemmNR)
	workers := runtime.GOMAXPROCS(0)
	if 2*m*n*k < gemmSerialFlops {
		workers = 1
	}
	g.rowTiles, g.colTiles = 1, 1
	if workers > 1 {
		// About four tiles per worker, so that a worker that starts late (woken late, or its core
		// busy with another process) still takes its share: bands of at least two column panels
		// when there are enough, else bands of rows as well (b is then packed once per band).
		target := 4 * workers
		g.colTiles = min(target, max(1, g.panelsN/2))
		if g.colTiles < 2*workers {
			g.rowTiles = min(g.panelsM, ceilDiv(target, g.colTiles))
		}
	}
	tiles := g.rowTiles * g.colTiles
	workers = min(workers, tiles)
	g.scratch = bk.workspace(workers, k*(gemmNR+gemmMR)+g.panelsM*gemmMR*gemmNR)
	if g.q != nil {
		g.decoded = bk.workspace32(workers, k*gemmNR+2*k) // decoded rows, then the scales of their groups
	}
	bk.gemm = g
	parallelFor(tiles, 1, workers, &bk.gemm)
	bk.gemm = gemmKernel[T]{}
}

type gemmKernel[T Float] struct {
	c, a, b     []T            // c (M,Nc); a (M,K) or (K,M); b (K,Nc) or (Nc,K), nil when q is set
	q           *nf4.Quantized // b as a pending NF4 weight (flat, K·Nc elements)
	transB      bool
	m, n, k     int
	alpha, beta T
	ars, aps    int // op(a)[i,p] = a[i·ars + p·aps]
	isa         isa

	panelsM, panelsN   int // micro-tiles down and across
	rowTiles, colTiles int
	scratch            [][]T       // per worker: a packed panel of b (K×NR), a padded panel of a (MR×K), sums (M×NR)
	decoded            [][]float32 // per worker, with q: up to NR decoded rows of the weight (NR×K), scales (2K)
}

// run computes tiles [lo, hi) of c, numbered row-major.
func (g *gemmKernel[T]) run(w, lo, hi int) {
	for t := lo; t < hi; t++ {
		g.tile(w, t/g.colTiles, t%g.colTiles)
	}
}

// tile computes the micro-tiles of row band rt and column band ct, a column panel at a time.
func (g *gemmKernel[T]) tile(w, rt, ct int) {
	ip0, ip1 := rt*g.panelsM/g.rowTiles, (rt+1)*g.panelsM/g.rowTiles
	jp0, jp1 := ct*g.panelsN/g.colTiles, (ct+1)*g.panelsN/g.colTiles
	buf := g.scratch[w]
	panel, pad, sums := buf[:g.k*gemmNR], buf[g.k*gemmNR:][:g.k*gemmMR], buf[g.k*(gemmNR+gemmMR):]
	a, ars, aps := g.a, g.ars, g.aps
	if g.m < gemmMR { // fewer rows than a micro-tile: copy them into a zero-padded panel
		g.padA(pad)
		a, ars, aps = pad, g.k, 1
	}
	for jp := jp0; jp < jp1; jp++ {
		j0 := jp * gemmNR
		cols := min(gemmNR, g.n-j0)
		b, bs := panel, gemmNR
		switch {
		case g.q != nil:
			g.packNF4(panel, g.decoded[w], j0, cols)
		case g.transB:
			packTrans(g.isa, panel, g.b[j0*g.k:], g.k, g.k, cols)
		default:
			b, bs = g.b[j0:], g.n
		}
		// k in parts of gemmKC, so that the part of the panel of b stays in L1 across the
		// micro-tiles; the sums are kept in sums between parts, as they are.
		for p0 := 0; p0 < g.k; p0 += gemmKC {
			kc := min(gemmKC, g.k-p0)
			flags := 0
			if p0 > 0 {
				flags |= accLoad
			}
			if p0+kc < g.k {
				flags |= accSave
			}
			for ip := ip0; ip < ip1; ip++ {
				i0, rowMask := ip*gemmMR, uint32(1<<gemmMR-1)
				if rows := g.m - i0; rows < gemmMR {
					if g.m >= gemmMR { // the last micro-tile moves up and stores only its new rows
						i0 = g.m - gemmMR
						rowMask &^= 1<<(gemmMR-rows) - 1
					} else {
						i0, rowMask = 0, 1<<rows-1
					}
				}
				ai := i0 * ars
				if g.m < gemmMR {
					ai = 0
				}
				microTileAcc(g.isa, kc, a[ai+p0*aps:], ars, aps, b[p0*bs:], bs, g.c[i0*g.n+j0:], g.n, rowMask, cols,
					g.alpha, g.beta, sums[(ip-ip0)*gemmMR*gemmNR:], flags)
			}
		}
	}
}

// microTile is the micro-kernel: for the rows r < MR set in rowMask and the columns j < cols ≤ NR,
//
//	c[r·ldc + j] = alpha·s (+ beta·c[r·ldc + j] when beta != 0),
//	s = fma chain over p < kc of a[r·ars + p·aps]·b[p·bs + j], from zero.
//
// All MR rows of a must be readable. is selects the kernel (isaFor).
func microTile[T Float](is isa, kc int, a []T, ars, aps int, b []T, bs int, c []T, ldc int, rowMask uint32, cols int, alpha, beta T) {
	microTileAcc(is, kc, a, ars, aps, b, bs, c, ldc, rowMask, cols, alpha, beta, nil, 0)
}

// The flags of microTileAcc, for a chain over k cut in parts: accLoad continues the sums kept in
// acc (MR×NR), accSave keeps them there instead of writing c.
const (
	accLoad = 1
	accSave = 2
)

// microTileAcc is microTile over one part of k.
func microTileAcc[T Float](is isa, kc int, a []T, ars, aps int, b []T, bs int, c []T, ldc int, rowMask uint32, cols int, alpha, beta T, acc []T, flags int) {
	if flags != 0 {
		acc = acc[:gemmMR*gemmNR]
	}
	if is == isaGo {
		microKernel(kc, a, ars, aps, b, bs, c, ldc, rowMask, cols, alpha, beta, acc, flags)
		return
	}
	const size = 4
	var accp *float32
	if acc != nil {
		accp = (*float32)(unsafe.Pointer(&acc[0]))
	}
	a32, b32, c32 := (*float32)(unsafe.Pointer(&a[0])), (*float32)(unsafe.Pointer(&b[0])), (*float32)(unsafe.Pointer(&c[0]))
	colMask := uint32(1<<cols - 1)
	alpha32, beta32 := *(*float32)(unsafe.Pointer(&alpha)), *(*float32)(unsafe.Pointer(&beta))
	if is == isaAVX2 {
		sgemm12x32AVX2(kc, a32, uintptr(ars*size), uintptr(aps*size), b32, uintptr(bs*size), c32, uintptr(ldc*size),
			rowMask, colMask, alpha32, beta32, accp, flags)
		return
	}
	sgemm12x32AVX512(kc, a32, uintptr(ars*size), uintptr(aps*size), b32, uintptr(bs*size), c32, uintptr(ldc*size),
		rowMask, colMask, alpha32, beta32, accp, flags)
}

// isa is the set of assembly kernels a Gemm or an attention runs.
type isa uint8

const (
	isaGo     isa = iota // none: the Go kernels (float64, or a CPU without AVX2 and FMA)
	isaAVX2              // the AVX2 micro-kernel, packTrans8AVX2 and nf4DecodeGroupsAVX2
	isaAVX512            // the AVX-512 micro-kernel, packTransAVX512 and nf4DecodeGroupsAVX512
)

// isaFor returns the kernels T's Gemm and attention run on this CPU: assembly for float32 only.
func isaFor[T Float]() isa {
	var zero T
	switch {
	case unsafe.Sizeof(zero) != 4:
		return isaGo
	case useAVX512:
		return isaAVX512
	case useAVX2:
		return isaAVX2
	}
	return isaGo
}

// packTrans writes panel[p·NR + j] = src[j·srs + p] for p < kc and j < cols, zero for the other
// columns: NR columns of a matrix stored transposed, packed as rows of NR.
func packTrans[T Float](is isa, panel, src []T, srs, kc, cols int) {
	panel = panel[:kc*gemmNR]
	if is == isaAVX512 && uint64(srs)*4*gemmNR < 1<<31 {
		packTransAVX512((*float32)(unsafe.Pointer(&panel[0])), (*float32)(unsafe.Pointer(&src[0])), uintptr(srs*4), kc, uint32(1<<cols-1))
		return
	}
	if cols < gemmNR {
		clear(panel)
	}
	whole, done := 0, 0 // columns [0, whole) are packed in rows [0, done)
	if is == isaAVX2 {
		whole, done = cols/8*8, kc/8*8
		for j := 0; j < whole && done > 0; j += 8 {
			packTrans8AVX2((*float32)(unsafe.Pointer(&panel[j])), (*float32)(unsafe.Pointer(&src[j*srs])), uintptr(srs*4), kc/8)
		}
	}
	for j := range cols {
		p0 := 0
		if j < whole {
			p0 = done
		}
		for p, x := range src[j*srs+p0 : j*srs+kc] {
			panel[(p0+p)*gemmNR+j] = x
		}
	}
}

// padA copies op(a) (M < MR rows) into pad as MR rows of K, the missing rows zero.
func (g *gemmKernel[T]) padA(pad []T) {
	pad = pad[:gemmMR*g.k]
	clear(pad)
	for i := range g.m {
		for p := range g.k {
			pad[i*g.k+p] = g.a[i*g.ars+p*g.aps]
		}
	}
}

// scaleC is Gemm with k == 0: c = beta·c, without reading c when beta == 0.
func (g *gemmKernel[T]) scaleC() {
	for i := range g.c {
		if g.beta == 0 {
			g.c[i] = 0
		} else {
			g.c[i] *= g.beta
		}
	}
}

// workspace32 returns float32 scratch slots for workers goroutines, each at least size elements.
func (bk *cpuBackend[T]) workspace32(workers, size int) [][]float32 {
	for len(bk.scratch32) < workers {
		bk.scratch32 = append(bk.scratch32, nil)
	}
	for w := range workers {
		if len(bk.scratch32[w]) < size {
			bk.scratch32[w] = make([]float32, size)
		}
	}
	return bk.scratch32[:workers]
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
