package cpu

// The float32 assembly kernels of the elementwise ops (exp.go, crossentropy.go, swiglu.go), by
// instruction set: is is isaFor's choice, isaAVX2 or isaAVX512 (never isaGo, for which the
// callers run Go code). The two sets give the same bits, so a run's numbers do not depend on the
// x86 CPU that ran it.

func expSumAsm(is isa, dst, src *float32, n int, shift float32) float32 {
	if is == isaAVX2 {
		return expSumAVX2(dst, src, n, shift)
	}
	return expSumAVX512(dst, src, n, shift)
}

func maxAsm(is isa, src *float32, n int) float32 {
	if is == isaAVX2 {
		return maxAVX2(src, n)
	}
	return maxAVX512(src, n)
}

func softmaxAddAsm(is isa, d, x *float32, n int, mx, sum, scale float32) {
	if is == isaAVX2 {
		softmaxAddAVX2(d, x, n, mx, sum, scale)
		return
	}
	softmaxAddAVX512(d, x, n, mx, sum, scale)
}

func swigluAsm(is isa, out, gate, up *float32, n int) {
	if is == isaAVX2 {
		swigluAVX2(out, gate, up, n)
		return
	}
	swigluAVX512(out, gate, up, n)
}

func swigluBackAsm(is isa, dgate, dup, dout, gate, up *float32, n int) {
	if is == isaAVX2 {
		swigluBackAVX2(dgate, dup, dout, gate, up, n)
		return
	}
	swigluBackAVX512(dgate, dup, dout, gate, up, n)
}
