//go:build cuda || cudaemu

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The optimizer ops over the flat parameter and gradient arenas. The scalars are computed on the
// host exactly as the CPU backend computes them in float32 (trainer/backend/cpu/optim.go) and
// passed as doubles holding those float32 values; the kernels round every operation separately.

// SumSquares returns Σ t² in float64: the GPU sums fixed chunks of 16384 elements (the CPU's
// chunks) in double, and the host adds the partial sums in order.
func (bk *Backend) SumSquares(t backend.Tensor) float64 {
	x := tensor(t, "SumSquares", "t", -1)
	if x.n == 0 {
		return 0
	}
	chunks := (x.n + sumChunk - 1) / sumChunk
	partials := bk.partialSums(chunks)
	raw := make([]byte, 8*chunks)
	bk.dev.do(func() {
		bk.dev.drv.launch(kSumSquares, [3]uint32{uint32(chunks), 1, 1}, block1D, argv(partials, x, x.n))
		bk.dev.drv.download(raw, partials.ptr)
	})
	var sum float64
	for c := range chunks {
		sum += math.Float64frombits(binary.LittleEndian.Uint64(raw[8*c:]))
	}
	return sum
}

// Scale multiplies t by alpha (rounded to float32) in place.
func (bk *Backend) Scale(t backend.Tensor, alpha float64) {
	x := tensor(t, "Scale", "t", -1)
	if x.n == 0 {
		return
	}
	bk.dev.do(func() { bk.dev.drv.launch(kScale, grid1D(x.n), block1D, argv(x, alpha, x.n)) })
}

func checkStep(op string, h backend.AdamW) {
	if h.Step < 1 {
		panic(fmt.Sprintf("cuda.%s: step %d, want ≥ 1 (updates count from 1)", op, h.Step))
	}
}

// AdamWStep is torch.optim.AdamW's update with torch's roundings, as the CPU backend computes it.
func (bk *Backend) AdamWStep(params, grads, m, v backend.Tensor, h backend.AdamW) {
	const op = "AdamWStep"
	checkStep(op, h)
	p := tensor(params, op, "params", -1)
	g, mt, vt := tensor(grads, op, "grads", p.n), tensor(m, op, "m", p.n), tensor(v, op, "v", p.n)
	if p.n == 0 {
		return
	}
	f := func(x float64) float64 { return float64(float32(x)) }
	step := float64(h.Step)
	args := argv(p, g, mt, vt,
		f(1-float64(h.LR*h.WeightDecay)), h.WeightDecay != 0,
		f(h.Beta1), f(1-h.Beta1), f(h.Beta2), f(1-h.Beta2),
		f(-(h.LR / (1 - math.Pow(h.Beta1, step)))), f(math.Sqrt(1-math.Pow(h.Beta2, step))), f(h.Eps),
		p.n)
	bk.dev.do(func() { bk.dev.drv.launch(kAdamW, grid1D(p.n), block1D, args) })
}

// AdamW8bitStep is bitsandbytes' blockwise 8-bit AdamW (kOptimizerStatic8bit2StateBlockwise), one
// block of 256 threads per block of 256 elements.
func (bk *Backend) AdamW8bitStep(params, grads backend.Tensor, c1, c2 backend.Bytes, absmax1, absmax2 backend.Tensor, h backend.AdamW) {
	const op = "AdamW8bitStep"
	checkStep(op, h)
	p := tensor(params, op, "params", -1)
	blocks := (p.n + block8bit - 1) / block8bit
	g := tensor(grads, op, "grads", p.n)
	b1c, b2c := byteBuffer(c1, op, "c1", p.n), byteBuffer(c2, op, "c2", p.n)
	a1, a2 := tensor(absmax1, op, "absmax1", blocks), tensor(absmax2, op, "absmax2", blocks)
	if p.n == 0 {
		return
	}
	// The CPU's float32 arithmetic on the float32-rounded hyperparameters (bitsandbytes' kernel
	// arguments are float32).
	b1, b2, lr := float32(h.Beta1), float32(h.Beta2), float32(h.LR)
	step := float64(h.Step)
	corr1 := 1 - float32(math.Pow(float64(b1), step))
	corr2 := float32(math.Sqrt(float64(1 - float32(math.Pow(float64(b2), step)))))
	wd := float32(h.WeightDecay)
	stepSize := -lr * corr2 / corr1
	args := argv(p, g, b1c, b2c, a1, a2, bk.dev.maps8bit,
		float64(b1), float64(1-b1), float64(b2), float64(1-b2),
		float64(stepSize), float64(corr2*float32(h.Eps)), float64(1-float32(lr*wd)), wd > 0, p.n)
	bk.dev.do(func() {
		bk.dev.drv.launch(kAdamW8bit, [3]uint32{uint32(blocks), 1, 1}, [3]uint32{block8bit, 1, 1}, args)
	})
}
