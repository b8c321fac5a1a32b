#include "textflag.h"

// The kernels of exp_amd64.s with AVX2 and FMA, for x86 CPUs without AVX-512 (exp_amd64.go
// declares them). Each gives the bits of its AVX-512 counterpart:
//
//   - the exponential is the same sequence of operations, each instruction with its operands in
//     the AVX-512 code's places (which decides the NaN that comes out when several go in);
//     VROUNDPS $8 rounds as VRNDSCALEPS $8 does, and VSCALEFPS's p·2ⁿ (one rounding) is two
//     multiplications by 2^⌊n/2⌋ and 2^(n−⌊n/2⌋): n lies in [-151, 128] after the clamp, so both
//     powers are normal floats and the first product, p being in [0.7, 1.42], is exact;
//   - the sums and maxima keep the 16 lanes of the AVX-512 code in two YMM registers, lanes 0–7
//     and 8–15, and combine them in its order (lane i with lane i+8 first);
//   - a tail of fewer than 16 (or 8) elements is read and written with VMASKMOVPS under masks from
//     tailMask<>, and lanes past the end keep their sums, as under the AVX-512 code's K1.
//
// With 16 YMM registers the constants are read from memory, each as 8 copies.

// CONST8 defines name<> as 8 copies of the 32-bit value bits.
#define CONST8(name, bits) \
	DATA name<>+0(SB)/4, bits; \
	DATA name<>+4(SB)/4, bits; \
	DATA name<>+8(SB)/4, bits; \
	DATA name<>+12(SB)/4, bits; \
	DATA name<>+16(SB)/4, bits; \
	DATA name<>+20(SB)/4, bits; \
	DATA name<>+24(SB)/4, bits; \
	DATA name<>+28(SB)/4, bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST8(log2e, $0x3fb8aa3b) // log2(e)
CONST8(ln2Hi, $0x3f318000) // ln2 high part, 0.693359375
CONST8(ln2Lo, $0xb95e8083) // ln2 low part, -2.12194440e-4
CONST8(poly0, $0x39506967) // 1.9875691500e-4
CONST8(poly1, $0x3ab743ce) // 1.3981999507e-3
CONST8(poly2, $0x3c088908) // 8.3334519073e-3
CONST8(poly3, $0x3d2aa9c1) // 4.1665795894e-2
CONST8(poly4, $0x3e2aaaaa) // 1.6666665459e-1
CONST8(poly5, $0x3f000000) // 0.5
CONST8(one, $0x3f800000)   // 1
CONST8(expHi, $0x42b17218) // 88.72284 (above: +Inf)
CONST8(expLo, $0xc2d20000) // -105 (below: exactly 0)
CONST8(negInf, $0xff800000)
CONST8(bias, $127) // the exponent bias, as an integer

// tailMask<> is 16 lanes set then 16 clear: the 8 lanes from byte 4·(16−c) on are those of the
// first c of 8 elements, and the 8 after them those of the first c−8 of the next 8.
DATA tailMask<>+0(SB)/8, $-1
DATA tailMask<>+8(SB)/8, $-1
DATA tailMask<>+16(SB)/8, $-1
DATA tailMask<>+24(SB)/8, $-1
DATA tailMask<>+32(SB)/8, $-1
DATA tailMask<>+40(SB)/8, $-1
DATA tailMask<>+48(SB)/8, $-1
DATA tailMask<>+56(SB)/8, $-1
DATA tailMask<>+64(SB)/8, $0
DATA tailMask<>+72(SB)/8, $0
DATA tailMask<>+80(SB)/8, $0
DATA tailMask<>+88(SB)/8, $0
DATA tailMask<>+96(SB)/8, $0
DATA tailMask<>+104(SB)/8, $0
DATA tailMask<>+112(SB)/8, $0
DATA tailMask<>+120(SB)/8, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $128

// TAILMASKS loads into lo and hi the masks of the first CX (< 16) of 16 elements, using AX and
// R11; lo alone is the mask of the first CX (< 8) of 8.
#define TAILMASKS(lo, hi) \
	MOVQ $16, AX; \
	SUBQ CX, AX; \
	LEAQ tailMask<>(SB), R11; \
	VMOVDQU (R11)(AX*4), lo; \
	VMOVDQU 32(R11)(AX*4), hi

// EXP computes x = exp(x) in 8 lanes as exp_amd64.s's EXP, using n, p and t.
#define EXP(x, n, p, t) \
	VMOVUPS expHi<>(SB), t; \
	VMINPS x, t, x; \
	VMOVUPS expLo<>(SB), t; \
	VMAXPS x, t, x; \
	VMULPS log2e<>(SB), x, n; \
	VROUNDPS $8, n, n; \
	VFNMADD231PS ln2Hi<>(SB), n, x; \
	VFNMADD231PS ln2Lo<>(SB), n, x; \
	VMOVUPS poly0<>(SB), p; \
	VFMADD213PS poly1<>(SB), x, p; \
	VFMADD213PS poly2<>(SB), x, p; \
	VFMADD213PS poly3<>(SB), x, p; \
	VFMADD213PS poly4<>(SB), x, p; \
	VFMADD213PS poly5<>(SB), x, p; \
	VMULPS x, x, t; \
	VFMADD213PS x, t, p; \
	VADDPS one<>(SB), p, p; \
	SCALE(x, n, p, t)

// SCALE computes x = p·2ⁿ (n an integral float in [-151, 128]) with one rounding, using t.
#define SCALE(x, n, p, t) \
	VCVTPS2DQ n, n; \
	VPSRAD $1, n, t; \
	VPSUBD t, n, n; \
	VPADDD bias<>(SB), t, t; \
	VPSLLD $23, t, t; \
	VPADDD bias<>(SB), n, n; \
	VPSLLD $23, n, n; \
	VMULPS t, p, p; \
	VMULPS n, p, x

// func expSumAVX2(dst, src *float32, n int, shift float32) float32
//
// expSumAVX512 with AVX2: the lanes' sums in Y8 (lanes 0–7) and Y9 (8–15).
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y10
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	CMPQ CX, $16
	JLT tail

full:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y4
	VSUBPS Y10, Y0, Y0
	VSUBPS Y10, Y4, Y4
	EXP(Y0, Y1, Y2, Y3)
	EXP(Y4, Y5, Y6, Y7)
	VADDPS Y0, Y8, Y8
	VADDPS Y4, Y9, Y9
	TESTQ DI, DI
	JZ nostore
	VMOVUPS Y0, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ $64, DI

nostore:
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE full

tail:
	TESTQ CX, CX
	JZ reduce
	TAILMASKS(Y11, Y12)
	VMASKMOVPS (SI), Y11, Y0
	VMASKMOVPS 32(SI), Y12, Y4
	VSUBPS Y10, Y0, Y0
	VSUBPS Y10, Y4, Y4
	EXP(Y0, Y1, Y2, Y3)
	EXP(Y4, Y5, Y6, Y7)
	VADDPS Y0, Y8, Y1
	VADDPS Y4, Y9, Y5
	VBLENDVPS Y11, Y1, Y8, Y8 // the sums of the lanes in the tail only
	VBLENDVPS Y12, Y5, Y9, Y9
	TESTQ DI, DI
	JZ reduce
	VMASKMOVPS Y0, Y11, (DI)
	VMASKMOVPS Y4, Y12, 32(DI)

reduce:
	VADDPS Y9, Y8, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func maxAVX2(src *float32, n int) float32
//
// maxAVX512 with AVX2: the lanes' maxima in Y8 (lanes 0–7) and Y9 (8–15).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS negInf<>(SB), Y8
	VMOVUPS Y8, Y9
	CMPQ CX, $16
	JLT mtail

mfull:
	VMAXPS (SI), Y8, Y8
	VMAXPS 32(SI), Y9, Y9
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE mfull

mtail:
	TESTQ CX, CX
	JZ mreduce
	TAILMASKS(Y11, Y12)
	VMASKMOVPS (SI), Y11, Y0
	VMASKMOVPS 32(SI), Y12, Y1
	VBLENDVPS Y11, Y0, Y8, Y0 // lanes past the end compare their maximum with itself
	VBLENDVPS Y12, Y1, Y9, Y1
	VMAXPS Y0, Y8, Y8
	VMAXPS Y1, Y9, Y9

mreduce:
	VMAXPS Y9, Y8, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VMAXPS X1, X0, X0
	VMOVSHDUP X0, X1
	VMAXSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// SIGMOID computes Y0 = 1/(1 + exp(0 − Y4)), using Y1..Y3 (Y15 is 0).
#define SIGMOID \
	VSUBPS Y4, Y15, Y0; \
	EXP(Y0, Y1, Y2, Y3); \
	VADDPS one<>(SB), Y0, Y0; \
	VMOVUPS one<>(SB), Y1; \
	VDIVPS Y0, Y1, Y0

// SWIGLU computes Y5 = (g·s)·up, the gate g in Y4, up in Y6, s its sigmoid.
#define SWIGLU \
	SIGMOID; \
	VMULPS Y0, Y4, Y5; \
	VMULPS Y6, Y5, Y5

// func swigluAVX2(out, gate, up *float32, n int)
//
// swigluAVX512 with AVX2, 8 elements at a time.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y15, Y15, Y15
	CMPQ CX, $8
	JLT swtail

swloop:
	VMOVUPS (SI), Y4
	VMOVUPS (DX), Y6
	SWIGLU
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE swloop

swtail:
	TESTQ CX, CX
	JZ swdone
	TAILMASKS(Y11, Y12)
	VMASKMOVPS (SI), Y11, Y4
	VMASKMOVPS (DX), Y11, Y6
	SWIGLU
	VMASKMOVPS Y5, Y11, (DI)

swdone:
	VZEROUPPER
	RET

// SWIGLUBACK computes, from the gate g in Y4, up in Y6, dout in Y7, dgate in Y12 and dup in Y14,
// dgate += (dout·up)·(s + (g·s)·(1 − s)) and dup += (dout·g)·s, using Y0..Y3 and Y8..Y11.
#define SWIGLUBACK \
	SIGMOID; \
	VMOVUPS one<>(SB), Y1; \
	VSUBPS Y0, Y1, Y8; \
	VMULPS Y0, Y4, Y9; \
	VMULPS Y8, Y9, Y10; \
	VADDPS Y10, Y0, Y10; \
	VMULPS Y6, Y7, Y11; \
	VMULPS Y10, Y11, Y11; \
	VADDPS Y11, Y12, Y12; \
	VMULPS Y4, Y7, Y9; \
	VMULPS Y0, Y9, Y9; \
	VADDPS Y9, Y14, Y14

// func swigluBackAVX2(dgate, dup, dout, gate, up *float32, n int)
//
// swigluBackAVX512 with AVX2, 8 elements at a time.
TEXT ·swigluBackAVX2(SB), NOSPLIT, $0-48
	MOVQ dgate+0(FP), DI
	MOVQ dup+8(FP), R8
	MOVQ dout+16(FP), R9
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), DX
	MOVQ n+40(FP), CX
	VXORPS Y15, Y15, Y15
	CMPQ CX, $8
	JLT sbtail

sbloop:
	VMOVUPS (SI), Y4
	VMOVUPS (DX), Y6
	VMOVUPS (R9), Y7
	VMOVUPS (DI), Y12
	VMOVUPS (R8), Y14
	SWIGLUBACK
	VMOVUPS Y12, (DI)
	VMOVUPS Y14, (R8)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R9
	ADDQ $32, DI
	ADDQ $32, R8
	SUBQ $8, CX
	CMPQ CX, $8
	JGE sbloop

sbtail:
	TESTQ CX, CX
	JZ sbdone
	TAILMASKS(Y5, Y13)
	VMASKMOVPS (SI), Y5, Y4
	VMASKMOVPS (DX), Y5, Y6
	VMASKMOVPS (R9), Y5, Y7
	VMASKMOVPS (DI), Y5, Y12
	VMASKMOVPS (R8), Y5, Y14
	SWIGLUBACK
	VMASKMOVPS Y12, Y5, (DI)
	VMASKMOVPS Y14, Y5, (R8)

sbdone:
	VZEROUPPER
	RET

// SOFTMAXADD computes Y4 += scale·(exp(x − mx)/sum), x in Y0, mx, sum and scale in Y13..Y15.
#define SOFTMAXADD \
	VSUBPS Y13, Y0, Y0; \
	EXP(Y0, Y1, Y2, Y3); \
	VDIVPS Y14, Y0, Y0; \
	VMULPS Y0, Y15, Y0; \
	VADDPS Y0, Y4, Y4

// func softmaxAddAVX2(d, x *float32, n int, mx, sum, scale float32)
//
// softmaxAddAVX512 with AVX2, 8 elements at a time.
TEXT ·softmaxAddAVX2(SB), NOSPLIT, $0-36
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mx+24(FP), Y13
	VBROADCASTSS sum+28(FP), Y14
	VBROADCASTSS scale+32(FP), Y15
	CMPQ CX, $8
	JLT smtail

smloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y4
	SOFTMAXADD
	VMOVUPS Y4, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE smloop

smtail:
	TESTQ CX, CX
	JZ smdone
	TAILMASKS(Y11, Y12)
	VMASKMOVPS (SI), Y11, Y0
	VMASKMOVPS (DI), Y11, Y4
	SOFTMAXADD
	VMASKMOVPS Y4, Y11, (DI)

smdone:
	VZEROUPPER
	RET
