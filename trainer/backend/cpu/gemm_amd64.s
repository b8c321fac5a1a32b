#include "textflag.h"

// AVX-512 kernels of the float32 Gemm (gemm_amd64.go declares them; gemm.go says what they compute).

// FMAROW adds the broadcast a element at addr times the two b vectors (Z24, Z25) to one row's
// two accumulators.
#define FMAROW(addr, t, acc0, acc1) \
	VBROADCASTSS addr, t; \
	VFMADD231PS t, Z24, acc0; \
	VFMADD231PS t, Z25, acc1

// FULLSTEP is one step of k over all 32 columns, the a elements at displacement d from the row
// pointers.
#define FULLSTEP(d) \
	VMOVUPS (DX), Z24; \
	VMOVUPS 64(DX), Z25; \
	FMAROW(d(SI), Z26, Z0, Z1); \
	FMAROW(d(SI)(R10*1), Z27, Z2, Z3); \
	FMAROW(d(SI)(R10*2), Z28, Z4, Z5); \
	FMAROW(d(DI), Z29, Z6, Z7); \
	FMAROW(d(DI)(R10*1), Z30, Z8, Z9); \
	FMAROW(d(DI)(R10*2), Z31, Z10, Z11); \
	FMAROW(d(R8), Z26, Z12, Z13); \
	FMAROW(d(R8)(R10*1), Z27, Z14, Z15); \
	FMAROW(d(R8)(R10*2), Z28, Z16, Z17); \
	FMAROW(d(R9), Z29, Z18, Z19); \
	FMAROW(d(R9)(R10*1), Z30, Z20, Z21); \
	FMAROW(d(R9)(R10*2), Z31, Z22, Z23)

// HALFROW is FMAROW for the first 16 columns only.
#define HALFROW(addr, t, acc0) \
	VBROADCASTSS addr, t; \
	VFMADD231PS t, Z24, acc0

// STOREROW writes one row of c = alpha·acc + beta·c (alpha in Z26, beta in Z27) under the
// column masks K1 and K2, when bit row of R14 is set; BX walks the rows of c by R13.
#define STOREROW(row, acc0, acc1, skip) \
	BTL $row, R14; \
	JCC skip; \
	VMULPS Z26, acc0, acc0; \
	VMULPS Z26, acc1, acc1; \
	VMOVUPS.Z (BX), K1, Z24; \
	VMOVUPS.Z 64(BX), K2, Z25; \
	VMULPS Z27, Z24, Z24; \
	VMULPS Z27, Z25, Z25; \
	VADDPS Z24, acc0, acc0; \
	VADDPS Z25, acc1, acc1; \
	VMOVUPS acc0, K1, (BX); \
	VMOVUPS acc1, K2, 64(BX); \
skip: \
	ADDQ R13, BX

// STOREROW0 is STOREROW for beta == 0: c is not read.
#define STOREROW0(row, acc0, acc1, skip) \
	BTL $row, R14; \
	JCC skip; \
	VMULPS Z26, acc0, acc0; \
	VMULPS Z26, acc1, acc1; \
	VMOVUPS acc0, K1, (BX); \
	VMOVUPS acc1, K2, 64(BX); \
skip: \
	ADDQ R13, BX

// LOADACC / SAVEACC move the 24 accumulators from / to a micro-tile of sums at BX (12 rows of 32).
#define LOADACC \
	VMOVUPS 0(BX), Z0; VMOVUPS 64(BX), Z1; VMOVUPS 128(BX), Z2; VMOVUPS 192(BX), Z3; \
	VMOVUPS 256(BX), Z4; VMOVUPS 320(BX), Z5; VMOVUPS 384(BX), Z6; VMOVUPS 448(BX), Z7; \
	VMOVUPS 512(BX), Z8; VMOVUPS 576(BX), Z9; VMOVUPS 640(BX), Z10; VMOVUPS 704(BX), Z11; \
	VMOVUPS 768(BX), Z12; VMOVUPS 832(BX), Z13; VMOVUPS 896(BX), Z14; VMOVUPS 960(BX), Z15; \
	VMOVUPS 1024(BX), Z16; VMOVUPS 1088(BX), Z17; VMOVUPS 1152(BX), Z18; VMOVUPS 1216(BX), Z19; \
	VMOVUPS 1280(BX), Z20; VMOVUPS 1344(BX), Z21; VMOVUPS 1408(BX), Z22; VMOVUPS 1472(BX), Z23

#define SAVEACC \
	VMOVUPS Z0, 0(BX); VMOVUPS Z1, 64(BX); VMOVUPS Z2, 128(BX); VMOVUPS Z3, 192(BX); \
	VMOVUPS Z4, 256(BX); VMOVUPS Z5, 320(BX); VMOVUPS Z6, 384(BX); VMOVUPS Z7, 448(BX); \
	VMOVUPS Z8, 512(BX); VMOVUPS Z9, 576(BX); VMOVUPS Z10, 640(BX); VMOVUPS Z11, 704(BX); \
	VMOVUPS Z12, 768(BX); VMOVUPS Z13, 832(BX); VMOVUPS Z14, 896(BX); VMOVUPS Z15, 960(BX); \
	VMOVUPS Z16, 1024(BX); VMOVUPS Z17, 1088(BX); VMOVUPS Z18, 1152(BX); VMOVUPS Z19, 1216(BX); \
	VMOVUPS Z20, 1280(BX); VMOVUPS Z21, 1344(BX); VMOVUPS Z22, 1408(BX); VMOVUPS Z23, 1472(BX)

// func sgemm12x32AVX512(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int)
TEXT ·sgemm12x32AVX512(SB), NOSPLIT, $0-96
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ars+16(FP), R10
	MOVQ aps+24(FP), R11
	MOVQ b+32(FP), DX
	MOVQ bs+40(FP), R12
	MOVL colMask+68(FP), AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	LEAQ (R10)(R10*2), AX
	LEAQ (SI)(AX*1), DI
	LEAQ (DI)(AX*1), R8
	LEAQ (R8)(AX*1), R9
	MOVQ acc+80(FP), BX
	MOVQ flags+88(FP), AX
	TESTQ $1, AX
	JZ zero
	LOADACC
	JMP ready

zero:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

ready:
	TESTQ CX, CX
	JZ store
	MOVL colMask+68(FP), AX
	TESTL $0xffff0000, AX
	JZ half
	CMPL AX, $-1
	JNE loop

	// All 32 columns: plain loads of b, and the rows of a four steps of k at a time when they
	// are contiguous in k (aps = 4).
	CMPQ R11, $4
	JNE full1
	CMPQ CX, $4
	JLT full1

full4:
	FULLSTEP(0)
	ADDQ R12, DX
	FULLSTEP(4)
	ADDQ R12, DX
	FULLSTEP(8)
	ADDQ R12, DX
	FULLSTEP(12)
	ADDQ R12, DX
	ADDQ $16, SI
	ADDQ $16, DI
	ADDQ $16, R8
	ADDQ $16, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE full4
	TESTQ CX, CX
	JZ store

full1:
	FULLSTEP(0)
	ADDQ R11, SI
	ADDQ R11, DI
	ADDQ R11, R8
	ADDQ R11, R9
	ADDQ R12, DX
	DECQ CX
	JNZ full1
	JMP store

// Columns of the first 16 only (a LoRA rank of 16 or less): one vector a row, half the
// multiply-adds; the second vector's accumulators keep what they had.
half:
	VMOVUPS.Z (DX), K1, Z24
	HALFROW((SI), Z26, Z0)
	HALFROW((SI)(R10*1), Z27, Z2)
	HALFROW((SI)(R10*2), Z28, Z4)
	HALFROW((DI), Z29, Z6)
	HALFROW((DI)(R10*1), Z30, Z8)
	HALFROW((DI)(R10*2), Z31, Z10)
	HALFROW((R8), Z26, Z12)
	HALFROW((R8)(R10*1), Z27, Z14)
	HALFROW((R8)(R10*2), Z28, Z16)
	HALFROW((R9), Z29, Z18)
	HALFROW((R9)(R10*1), Z30, Z20)
	HALFROW((R9)(R10*2), Z31, Z22)
	ADDQ R11, SI
	ADDQ R11, DI
	ADDQ R11, R8
	ADDQ R11, R9
	ADDQ R12, DX
	DECQ CX
	JNZ half
	JMP store

loop:
	VMOVUPS.Z (DX), K1, Z24
	VMOVUPS.Z 64(DX), K2, Z25
	FMAROW((SI), Z26, Z0, Z1)
	FMAROW((SI)(R10*1), Z27, Z2, Z3)
	FMAROW((SI)(R10*2), Z28, Z4, Z5)
	FMAROW((DI), Z29, Z6, Z7)
	FMAROW((DI)(R10*1), Z30, Z8, Z9)
	FMAROW((DI)(R10*2), Z31, Z10, Z11)
	FMAROW((R8), Z26, Z12, Z13)
	FMAROW((R8)(R10*1), Z27, Z14, Z15)
	FMAROW((R8)(R10*2), Z28, Z16, Z17)
	FMAROW((R9), Z29, Z18, Z19)
	FMAROW((R9)(R10*1), Z30, Z20, Z21)
	FMAROW((R9)(R10*2), Z31, Z22, Z23)
	ADDQ R11, SI
	ADDQ R11, DI
	ADDQ R11, R8
	ADDQ R11, R9
	ADDQ R12, DX
	DECQ CX
	JNZ loop

store:
	MOVQ flags+88(FP), AX
	TESTQ $2, AX
	JZ final
	MOVQ acc+80(FP), BX
	SAVEACC
	VZEROUPPER
	RET

final:
	MOVQ c+48(FP), BX
	MOVQ ldc+56(FP), R13
	MOVL rowMask+64(FP), R14
	VBROADCASTSS alpha+72(FP), Z26
	MOVL beta+76(FP), AX
	ANDL $0x7fffffff, AX
	JZ store0
	VBROADCASTSS beta+76(FP), Z27
	STOREROW(0, Z0, Z1, s0)
	STOREROW(1, Z2, Z3, s1)
	STOREROW(2, Z4, Z5, s2)
	STOREROW(3, Z6, Z7, s3)
	STOREROW(4, Z8, Z9, s4)
	STOREROW(5, Z10, Z11, s5)
	STOREROW(6, Z12, Z13, s6)
	STOREROW(7, Z14, Z15, s7)
	STOREROW(8, Z16, Z17, s8)
	STOREROW(9, Z18, Z19, s9)
	STOREROW(10, Z20, Z21, s10)
	STOREROW(11, Z22, Z23, s11)
	VZEROUPPER
	RET

store0:
	STOREROW0(0, Z0, Z1, z0)
	STOREROW0(1, Z2, Z3, z1)
	STOREROW0(2, Z4, Z5, z2)
	STOREROW0(3, Z6, Z7, z3)
	STOREROW0(4, Z8, Z9, z4)
	STOREROW0(5, Z10, Z11, z5)
	STOREROW0(6, Z12, Z13, z6)
	STOREROW0(7, Z14, Z15, z7)
	STOREROW0(8, Z16, Z17, z8)
	STOREROW0(9, Z18, Z19, z9)
	STOREROW0(10, Z20, Z21, z10)
	STOREROW0(11, Z22, Z23, z11)
	VZEROUPPER
	RET

// func nf4DecodeAVX512(dst *float32, src *byte, n16 int, table *[16]float32)
//
// dst[i] = table[code i] for i < 16·n16, codes packed two to a byte, the first in the high nibble.
TEXT ·nf4DecodeAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n16+16(FP), CX
	MOVQ table+24(FP), AX
	VMOVUPS (AX), Z5
	MOVL $0x000F000F, AX
	VPBROADCASTD AX, X15
	TESTQ CX, CX
	JZ done

decode:
	VPMOVZXBW (SI), X1    // 8 bytes to 8 words
	VPSRLW $4, X1, X2     // high nibbles (the first codes)
	VPANDD X15, X1, X3    // low nibbles
	VPSLLW $8, X3, X3
	VPORD X3, X2, X1      // 16 bytes: the codes in order
	VPMOVZXBD X1, Z1
	VPERMPS Z5, Z1, Z2
	VMOVUPS Z2, (DI)
	ADDQ $8, SI
	ADDQ $64, DI
	DECQ CX
	JNZ decode

done:
	VZEROUPPER
	RET

DATA iota16<>+0(SB)/4, $0
DATA iota16<>+4(SB)/4, $1
DATA iota16<>+8(SB)/4, $2
DATA iota16<>+12(SB)/4, $3
DATA iota16<>+16(SB)/4, $4
DATA iota16<>+20(SB)/4, $5
DATA iota16<>+24(SB)/4, $6
DATA iota16<>+28(SB)/4, $7
DATA iota16<>+32(SB)/4, $8
DATA iota16<>+36(SB)/4, $9
DATA iota16<>+40(SB)/4, $10
DATA iota16<>+44(SB)/4, $11
DATA iota16<>+48(SB)/4, $12
DATA iota16<>+52(SB)/4, $13
DATA iota16<>+56(SB)/4, $14
DATA iota16<>+60(SB)/4, $15
GLOBL iota16<>(SB), RODATA|NOPTR, $64

// func packTransAVX512(dst, src *float32, srs uintptr, kc int, colMask uint32)
//
// dst[p·32 + j] = src[j·srs/4 + p] for p < kc and the columns j set in colMask, 0 for the others:
// kc rows of 32 from up to 32 source rows srs bytes apart (srs·31 < 2³¹).
TEXT ·packTransAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+24(FP), CX
	MOVL colMask+32(FP), AX
	KMOVW AX, K3
	SHRL $16, AX
	KMOVW AX, K4
	VPBROADCASTD srs+16(FP), Z6
	VMOVDQU32 iota16<>(SB), Z4
	VPMULLD Z6, Z4, Z4    // offsets of rows 0..15
	VPSLLD $4, Z6, Z7
	VPADDD Z7, Z4, Z5     // rows 16..31
	TESTQ CX, CX
	JZ tdone

trans:
	KMOVW K3, K1
	KMOVW K4, K2
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VGATHERDPS (SI)(Z4*1), K1, Z0
	VGATHERDPS (SI)(Z5*1), K2, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, SI
	ADDQ $128, DI
	DECQ CX
	JNZ trans

tdone:
	VZEROUPPER
	RET

// func nf4DecodeGroupsAVX512(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32)
//
// For r < rows and g < groups: dst[r·dstStride + 16g + i] = table[code]·scales[r·groups + g], code
// the i-th of the 16 codes at src + r·srcStride + 8g (two a byte, the first in the high nibble);
// strides in bytes. The products are the float32 ones of nf4's dequantization.
TEXT ·nf4DecodeGroupsAVX512(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	MOVQ rows+32(FP), CX
	MOVQ groups+40(FP), R10
	MOVQ scales+48(FP), DX
	MOVQ table+56(FP), AX
	VMOVUPS (AX), Z5
	MOVL $0x000F000F, AX
	VPBROADCASTD AX, X15
	TESTQ CX, CX
	JZ gdone
	TESTQ R10, R10
	JZ gdone

growloop:
	MOVQ DI, R11
	MOVQ SI, R12
	MOVQ R10, BX

ggroup:
	VBROADCASTSS (DX), Z6
	VMULPS Z6, Z5, Z7     // the table scaled by the block's absmax
	VPMOVZXBW (R12), X1
	VPSRLW $4, X1, X2
	VPANDD X15, X1, X3
	VPSLLW $8, X3, X3
	VPORD X3, X2, X1
	VPMOVZXBD X1, Z1
	VPERMPS Z7, Z1, Z2
	VMOVUPS Z2, (R11)
	ADDQ $4, DX
	ADDQ $8, R12
	ADDQ $64, R11
	DECQ BX
	JNZ ggroup
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JNZ growloop

gdone:
	VZEROUPPER
	RET
