package cpu

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// RoPE rotates, in place, every head of x (N, heads·HD) by its row's position (N), the half-split
// way Llama does: for i < HD/2, with angle = position·invFreq[i] (HD/2) in float64,
//
//	x'[i]      = x[i]·cos − x[i+HD/2]·sin
//	x'[i+HD/2] = x[i+HD/2]·cos + x[i]·sin
func (bk *cpuBackend[T]) RoPE(x backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	bk.runRoPE("RoPE", x, positions, invFreq, n, heads, headDim, false)
}

// RoPEBackward turns dx (N, heads·HD), a gradient with respect to the rotated x, into the gradient
// with respect to the unrotated x, in place: the transposed (inverse) rotation,
//
//	dx'[i]      = dx[i]·cos + dx[i+HD/2]·sin
//	dx'[i+HD/2] = dx[i+HD/2]·cos − dx[i]·sin
func (bk *cpuBackend[T]) RoPEBackward(dx backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	bk.runRoPE("RoPEBackward", dx, positions, invFreq, n, heads, headDim, true)
}

func (bk *cpuBackend[T]) runRoPE(op string, x backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int, inverse bool) {
	checkSizes(op, n, heads, headDim)
	if headDim%2 != 0 || len(invFreq) != headDim/2 {
		panic(fmt.Sprintf("cpu.%s: head dimension %d with %d frequencies, want an even one and half as many", op, headDim, len(invFreq)))
	}
	if len(positions) != n {
		panic(fmt.Sprintf("cpu.%s: %d positions for %d rows", op, len(positions), n))
	}
	width := heads * headDim
	bk.rope = ropeKernel[T]{
		x:         data[T](x, op, "x", n*width),
		positions: positions, invFreq: invFreq,
		heads: heads, headDim: headDim,
		inverse: inverse,
	}
	bk.launch(n, rowsGrain(width), &bk.rope)
	bk.rope = ropeKernel[T]{}
}

type ropeKernel[T Float] struct {
	x              []T     // (N, heads·HD)
	positions      []int32 // (N)
	invFreq        []float64
	heads, headDim int
	inverse        bool // turn by −angle
}

func (k *ropeKernel[T]) run(_, lo, hi int) {
	half, width := k.headDim/2, k.heads*k.headDim
	for r := lo; r < hi; r++ {
		row := k.x[r*width : (r+1)*width]
		pos := float64(k.positions[r])
		for i, f := range k.invFreq {
			s64, c64 := math.Sincos(pos * f)
			cos, sin := T(c64), T(s64)
			if k.inverse {
				sin = -sin
			}
			for h := 0; h < width; h += k.headDim {
				x0, x1 := row[h+i], row[h+i+half]
				row[h+i] = x0*cos - x1*sin
				row[h+i+half] = x1*cos + x0*sin
			}
		}
	}
}
