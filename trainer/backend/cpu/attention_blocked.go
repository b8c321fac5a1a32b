package cpu

import "math"

// Blocked attention: the products of attention as micro-kernel calls (gemm.go), for sequences of
// at least attBlock tokens (shorter ones take the row-by-row code in attention.go).
//
// Queries go in blocks of attBlock rows. For a block ending at row iLast, the scores against the
// keys [jlo, iLast] (jlo the block's first visible key, rounded down to a panel of gemmNR) are one
// micro-kernel call per panel of gemmNR keys, from kᵀ packed once per item; the softmax of each
// row is taken over the keys it may see, the others get probability exactly 0; and the output is
// P·v, v read in place. The last block moves up to end at row T-1 and keeps only its new rows.
// The backward pass recomputes P the same way and gets dP = dout·vᵀ, dS = P∘(dP − dout·out)/√HD,
// then dq += dS·k, dk += dSᵀ·q, dv += Pᵀ·dout, adding each block's share in order of blocks.

const attBlock = gemmMR

// attPanels is the number of panels of gemmNR keys in a sequence of t tokens.
func attPanels(t int) int { return ceilDiv(t, gemmNR) }

// forwardScratch is what one worker needs for forward: kᵀ packed, and the block's scores.
func forwardScratch(t, headDim int) int {
	return attPanels(t)*gemmNR*headDim + attBlock*attPanels(t)*gemmNR
}

// backwardScratch adds vᵀ packed and the block's dS.
func backwardScratch(t, headDim int) int {
	return 2*attPanels(t)*gemmNR*headDim + 2*attBlock*attPanels(t)*gemmNR
}

// block is one block of query rows: rows i0..i0+attBlock-1, of which those in mask are new, and
// the keys [jlo, jhi] the scores are taken over (jlo set by starts).
type block struct {
	i0       int
	mask     uint32
	jlo, jhi int
}

func (a *attentionArgs[T]) block(i0 int) block {
	bl := block{i0: i0, mask: 1<<attBlock - 1}
	if i0+attBlock > a.t {
		bl.i0 = a.t - attBlock
		bl.mask &^= 1<<(attBlock-(a.t-i0)) - 1
	}
	bl.jhi = bl.i0 + attBlock - 1
	return bl
}

// packKeys packs the kv head g of sequence b transposed, as panels of gemmNR keys (HD×NR each).
func (a *attentionArgs[T]) packKeys(dst, x []T, b, g int) {
	hd, kvw := a.headDim, a.heads/a.group*a.headDim
	for jp := range attPanels(a.t) {
		j0 := jp * gemmNR
		src := x[(b*a.t+j0)*kvw+g*hd:]
		packTrans(a.isa, dst[jp*gemmNR*hd:], src, kvw, hd, min(gemmNR, a.t-j0))
	}
}

// scores writes s (attBlock × ld) = x_h[rows of bl] · keysᵀ[jlo..jhi] · alpha, x (N, heads·HD).
func (a *attentionArgs[T]) scores(s, x, keysT []T, heads int, b, h int, bl block, ld int, alpha T) {
	hd := a.headDim
	xa := x[((b*a.t+bl.i0)*heads+h)*hd:]
	for jp := bl.jlo / gemmNR; jp <= bl.jhi/gemmNR; jp++ {
		j0 := jp * gemmNR
		microTile(a.isa, hd, xa, heads*hd, 1, keysT[jp*gemmNR*hd:], gemmNR, s[j0-bl.jlo:], ld,
			1<<attBlock-1, min(gemmNR, a.t-j0), alpha, 0)
	}
}

// runs reports whether the packed samples of the sequence at base are contiguous runs (ids never
// decrease), so that the keys a row sees are one range: from its sample's start, or its window's.
// Otherwise the keys of other samples inside the range are hidden one by one (hideSegments).
func (a *attentionArgs[T]) runs(base int) bool {
	if a.segments == nil {
		return true
	}
	seg := a.segments[base : base+a.t]
	for i := 1; i < len(seg); i++ {
		if seg[i] < seg[i-1] {
			return false
		}
	}
	return true
}

// starts writes the first key each row of the block sees (window and, with runs, sample), and
// raises the block's jlo to the panel of the first of them.
func (a *attentionArgs[T]) starts(dst *[attBlock]int, bl *block, base int, runs bool) {
	run := 0
	if runs && a.segments != nil {
		seg := a.segments[base : base+a.t]
		run = bl.i0
		for run > 0 && seg[run-1] == seg[bl.i0] {
			run--
		}
		for r := range attBlock {
			if i := bl.i0 + r; r > 0 && seg[i] != seg[i-1] {
				run = i
			}
			dst[r] = max(a.first(bl.i0+r), run)
		}
	} else {
		for r := range attBlock {
			dst[r] = a.first(bl.i0 + r)
		}
	}
	bl.jlo = dst[0] / gemmNR * gemmNR
}

// hideSegments sets to -Inf the scores of row i (from jlo) in [lo, hi] whose key is in another
// packed sample.
func (a *attentionArgs[T]) hideSegments(row []T, base, i, jlo, lo, hi int) {
	if a.segments == nil {
		return
	}
	for j := lo; j <= hi; j++ {
		if a.hidden(base, i, jlo+j) {
			row[j] = T(math.Inf(-1))
		}
	}
}

// forwardBlocked computes head h of sequence b (the forward of attention.go, blocked).
func (a *attentionKernel[T]) forwardBlocked(buf []T, b, h int) {
	hd, g, kvw, qw := a.headDim, h/a.group, a.heads/a.group*a.headDim, a.heads*a.headDim
	ld := attPanels(a.t) * gemmNR
	keysT, s := buf[:ld*hd], buf[ld*hd:][:attBlock*ld]
	a.packKeys(keysT, a.k, b, g)
	base := b * a.t
	runs := a.runs(base)
	var sums [attBlock]T
	var starts [attBlock]int
	for i0 := 0; i0 < a.t; i0 += attBlock {
		bl := a.block(i0)
		a.starts(&starts, &bl, base, runs)
		a.scores(s, a.q, keysT, a.heads, b, h, bl, ld, a.scale)
		width := bl.jhi - bl.jlo + 1
		for r := range attBlock {
			if bl.mask>>r&1 == 0 {
				continue
			}
			i := bl.i0 + r
			row := s[r*ld : r*ld+width]
			lo, hi := starts[r]-bl.jlo, i-bl.jlo
			if !runs {
				a.hideSegments(row, base, i, bl.jlo, lo, hi)
			}
			mx := maxOf(row[lo : hi+1])
			sums[r] = expSum(row[lo:hi+1], row[lo:hi+1], mx)
			clear(row[:lo])
			clear(row[hi+1:])
			a.lse[(b*a.heads+h)*a.t+i] = mx + T(math.Log(float64(sums[r])))
		}
		out := a.out[(base+bl.i0)*qw+h*hd:]
		v := a.v[(base+bl.jlo)*kvw+g*hd:]
		for d := 0; d < hd; d += gemmNR {
			microTile(a.isa, width, s, ld, 1, v[d:], kvw, out[d:], qw, bl.mask, min(gemmNR, hd-d), 1, 0)
		}
		for r := range attBlock {
			if bl.mask>>r&1 != 0 {
				row := out[r*qw : r*qw+hd]
				for d := range row {
					row[d] /= sums[r]
				}
			}
		}
	}
}

// backwardBlocked computes the gradients of kv head g of sequence b and of its query heads (the
// backward of attention.go, blocked).
func (a *attentionBackwardKernel[T]) backwardBlocked(buf []T, b, g int) {
	hd, kvw, qw := a.headDim, a.heads/a.group*a.headDim, a.heads*a.headDim
	ld := attPanels(a.t) * gemmNR
	keysT, valuesT := buf[:ld*hd], buf[ld*hd:2*ld*hd]
	p, ds := buf[2*ld*hd:][:attBlock*ld], buf[2*ld*hd+attBlock*ld:][:attBlock*ld]
	a.packKeys(keysT, a.k, b, g)
	a.packKeys(valuesT, a.v, b, g)
	base := b * a.t
	runs := a.runs(base)
	var starts [attBlock]int
	for h := g * a.group; h < (g+1)*a.group; h++ {
		for i0 := 0; i0 < a.t; i0 += attBlock {
			bl := a.block(i0)
			a.starts(&starts, &bl, base, runs)
			width := bl.jhi - bl.jlo + 1
			a.scores(p, a.q, keysT, a.heads, b, h, bl, ld, a.scale)
			a.scores(ds, a.dout, valuesT, a.heads, b, h, bl, ld, 1) // dP = dout·vᵀ
			for r := range attBlock {
				prow, dsrow := p[r*ld:r*ld+width], ds[r*ld:r*ld+width]
				if bl.mask>>r&1 == 0 { // a row of the previous block: it adds nothing again
					clear(prow)
					clear(dsrow)
					continue
				}
				i := bl.i0 + r
				lo, hi := starts[r]-bl.jlo, i-bl.jlo
				if !runs {
					a.hideSegments(prow, base, i, bl.jlo, lo, hi)
				}
				lse := a.lse[(b*a.heads+h)*a.t+i]
				expSum(prow[lo:hi+1], prow[lo:hi+1], lse)
				clear(prow[:lo])
				clear(prow[hi+1:])
				rowDot := dot(a.head(a.dout, base+i, h, a.heads), a.head(a.out, base+i, h, a.heads))
				for j, pj := range prow {
					dsrow[j] = pj * (dsrow[j] - rowDot) * a.scale
				}
			}
			q, dout := a.q[(base+bl.i0)*qw+h*hd:], a.dout[(base+bl.i0)*qw+h*hd:]
			dq := a.dq[(base+bl.i0)*qw+h*hd:]
			k := a.k[(base+bl.jlo)*kvw+g*hd:]
			for d := 0; d < hd; d += gemmNR {
				cols := min(gemmNR, hd-d)
				microTile(a.isa, width, ds, ld, 1, k[d:], kvw, dq[d:], qw, bl.mask, cols, 1, 1) // dq += dS·k
			}
			// dk[j] += Σ_i dS[i,j]·q_i and dv[j] += Σ_i P[i,j]·dout_i over the block's rows, a
			// micro-tile of attBlock keys at a time (the last one moved up to end at jhi).
			for j0 := 0; j0 < width; j0 += gemmMR {
				jr, mask := j0, uint32(1<<gemmMR-1)
				if j0+gemmMR > width {
					jr = width - gemmMR
					mask &^= 1<<(gemmMR-(width-j0)) - 1
				}
				dk := a.dk[(base+bl.jlo+jr)*kvw+g*hd:]
				dv := a.dv[(base+bl.jlo+jr)*kvw+g*hd:]
				for d := 0; d < hd; d += gemmNR {
					cols := min(gemmNR, hd-d)
					microTile(a.isa, attBlock, ds[jr:], 1, ld, q[d:], qw, dk[d:], kvw, mask, cols, 1, 1)
					microTile(a.isa, attBlock, p[jr:], 1, ld, dout[d:], qw, dv[d:], kvw, mask, cols, 1, 1)
				}
			}
		}
	}
}
