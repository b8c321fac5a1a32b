package cpu

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// Optimizer ops over the flat parameter and gradient arenas: the squared norm for clipping, Scale,
// AdamW as torch.optim.AdamW computes it, and bitsandbytes' blockwise 8-bit AdamW.
//
// Every product that feeds an addition is converted to T explicitly, which keeps the Go compiler
// from fusing it into a multiply-add (it does with GOAMD64=v3): the results are those of the
// separate roundings torch and bitsandbytes' kernels are written with, on any build.
//
// SumSquares is the one op here that splits a sum: into chunks of chunkElems elements that depend
// on the length alone, each summed by one goroutine, the partial sums then added in chunk order on
// the caller's goroutine. So its result, too, is the same for any number of threads.

// Block8bit is the number of elements that share one absmax in the 8-bit optimizer states
// (bitsandbytes' BLOCKSIZE_2STATE).
const Block8bit = 256

// blocks8bitGrain is the number of 256-element blocks one goroutine takes at a time.
const blocks8bitGrain = chunkElems / Block8bit

// Bytes is a CPU byte buffer: 8-bit optimizer states.
type Bytes struct {
	Data []byte
}

// Len is the number of bytes.
func (b *Bytes) Len() int { return len(b.Data) }

// optimScratch holds the optimizer ops' argument structs and SumSquares' partial sums.
type optimScratch[T Float] struct {
	partials   []float64 // one per chunk of SumSquares
	sumSquares sumSquaresKernel[T]
	scale      scaleKernel[T]
	adamW      adamWKernel[T]
	adamW8bit  adamW8bitKernel[T]
}

// byteData returns the slice of b, checking that b is a CPU buffer of want bytes (any number when
// want < 0).
func byteData(b backend.Bytes, op, arg string, want int) []byte {
	cb, ok := b.(*Bytes)
	if !ok {
		panic(fmt.Sprintf("cpu.%s: %s is %T, want *cpu.Bytes", op, arg, b))
	}
	if want >= 0 && len(cb.Data) != want {
		panic(fmt.Sprintf("cpu.%s: %s has %d bytes, want %d", op, arg, len(cb.Data), want))
	}
	return cb.Data
}

// NewBytes returns n zeroed bytes.
func (bk *cpuBackend[T]) NewBytes(n int) backend.Bytes {
	checkSizes("NewBytes", n)
	bk.allocated += int64(n)
	return &Bytes{Data: make([]byte, n)}
}

// UploadBytes copies src into dst.
func (bk *cpuBackend[T]) UploadBytes(dst backend.Bytes, src []byte) {
	copy(byteData(dst, "UploadBytes", "dst", len(src)), src)
}

// DownloadBytes copies src into dst.
func (bk *cpuBackend[T]) DownloadBytes(dst []byte, src backend.Bytes) {
	copy(dst, byteData(src, "DownloadBytes", "src", len(dst)))
}

// SumSquares returns Σ t², each element squared and added in float64.
func (bk *cpuBackend[T]) SumSquares(t backend.Tensor) float64 {
	x := data[T](t, "SumSquares", "t", -1)
	chunks := (len(x) + chunkElems - 1) / chunkElems
	if len(bk.optim.partials) < chunks {
		bk.optim.partials = make([]float64, chunks)
	}
	bk.optim.sumSquares = sumSquaresKernel[T]{x: x, partials: bk.optim.partials[:chunks]}
	bk.launch(len(x), chunkElems, &bk.optim.sumSquares)
	bk.optim.sumSquares = sumSquaresKernel[T]{}
	var sum float64
	for _, s := range bk.optim.partials[:chunks] {
		sum += s
	}
	return sum
}

type sumSquaresKernel[T Float] struct {
	x        []T
	partials []float64 // partials[c] is the sum over chunk c
}

// run sums one chunk with four accumulators (for speed; the split is fixed, so still
// deterministic).
func (k *sumSquaresKernel[T]) run(_, lo, hi int) {
	x := k.x[lo:hi]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += float64(a * a)
		s1 += float64(b * b)
		s2 += float64(c * c)
		s3 += float64(d * d)
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += float64(a * a)
	}
	k.partials[lo/chunkElems] = (s0 + s1) + (s2 + s3)
}

// Scale multiplies t by alpha (rounded to T) in place.
func (bk *cpuBackend[T]) Scale(t backend.Tensor, alpha float64) {
	x := data[T](t, "Scale", "t", -1)
	bk.optim.scale = scaleKernel[T]{x: x, alpha: T(alpha)}
	bk.launch(len(x), chunkElems, &bk.optim.scale)
	bk.optim.scale = scaleKernel[T]{}
}

type scaleKernel[T Float] struct {
	x     []T
	alpha T
}

func (k *scaleKernel[T]) run(_, lo, hi int) {
	x := k.x[lo:hi]
	for i := range x {
		x[i] *= k.alpha
	}
}

// checkStep panics unless h counts updates from 1.
func checkStep(op string, h backend.AdamW) {
	if h.Step < 1 {
		panic(fmt.Sprintf("cpu.%s: step %d, want ≥ 1 (updates count from 1)", op, h.Step))
	}
}

// AdamWStep is torch.optim.AdamW's single-tensor update (amsgrad off) with torch 1.13's
// roundings: the scalars (1 − lr·wd, the bias corrections, lr/(1−β1^t), sqrt(1−β2^t)) in float64
// and rounded to T once, every elementwise operation in T, in torch's order:
//
//	p = p·(1 − lr·wd)                      param.mul_
//	m = m·β1 + (1−β1)·g                    exp_avg.mul_(β1).add_(g, alpha=1−β1)
//	v = v·β2 + ((1−β2)·g)·g                exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2)
//	p = p + (−lr/(1−β1^t))·m / (sqrt(v)/sqrt(1−β2^t) + eps)     param.addcdiv_
//
// Torch 2 writes the first moment as exp_avg.lerp_(g, 1−β1), m + (1−β1)·(g − m): the same in
// exact arithmetic, at times an ulp apart. A non-finite gradient is not skipped (the parameter
// becomes NaN, as in torch).
func (bk *cpuBackend[T]) AdamWStep(params, grads, m, v backend.Tensor, h backend.AdamW) {
	const op = "AdamWStep"
	checkStep(op, h)
	p := data[T](params, op, "params", -1)
	step := float64(h.Step)
	bk.optim.adamW = adamWKernel[T]{
		p:       p,
		g:       data[T](grads, op, "grads", len(p)),
		m:       data[T](m, op, "m", len(p)),
		v:       data[T](v, op, "v", len(p)),
		decay:   T(1 - float64(h.LR*h.WeightDecay)),
		decays:  h.WeightDecay != 0, // multiplying by 1 changes nothing
		b1:      T(h.Beta1),
		omb1:    T(1 - h.Beta1),
		b2:      T(h.Beta2),
		omb2:    T(1 - h.Beta2),
		negStep: T(-(h.LR / (1 - math.Pow(h.Beta1, step)))),
		bc2Sqrt: T(math.Sqrt(1 - math.Pow(h.Beta2, step))),
		eps:     T(h.Eps),
	}
	bk.launch(len(p), chunkElems, &bk.optim.adamW)
	bk.optim.adamW = adamWKernel[T]{}
}

type adamWKernel[T Float] struct {
	p, g, m, v                              []T
	decay, b1, omb1, b2, omb2, negStep, eps T
	bc2Sqrt                                 T
	decays                                  bool
}

func (k *adamWKernel[T]) run(_, lo, hi int) {
	p := k.p[lo:hi]
	g, m, v := k.g[lo:hi][:len(p)], k.m[lo:hi][:len(p)], k.v[lo:hi][:len(p)]
	for i, gi := range g {
		pi := p[i]
		if k.decays {
			pi *= k.decay
		}
		mi := T(m[i]*k.b1) + T(k.omb1*gi)
		vi := T(v[i]*k.b2) + T(T(k.omb2*gi)*gi)
		denom := T(math.Sqrt(float64(vi)))/k.bc2Sqrt + k.eps
		p[i] = pi + T(k.negStep*mi)/denom
		m[i], v[i] = mi, vi
	}
}

// dynamicMaps are bitsandbytes' two 8-bit codes as T: the signed one for the first moment, the
// unsigned one for the second; in float32, with tables that stand in for quantize_2D's search.
type dynamicMaps[T Float] struct {
	signed, unsigned           [256]T
	signedTable, unsignedTable *codeTable // float32 only
}

func newDynamicMaps[T Float]() *dynamicMaps[T] {
	var d dynamicMaps[T]
	s, u := nf4.DynamicMap(), nf4.DynamicMapUnsigned()
	for i := range d.signed {
		d.signed[i], d.unsigned[i] = T(s[i]), T(u[i])
		if (i < 127) != math.Signbit(float64(s[i])) || math.Signbit(float64(u[i])) {
			panic("cpu: dynamic maps not signed below 127 and unsigned") // AdamW8bitStep relies on it
		}
	}
	if _, ok := any(d.signed[0]).(float32); ok {
		d.signedTable, d.unsignedTable = newCodeTable(&s), newCodeTable(&u)
	}
	return &d
}

var (
	dynamicMaps32 = newDynamicMaps[float32]()
	dynamicMaps64 = newDynamicMaps[float64]()
)

// mapsFor returns the maps in T.
func mapsFor[T Float]() *dynamicMaps[T] {
	if d, ok := any(dynamicMaps32).(*dynamicMaps[T]); ok {
		return d
	}
	return any(dynamicMaps64).(*dynamicMaps[T])
}

// quantize returns quantize_2D(code, x), by table in float32.
func quantize[T Float](code *[256]T, table *codeTable, x T) uint8 {
	if table != nil {
		return table.index(float32(x))
	}
	return quantize2D(code, x)
}

// AdamW8bitStep is bitsandbytes' kOptimizerStatic8bit2StateBlockwise for Adam (the kernel behind
// bnb.optim.AdamW8bit), with T in place of its float32 arithmetic and exact division, pow and sqrt
// in place of __fdividef and __powf. For each block of 256 elements:
//
//   - for each element whose gradient is finite: s2 = qmap2[c2]·absmax2, s2 = s2·β2 + ((1−β2)·g)·g;
//     s1 = qmap1[c1]·absmax1, s1 = s1·β1 + (1−β1)·g; otherwise s1 = s2 = 0 (the parameter is left
//     alone, and its states restart from zero);
//   - absmax1, absmax2 = the largest |s1|, |s2| of the block; a partial last block also counts the
//     kernel's padding, which loads gradient 0 and codes 128 and 0: |qmap1[128]·absmax1·β1|;
//   - for each element with a finite gradient: p = p + step·(s1/(sqrt(s2) + corr2·eps)) with
//     corr1 = 1−β1^t, corr2 = sqrt(1−β2^t), step = −lr·corr2/corr1; then, when wd > 0,
//     p = p·(1 − lr·wd);
//   - c1 = quantize_2D(qmap1, s1/absmax1), moved one code towards s1 when the code's sign differs
//     from s1's (a small negative s1 never becomes +0); c2 = quantize_2D(qmap2, s2/absmax2).
//
// The hyperparameters are float32, as the kernel's arguments are, whatever T: β1, β2, eps, lr and
// wd are rounded to float32 first (so 1−β2 is 1−0.99900001 at the default), then corr1, corr2,
// step, corr2·eps and 1 − lr·wd are computed and rounded in T. The float64
// backend thus computes bitsandbytes' update in float64, not a float64 AdamW with other β.
func (bk *cpuBackend[T]) AdamW8bitStep(params, grads backend.Tensor, c1, c2 backend.Bytes, absmax1, absmax2 backend.Tensor, h backend.AdamW) {
	const op = "AdamW8bitStep"
	checkStep(op, h)
	p := data[T](params, op, "params", -1)
	blocks := (len(p) + Block8bit - 1) / Block8bit
	b1, b2, lr := T(float32(h.Beta1)), T(float32(h.Beta2)), T(float32(h.LR))
	step := float64(h.Step)
	corr1 := 1 - T(math.Pow(float64(b1), step))
	corr2 := T(math.Sqrt(float64(1 - T(math.Pow(float64(b2), step)))))
	wd := T(float32(h.WeightDecay))
	bk.optim.adamW8bit = adamW8bitKernel[T]{
		p:        p,
		g:        data[T](grads, op, "grads", len(p)),
		c1:       byteData(c1, op, "c1", len(p)),
		c2:       byteData(c2, op, "c2", len(p)),
		absmax1:  data[T](absmax1, op, "absmax1", blocks),
		absmax2:  data[T](absmax2, op, "absmax2", blocks),
		maps:     mapsFor[T](),
		b1:       b1,
		omb1:     1 - b1,
		b2:       b2,
		omb2:     1 - b2,
		stepSize: -lr * corr2 / corr1,
		corr2Eps: corr2 * T(float32(h.Eps)),
		decay:    1 - T(lr*wd),
		decays:   wd > 0,
	}
	bk.launch(blocks, blocks8bitGrain, &bk.optim.adamW8bit)
	bk.optim.adamW8bit = adamW8bitKernel[T]{}
}

type adamW8bitKernel[T Float] struct {
	p, g               []T
	c1, c2             []byte
	absmax1, absmax2   []T // one per block
	maps               *dynamicMaps[T]
	b1, omb1, b2, omb2 T
	stepSize, corr2Eps T
	decay              T
	decays             bool
}

// run updates blocks [lo, hi).
func (k *adamW8bitKernel[T]) run(_, lo, hi int) {
	var s1s, s2s [Block8bit]T // the block's new states, before quantization
	q1, q2 := &k.maps.signed, &k.maps.unsigned
	for blk := lo; blk < hi; blk++ {
		start := blk * Block8bit
		end := min(start+Block8bit, len(k.p))
		g := k.g[start:end]
		c1, c2 := k.c1[start:end][:len(g)], k.c2[start:end][:len(g)]
		s1, s2 := s1s[:len(g)], s2s[:len(g)]
		a1, a2 := k.absmax1[blk], k.absmax2[blk]

		// The kernel's absmax is fmaxf over fabsf(s), from −FLT_MAX: NaN states are passed over.
		// Tracking the largest and smallest s is the same (−0 made +0 at the end) and cheaper.
		var r1, r2 stateRange[T]
		r1.reset()
		r2.reset()
		for j, gj := range g {
			var m, v T
			if gj-gj == 0 { // finite
				v = q2[c2[j]] * a2
				v = T(v*k.b2) + T(T(k.omb2*gj)*gj)
				m = q1[c1[j]] * a1
				m = T(m*k.b1) + T(k.omb1*gj)
			}
			s1[j], s2[j] = m, v
			r1.add(m)
			r2.add(v)
		}
		if len(g) < Block8bit {
			r1.add(T(T(q1[128]*a1)*k.b1) + T(k.omb1*0))
			r2.add(T(T(q2[0]*a2)*k.b2) + T(T(k.omb2*0)*0))
		}
		max1, max2 := r1.absmax(), r2.absmax()
		k.absmax1[blk], k.absmax2[blk] = max1, max2

		p := k.p[start:end][:len(g)]
		for j, gj := range g {
			m, v := s1[j], s2[j]
			if gj-gj == 0 {
				pj := p[j] + T(k.stepSize*(m/(T(math.Sqrt(float64(v)))+k.corr2Eps)))
				if k.decays {
					pj *= k.decay
				}
				p[j] = pj
			}
			code := quantize(q1, k.maps.signedTable, m/max1)
			if (code < 127) != math.Signbit(float64(m)) { // codes below 127 are the negative ones
				if m > 0 {
					code++
				} else {
					code--
				}
			}
			c1[j] = code
			c2[j] = quantize(q2, k.maps.unsignedTable, v/max2)
		}
	}
}

// quantize2D is bitsandbytes' quantize_2D: a seven-step binary search over the sorted code from
// entry 127 (up when x > entry, else down), ending on an even entry p, then rounding to a
// neighbour at the midpoint computed in T: above code[p], to p+1 when x > (code[p]+code[p+1])/2;
// at or below it, to p−1 when x < (code[p−1]+code[p])/2. Ties go to the even entry; NaN (a block
// whose states are all zero: 0/0) ends at code 0. The kernel's bounds lower/upper are always the
// neighbours p±1 here, except that a search that never went up ends at 0 either way.
func quantize2D[T Float](code *[256]T, x T) uint8 {
	p := 127
	for i := 64; i > 0; i >>= 1 {
		p += (2*b2i(x > code[p&255]) - 1) * i
	}
	p &= 255
	val := code[p]
	if x > val {
		return uint8(p + b2i(x > (code[(p+1)&255]+val)*0.5))
	}
	if p == 0 {
		return 0
	}
	return uint8(p - b2i(x < (code[(p-1)&255]+val)*0.5))
}

// b2i compiles to a SETcc.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stateRange is the largest and smallest of a block's states, NaN left out.
type stateRange[T Float] struct{ hi, lo T }

func (r *stateRange[T]) reset() { r.hi, r.lo = -math.MaxFloat32, math.MaxFloat32 }

func (r *stateRange[T]) add(x T) {
	if x > r.hi {
		r.hi = x
	}
	if x < r.lo {
		r.lo = x
	}
}

// absmax is fmaxf(−FLT_MAX, fabsf(x)...) over the states added: max(hi, −lo), +0 for −0.
func (r *stateRange[T]) absmax() T {
	if -r.lo > r.hi {
		return -r.lo + 0
	}
	return r.hi + 0
}

// codeTable gives quantize_2D's result for a float32 by lookup. quantize_2D's code for x is the
// number of midpoints t_k = (code[k]+code[k+1])/2 (float32) that x passes, where x passes t_k
// when x > t_k for even k and x ≥ t_k for odd k (ties go to the even entry). Mapping floats to
// order-preserving integer keys turns both into key(x) > K_k, with K_k = key(t_k) for even k
// and key(t_k) − 1 for odd k. Entry r covers the keys r<<16 .. r<<16 | 0xFFFF: the number of
// K_k below the range in the high bits, and the low 16 bits of the one K_k inside it (0xFFFF if
// none: no key exceeds it). The midpoints are far enough apart that no range holds two; the
// builder checks. Only keys of −1 ≤ x ≤ 1 get entries (x = s/absmax never leaves that
// interval); others are clamped to the end entries, which give 0 and 255 as the search does.
type codeTable [tableHi - tableLo + 1]uint32

const (
	tableLo = 0x407F // sortKey(-1) >> 16
	tableHi = 0xBF80 // sortKey(1) >> 16
)

func newCodeTable(code *[256]float32) *codeTable {
	var t codeTable
	for r := range t {
		t[r] = 0xFFFF
	}
	var inside [len(t)]bool
	for k := range 255 {
		mid := (code[k] + code[k+1]) * 0.5
		key := sortKey(mid) - uint32(k&1) // odd k: x ≥ mid is key(x) > key(mid) − 1
		r := int(key>>16) - tableLo
		if r < 0 || r >= len(t) {
			panic("cpu: dynamic map midpoint outside [-1, 1]")
		}
		if inside[r] {
			panic("cpu: two dynamic map midpoints in one table range")
		}
		inside[r] = true
		t[r] = key & 0xFFFF
	}
	below := uint32(0)
	for r := range t {
		t[r] |= below << 16
		if inside[r] {
			below++
		}
	}
	return &t
}

// index is quantize_2D(code, x): 0 for NaN, as the search's comparisons all fail.
func (t *codeTable) index(x float32) uint8 {
	if x != x {
		return 0
	}
	k := sortKey(x)
	r := min(max(int(k>>16), tableLo), tableHi) - tableLo
	e := t[r]
	return uint8(e>>16) + uint8(b2i(k&0xFFFF > e&0xFFFF))
}

// sortKey maps float32 to uint32 preserving order (−0 sorts just below +0): negative values have
// all bits flipped, the others only the sign bit.
func sortKey(x float32) uint32 {
	b := math.Float32bits(x)
	return b ^ (uint32(int32(b)>>31) | 1<<31)
}
