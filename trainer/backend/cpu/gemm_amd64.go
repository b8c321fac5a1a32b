package cpu

import "golang.org/x/sys/cpu"

// useAVX512 selects the assembly kernels: AVX-512 F with the OS saving the ZMM registers (which
// x/sys/cpu checks), and VL and BW for the 128-bit forms of EVEX instructions they use.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW

// useAVX2 selects the AVX2 + FMA kernels (the float32 Gemm's micro-kernel and packing, NF4
// decoding, the elementwise ones) where AVX-512 is missing (most desktop x86 CPUs).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sgemm12x32AVX512 is the micro-kernel for float32 (gemm.go, microTile): for the rows r < 12 set in
// rowMask and the columns j < 32 set in colMask,
//
//	c[r·ldc + j] = alpha·s + beta·c[r·ldc + j] (c not read when beta == ±0),
//	s = fma chain over p < kc of a[r·ars + p·aps]·b[p·bs + j], from zero;
//
// strides in bytes. It reads all 12 rows of a, and b only in the columns of colMask. With flags
// bit 0 the chain starts from the sums in acc (12×32) instead of zero; with bit 1 it ends by
// storing the sums there instead of into c.
//
//go:noescape
func sgemm12x32AVX512(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int)

// sgemm12x32AVX2 is sgemm12x32AVX512 with AVX2 and FMA (gemm_avx2_amd64.s), the same bits in c.
// It reads only the rows of a in the groups of three (0–2, 3–5, 6–8, 9–11) that hold a row of
// rowMask, and with flags bit 1 stores the sums of those rows only: the sums of the rows and
// columns outside the masks, which no caller reads, are not those of the AVX-512 kernel.
//
//go:noescape
func sgemm12x32AVX2(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int)

// nf4DecodeAVX512 writes dst[i] = table[code i] for i < 16·n16, the codes packed two to a byte,
// the first in the high nibble.
//
//go:noescape
func nf4DecodeAVX512(dst *float32, src *byte, n16 int, table *[16]float32)

// packTransAVX512 writes dst[p·32 + j] = src[j·srs/4 + p] for p < kc and the columns j set in
// colMask, zero in the others (srs in bytes, 31·srs < 2³¹).
//
//go:noescape
func packTransAVX512(dst, src *float32, srs uintptr, kc int, colMask uint32)

// packTrans8AVX2 writes dst[p·32 + j] = src[j·srs/4 + p] for j < 8 and p < 8·blocks (srs in
// bytes): 8 whole columns of a panel packTransAVX512 would write, 8 rows of it at a time.
//
//go:noescape
func packTrans8AVX2(dst, src *float32, srs uintptr, blocks int)

// nf4DecodeGroupsAVX512 decodes rows of groups of 16 NF4 codes: dst[r·dstStride + 16g + i] =
// table[code i of group g of row r]·scales[r·groups + g], the codes of group g of row r the 8
// bytes at src + r·srcStride + 8g (first code in the high nibble), strides in bytes.
//
//go:noescape
func nf4DecodeGroupsAVX512(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32)

// nf4DecodeAVX2 is nf4DecodeAVX512 with AVX2 (nf4_avx2_amd64.s), the same bits.
//
//go:noescape
func nf4DecodeAVX2(dst *float32, src *byte, n16 int, table *[16]float32)

// nf4DecodeGroupsAVX2 is nf4DecodeGroupsAVX512 with AVX2 (nf4_avx2_amd64.s), the same bits.
//
//go:noescape
func nf4DecodeGroupsAVX2(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32)
