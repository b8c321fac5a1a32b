// Package cpu is the Go backend: the reference implementation of backend.Backend that every other
// backend is checked against, and the engine's compute when there is no GPU.
//
// Kernels are generic over the storage and arithmetic type T: New[float32]() trains, New[float64]()
// is what gradient checks and the conformance suite use as ground truth. Frozen NF4 weights stay
// packed (LoadNF4 keeps the *nf4.Quantized); Dequantize marks its output as holding the weight and
// Gemm decodes it panel by panel while packing (memory.go, gemm_nf4.go), so no whole weight is
// expanded on the training path.
//
// Speed: Gemm is BLIS-style (gemm.go) around a 12×32 micro-kernel; attention runs its products
// through the same micro-kernel (attention_blocked.go); the exponentials of the softmaxes and SiLU
// are vectorised (exp.go). On amd64 CPUs with AVX-512 these are assembly (gemm_amd64.s,
// exp_amd64.s, chosen at start-up with x/sys/cpu) in float32; on those with AVX2 and FMA but not
// AVX-512 so are the micro-kernel, the exponentials and the packing of transposed panels
// (gemm_avx2_amd64.s, exp_avx2_amd64.s: the same bits), NF4 decoding Go. Elsewhere, and in
// float64, Go code runs: fast by default (multiply-adds as the compiler makes them, math.Exp), or,
// under exactGo, the same operations with the same roundings as the assembly (fma32, exp32),
// against which the tests check the assembly bit for bit. GODEBUG=cpu.avx512f=off (which x/sys/cpu
// reads) makes an AVX-512 CPU run as an AVX2 one, and with cpu.avx2=off as well, as one with
// neither: how the tests run those paths there.
//
// Letters in the shape comments (as in package backend):
//
//	N  rows (tokens in the batch: B sequences of T tokens, row-major)
//	B  sequences, T tokens each
//	C  channels of the row (hidden size, or a projection's width)
//	NH attention heads, NKV key/value heads, HD head dimension
//	V  vocabulary size
//	M, K, Nc  Gemm's op(a) (M,K), op(b) (K,Nc), c (M,Nc)
//
// Each op lives in its own file with its backward beside it, named <op> / <op>Backward.
//
// Determinism: ops run on all cores (runtime.GOMAXPROCS) but split work only over independent
// outputs (tiles of Gemm's c, (sequence, head) pairs of attention, vocabulary rows and channels for
// the full-training ops' sums over rows, rows elsewhere), in chunks that depend on the sizes
// alone (Gemm's tiles follow the number of workers, but each element of c is one chain of fused
// multiply-adds over k, in order, computed by one goroutine whatever the tiling); no sum is split
// across goroutines except SumSquares', whose chunks are fixed by the length and whose partial sums
// are added in order, so every result is bit-identical whatever the number of threads.
//
// What it must not do: allocate in the hot ops once warm (scratch is owned by the backend and grows
// on first use), or be used from several goroutines at once (a Backend holds that scratch; make one
// per goroutine). Ops must not be called from inside another op.
package cpu
