package cpu

import "github.com/qlora-studio/qlora-studio/trainer/backend"

// Gemm's blocking. c is cut into tiles of gemmMC×gemmNC, each computed by one goroutine from start
// to end; inside a tile, k is walked in blocks of gemmKC (the packed blocks of a and b stay in L2)
// and the tile in micro-tiles of gemmMR×gemmNR whose sums live in registers. The partial sums of a
// tile are kept between k blocks and reloaded by the next one, so each element of c is still one
// sequential sum over k, in order, whatever the blocking or the number of threads.
// MC and NC are multiples of MR and NR, and microKernel is written for MR = NR = 3.
const (
	gemmMR = 3
	gemmNR = 3
	gemmMC = 48
	gemmNC = 192
	gemmKC = 256

	// gemmScratch is a worker's scratch: packed a (MC×KC), packed b (KC×NC), partial sums (MC×NC).
	gemmScratch = gemmMC*gemmKC + gemmKC*gemmNC + gemmMC*gemmNC
)

// Gemm computes c (M,Nc) = alpha·op(a)·op(b) + beta·c with op(a) (M,K) and op(b) (K,Nc); a is stored
// (K,M) when transA, b is stored (Nc,K) when transB. With beta == 0, c is not read. c must not
// overlap a or b. Each element is alpha·s + beta·c with s summed from zero in order of k.
func (bk *cpuBackend[T]) Gemm(c, a, b backend.Tensor, transA, transB bool, m, n, k int, alpha, beta float64) {
	checkSizes("Gemm", m, n, k)
	g := gemmKernel[T]{
		c:      data[T](c, "Gemm", "c", m*n),
		a:      data[T](a, "Gemm", "a", m*k),
		b:      data[T](b, "Gemm", "b", k*n),
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: T(alpha), beta: T(beta),
		tilesN: ceilDiv(n, gemmNC),
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		g.scaleC()
		return
	}
	tiles := ceilDiv(m, gemmMC) * g.tilesN
	workers := workersFor(tiles, 1)
	g.scratch = bk.workspace(workers, gemmScratch)
	bk.gemm = g
	parallelFor(tiles, 1, workers, &bk.gemm)
	bk.gemm = gemmKernel[T]{}
}

type gemmKernel[T Float] struct {
	c, a, b        []T // c (M,Nc); a (M,K) or (K,M); b (K,Nc) or (Nc,K)
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	tilesN         int   // tiles across n
	scratch        [][]T // per worker, gemmScratch each
}

// run computes tiles [lo, hi) of c, numbered row-major.
func (g *gemmKernel[T]) run(w, lo, hi int) {
	for t := lo; t < hi; t++ {
		g.tile(g.scratch[w], t/g.tilesN*gemmMC, t%g.tilesN*gemmNC)
	}
}

// tile computes c[i0:i0+mc, j0:j0+nc].
func (g *gemmKernel[T]) tile(buf []T, i0, j0 int) {
	mc, nc := min(gemmMC, g.m-i0), min(gemmNC, g.n-j0)
	mp, np := roundUp(mc, gemmMR), roundUp(nc, gemmNR) // padded with zero rows and columns
	pa := buf[:mp*gemmKC]
	pb := buf[gemmMC*gemmKC:][:np*gemmKC]
	acc := buf[gemmMC*gemmKC+gemmKC*gemmNC:][:mp*np]
	for p0 := 0; p0 < g.k; p0 += gemmKC {
		kc := min(gemmKC, g.k-p0)
		g.packA(pa, i0, mc, p0, kc)
		g.packB(pb, j0, nc, p0, kc)
		for jr := 0; jr < np; jr += gemmNR {
			for ir := 0; ir < mp; ir += gemmMR {
				sums := acc[ir*np+jr*gemmMR:][:gemmMR*gemmNR] // micro-tile (ir, jr)
				microKernel(sums, pa[ir*kc:(ir+gemmMR)*kc], pb[jr*kc:(jr+gemmNR)*kc], p0 == 0)
			}
		}
	}
	g.store(acc, i0, j0, mc, nc, np)
}

// packA copies op(a)[i0:i0+mc, p0:p0+kc] into dst as panels of gemmMR rows, k-major inside a panel:
// dst[ir·kc + p·MR + r] = op(a)[i0+ir+r, p0+p] for ir a multiple of MR; rows past mc are zero.
func (g *gemmKernel[T]) packA(dst []T, i0, mc, p0, kc int) {
	for ir := 0; ir < mc; ir += gemmMR {
		panel := dst[ir*kc : (ir+gemmMR)*kc]
		rows := min(gemmMR, mc-ir)
		if rows < gemmMR {
			clear(panel)
		}
		for r := range rows {
			i := i0 + ir + r
			if g.transA { // op(a)[i,p] = a[p·M + i]
				for p := range kc {
					panel[p*gemmMR+r] = g.a[(p0+p)*g.m+i]
				}
				continue
			}
			for p, x := range g.a[i*g.k+p0 : i*g.k+p0+kc] { // op(a)[i,p] = a[i·K + p]
				panel[p*gemmMR+r] = x
			}
		}
	}
}

// packB copies op(b)[p0:p0+kc, j0:j0+nc] into dst as panels of gemmNR columns, k-major inside a
// panel: dst[jr·kc + p·NR + c] = op(b)[p0+p, j0+jr+c] for jr a multiple of NR; columns past nc are
// zero.
func (g *gemmKernel[T]) packB(dst []T, j0, nc, p0, kc int) {
	for jr := 0; jr < nc; jr += gemmNR {
		panel := dst[jr*kc : (jr+gemmNR)*kc]
		cols := min(gemmNR, nc-jr)
		if cols < gemmNR {
			clear(panel)
		}
		for c := range cols {
			j := j0 + jr + c
			if g.transB { // op(b)[p,j] = b[j·K + p]
				for p, x := range g.b[j*g.k+p0 : j*g.k+p0+kc] {
					panel[p*gemmNR+c] = x
				}
				continue
			}
			for p := range kc { // op(b)[p,j] = b[p·Nc + j]
				panel[p*gemmNR+c] = g.b[(p0+p)*g.n+j]
			}
		}
	}
}

// store writes c = alpha·sum + beta·c for the tile from its micro-tile sums; with beta == 0 it
// does not read c.
func (g *gemmKernel[T]) store(acc []T, i0, j0, mc, nc, np int) {
	for i := range mc {
		row := g.c[(i0+i)*g.n+j0:][:nc]
		ir, r := i/gemmMR*gemmMR, i%gemmMR
		for j := range row {
			jr, cc := j/gemmNR*gemmNR, j%gemmNR
			s := g.alpha * acc[ir*np+jr*gemmMR+r*gemmNR+cc]
			if g.beta != 0 {
				s += g.beta * row[j]
			}
			row[j] = s
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

// microKernel adds the product of a packed panel of a (kc×MR) and one of b (kc×NR) to the sums of
// a micro-tile (MR×NR, row-major), starting from zero when first: each sum is accumulated in order
// of p. 3×3 keeps the nine sums and six operands in registers (amd64 has 15 free for floats).
func microKernel[T Float](sums, a, b []T, first bool) {
	sums = sums[:gemmMR*gemmNR]
	var c00, c01, c02, c10, c11, c12, c20, c21, c22 T
	if !first {
		c00, c01, c02 = sums[0], sums[1], sums[2]
		c10, c11, c12 = sums[3], sums[4], sums[5]
		c20, c21, c22 = sums[6], sums[7], sums[8]
	}
	for i := 0; i+2 < len(a) && i+2 < len(b); i += 3 {
		b0, b1, b2 := b[i], b[i+1], b[i+2]
		a0 := a[i]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		a1 := a[i+1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		a2 := a[i+2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
	}
	sums[0], sums[1], sums[2] = c00, c01, c02
	sums[3], sums[4], sums[5] = c10, c11, c12
	sums[6], sums[7], sums[8] = c20, c21, c22
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
