//go:build !amd64

package cpu

// useAVX512 is false off amd64: the Go kernels run.
var useAVX512 = false

// useAVX2 is false off amd64.
var useAVX2 = false

func sgemm12x32AVX512(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func sgemm12x32AVX2(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func nf4DecodeAVX512(dst *float32, src *byte, n16 int, table *[16]float32) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func packTransAVX512(dst, src *float32, srs uintptr, kc int, colMask uint32) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func packTrans8AVX2(dst, src *float32, srs uintptr, blocks int) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func expSumAVX512(dst, src *float32, n int, shift float32) float32 {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func maxAVX512(src *float32, n int) float32 {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func swigluAVX512(out, gate, up *float32, n int) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func swigluBackAVX512(dgate, dup, dout, gate, up *float32, n int) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func softmaxAddAVX512(d, x *float32, n int, mx, sum, scale float32) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func nf4DecodeGroupsAVX512(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32) {
	panic("cpu: no AVX-512 kernel on this architecture")
}

func expSumAVX2(dst, src *float32, n int, shift float32) float32 {
	panic("cpu: no AVX2 kernel on this architecture")
}

func maxAVX2(src *float32, n int) float32 {
	panic("cpu: no AVX2 kernel on this architecture")
}

func swigluAVX2(out, gate, up *float32, n int) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func swigluBackAVX2(dgate, dup, dout, gate, up *float32, n int) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func softmaxAddAVX2(d, x *float32, n int, mx, sum, scale float32) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func nf4DecodeAVX2(dst *float32, src *byte, n16 int, table *[16]float32) {
	panic("cpu: no AVX2 kernel on this architecture")
}

func nf4DecodeGroupsAVX2(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32) {
	panic("cpu: no AVX2 kernel on this architecture")
}
