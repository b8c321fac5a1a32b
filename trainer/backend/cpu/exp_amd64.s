#include "textflag.h"

// Vectorised float32 exponential for the softmaxes and SiLU (exp_amd64.go declares them).
//
// exp(x) = 2ⁿ·e^r with n = round(x·log2(e)) and r = x − n·ln2 (ln2 in two parts), e^r from
// Cephes' expf polynomial: 1 + r + r²·P(r). Inputs are clamped to [-105, 88.72] (so -Inf gives exactly 0) with NaN kept.

DATA expConsts<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expConsts<>+4(SB)/4, $0x3f318000  // ln2 high part, 0.693359375
DATA expConsts<>+8(SB)/4, $0xb95e8083  // ln2 low part, -2.12194440e-4
DATA expConsts<>+12(SB)/4, $0x39506967 // 1.9875691500e-4
DATA expConsts<>+16(SB)/4, $0x3ab743ce // 1.3981999507e-3
DATA expConsts<>+20(SB)/4, $0x3c088908 // 8.3334519073e-3
DATA expConsts<>+24(SB)/4, $0x3d2aa9c1 // 4.1665795894e-2
DATA expConsts<>+28(SB)/4, $0x3e2aaaaa // 1.6666665459e-1
DATA expConsts<>+32(SB)/4, $0x3f000000 // 0.5
DATA expConsts<>+36(SB)/4, $0x3f800000 // 1
DATA expConsts<>+40(SB)/4, $0x42b17218 // 88.72284 (above: +Inf)
DATA expConsts<>+44(SB)/4, $0xc2d20000 // -105 (below: exactly 0)
DATA expConsts<>+48(SB)/4, $0xff800000 // -Inf
GLOBL expConsts<>(SB), RODATA|NOPTR, $52

// LOADCONSTS puts the constants in Z16..Z28.
#define LOADCONSTS \
	VBROADCASTSS expConsts<>+0(SB), Z16; \
	VBROADCASTSS expConsts<>+4(SB), Z17; \
	VBROADCASTSS expConsts<>+8(SB), Z18; \
	VBROADCASTSS expConsts<>+12(SB), Z19; \
	VBROADCASTSS expConsts<>+16(SB), Z20; \
	VBROADCASTSS expConsts<>+20(SB), Z21; \
	VBROADCASTSS expConsts<>+24(SB), Z22; \
	VBROADCASTSS expConsts<>+28(SB), Z23; \
	VBROADCASTSS expConsts<>+32(SB), Z24; \
	VBROADCASTSS expConsts<>+36(SB), Z25; \
	VBROADCASTSS expConsts<>+40(SB), Z26; \
	VBROADCASTSS expConsts<>+44(SB), Z27

// EXP computes Z0 = exp(Z0), using Z1..Z3.
#define EXP \
	VMINPS Z0, Z26, Z0; \
	VMAXPS Z0, Z27, Z0; \
	VMULPS Z16, Z0, Z1; \
	VRNDSCALEPS $8, Z1, Z1; \
	VFNMADD231PS Z17, Z1, Z0; \
	VFNMADD231PS Z18, Z1, Z0; \
	VMOVAPS Z19, Z2; \
	VFMADD213PS Z20, Z0, Z2; \
	VFMADD213PS Z21, Z0, Z2; \
	VFMADD213PS Z22, Z0, Z2; \
	VFMADD213PS Z23, Z0, Z2; \
	VFMADD213PS Z24, Z0, Z2; \
	VMULPS Z0, Z0, Z3; \
	VFMADD213PS Z0, Z3, Z2; \
	VADDPS Z25, Z2, Z2; \
	VSCALEFPS Z1, Z2, Z0

// func expSumAVX512(dst, src *float32, n int, shift float32) float32
//
// e_i = exp(src[i] − shift) for i < n, stored in dst unless dst is nil; returns Σ e_i, added in 16
// lanes then across them in a fixed order.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Z29
	LOADCONSTS
	VPXORD Z30, Z30, Z30 // sums
	CMPQ CX, $16
	JLT tail

full:
	VMOVUPS (SI), Z0
	VSUBPS Z29, Z0, Z0
	EXP
	VADDPS Z0, Z30, Z30
	TESTQ DI, DI
	JZ nostore
	VMOVUPS Z0, (DI)
	ADDQ $64, DI

nostore:
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE full

tail:
	TESTQ CX, CX
	JZ reduce
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z29, Z0, Z0
	EXP
	VADDPS Z0, Z30, K1, Z30
	TESTQ DI, DI
	JZ reduce
	VMOVUPS Z0, K1, (DI)

reduce:
	VEXTRACTF32X8 $1, Z30, Y1
	VADDPS Y1, Y30, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func maxAVX512(src *float32, n int) float32
//
// The largest of src[:n] (n ≥ 1), -Inf for none. A NaN may or may not win; the exponentials the
// callers take next turn it into a NaN sum either way.
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS expConsts<>+48(SB), Z30
	CMPQ CX, $16
	JLT mtail

mfull:
	VMAXPS (SI), Z30, Z30
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE mfull

mtail:
	TESTQ CX, CX
	JZ mreduce
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVAPS Z30, Z0
	VMOVUPS (SI), K1, Z0
	VMAXPS Z0, Z30, Z30

mreduce:
	VEXTRACTF32X8 $1, Z30, Y1
	VMAXPS Y1, Y30, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VMAXPS X1, X0, X0
	VMOVSHDUP X0, X1
	VMAXSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// TAILMASK sets K1 to the lanes of the next (up to) 16 elements, CX of them left.
#define TAILMASK(full, set) \
	MOVL $0xffff, AX; \
	CMPQ CX, $16; \
	JGE set; \
	MOVL $1, AX; \
	SHLL CX, AX; \
	DECL AX; \
set: \
	KMOVW AX, K1

// SIGMOID computes Z0 = 1/(1 + exp(−Z4)), using Z1..Z3 (Z31 is 0).
#define SIGMOID \
	VSUBPS Z4, Z31, Z0; \
	EXP; \
	VADDPS Z25, Z0, Z0; \
	VDIVPS Z0, Z25, Z0

// func swigluAVX512(out, gate, up *float32, n int)
//
// out = (g·s)·up with s = 1/(1 + exp(−g)), n ≥ 1.
TEXT ·swigluAVX512(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	LOADCONSTS
	VPXORD Z31, Z31, Z31

swloop:
	TAILMASK(swfull, swset)
	VMOVUPS.Z (SI), K1, Z4
	SIGMOID
	VMULPS Z0, Z4, Z5
	VMOVUPS.Z (DX), K1, Z6
	VMULPS Z6, Z5, Z5
	VMOVUPS Z5, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JG swloop
	VZEROUPPER
	RET

// func swigluBackAVX512(dgate, dup, dout, gate, up *float32, n int)
//
// dgate += (dout·up)·(s + (g·s)·(1 − s)), dup += (dout·g)·s, s = 1/(1 + exp(−g)), n ≥ 1.
TEXT ·swigluBackAVX512(SB), NOSPLIT, $0-48
	MOVQ dgate+0(FP), DI
	MOVQ dup+8(FP), R8
	MOVQ dout+16(FP), R9
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), DX
	MOVQ n+40(FP), CX
	LOADCONSTS
	VPXORD Z31, Z31, Z31

sbloop:
	TAILMASK(sbfull, sbset)
	VMOVUPS.Z (SI), K1, Z4
	SIGMOID
	VMOVUPS.Z (DX), K1, Z6
	VMOVUPS.Z (R9), K1, Z7
	VSUBPS Z0, Z25, Z8
	VMULPS Z0, Z4, Z9
	VMULPS Z8, Z9, Z10
	VADDPS Z10, Z0, Z10
	VMULPS Z6, Z7, Z11
	VMULPS Z10, Z11, Z11
	VMOVUPS.Z (DI), K1, Z12
	VADDPS Z11, Z12, Z12
	VMOVUPS Z12, K1, (DI)
	VMULPS Z4, Z7, Z13
	VMULPS Z0, Z13, Z13
	VMOVUPS.Z (R8), K1, Z14
	VADDPS Z13, Z14, Z14
	VMOVUPS Z14, K1, (R8)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R9
	ADDQ $64, DI
	ADDQ $64, R8
	SUBQ $16, CX
	JG sbloop
	VZEROUPPER
	RET

// func softmaxAddAVX512(d, x *float32, n int, mx, sum, scale float32)
//
// d[j] += scale·(exp(x[j] − mx)/sum) for j < n, n ≥ 1.
TEXT ·softmaxAddAVX512(SB), NOSPLIT, $0-36
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mx+24(FP), Z29
	VBROADCASTSS sum+28(FP), Z30
	VBROADCASTSS scale+32(FP), Z31
	LOADCONSTS

smloop:
	TAILMASK(smfull, smset)
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z29, Z0, Z0
	EXP
	VDIVPS Z30, Z0, Z0
	VMULPS Z0, Z31, Z0
	VMOVUPS.Z (DI), K1, Z4
	VADDPS Z0, Z4, Z4
	VMOVUPS Z4, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JG smloop
	VZEROUPPER
	RET
