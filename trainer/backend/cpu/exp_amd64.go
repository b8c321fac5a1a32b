package cpu

// expSumAVX512 writes e_i = exp(src[i] − shift) into dst[:n] unless dst is nil and returns Σ e_i,
// summed as expSum32 does (exp.go).
//
//go:noescape
func expSumAVX512(dst, src *float32, n int, shift float32) float32

// maxAVX512 returns the largest of src[:n], -Inf when n is 0.
//
//go:noescape
func maxAVX512(src *float32, n int) float32

// swigluAVX512 writes out = (g·s)·up, s = 1/(1 + exp(−g)), for n ≥ 1 elements.
//
//go:noescape
func swigluAVX512(out, gate, up *float32, n int)

// swigluBackAVX512 adds dgate += (dout·up)·(s + (g·s)·(1 − s)) and dup += (dout·g)·s, n ≥ 1.
//
//go:noescape
func swigluBackAVX512(dgate, dup, dout, gate, up *float32, n int)

// softmaxAddAVX512 adds d[j] += scale·(exp(x[j] − mx)/sum) for j < n, n ≥ 1.
//
//go:noescape
func softmaxAddAVX512(d, x *float32, n int, mx, sum, scale float32)

// The AVX2 + FMA versions (exp_avx2_amd64.s), for CPUs without AVX-512: the same contracts and the
// same bits as the AVX-512 kernels above.

//go:noescape
func expSumAVX2(dst, src *float32, n int, shift float32) float32

//go:noescape
func maxAVX2(src *float32, n int) float32

//go:noescape
func swigluAVX2(out, gate, up *float32, n int)

//go:noescape
func swigluBackAVX2(dgate, dup, dout, gate, up *float32, n int)

//go:noescape
func softmaxAddAVX2(d, x *float32, n int, mx, sum, scale float32)
