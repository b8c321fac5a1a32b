#include "textflag.h"

// The AVX2 + FMA micro-kernel of the float32 Gemm, for x86 CPUs without AVX-512 (gemm_amd64.go
// declares it; its contract is sgemm12x32AVX512's, and it computes the same bits).
//
// With 16 YMM registers the 12×32 tile does not fit at once (it takes 48), so the kernel makes up
// to four passes of 3 rows × 32 columns: 12 accumulators (Y0–Y11, row r's four vectors in
// Y4r..Y4r+3), the three rows' a elements broadcast (Y12–Y14), and one vector of b at a time (Y15),
// which the three rows then use. A pass whose three rows are all outside rowMask is skipped. Each
// pass walks k from the start, so every element of c is the same chain of fused multiply-adds, in
// the same order, as in the AVX-512 kernel, and the final alpha·s + beta·c the same three roundings;
// each instruction has its operands in the AVX-512 kernel's places (which decides the NaN that
// comes out when several go in).
//
// When colMask is not all 32 columns, b and c are read and written with VMASKMOVPS under the masks
// of the four vectors, kept in the frame (0–127(SP)), so no column outside colMask is touched. Full
// tiles use plain loads and stores: VMASKMOVPS stores are slow on AMD's cores.

// FMA3 adds the b vector in Y15 times the broadcast a elements of the three rows to their
// accumulators of one vector of columns.
#define FMA3(acc0, acc1, acc2) \
	VFMADD231PS Y12, Y15, acc0; \
	VFMADD231PS Y13, Y15, acc1; \
	VFMADD231PS Y14, Y15, acc2

// BROADCASTA loads the three rows' a elements at displacement d from SI (rows R10 bytes apart).
#define BROADCASTA(d) \
	VBROADCASTSS d(SI), Y12; \
	VBROADCASTSS d(SI)(R10*1), Y13; \
	VBROADCASTSS d(SI)(R10*2), Y14

// STEP is one step of k over all 32 columns: b at DX, a at displacement d from SI.
#define STEP(d) \
	BROADCASTA(d); \
	VMOVUPS (DX), Y15; \
	FMA3(Y0, Y4, Y8); \
	VMOVUPS 32(DX), Y15; \
	FMA3(Y1, Y5, Y9); \
	VMOVUPS 64(DX), Y15; \
	FMA3(Y2, Y6, Y10); \
	VMOVUPS 96(DX), Y15; \
	FMA3(Y3, Y7, Y11)

// MLOADB loads the b vector at displacement d from DX into Y15 under the column mask at d(SP).
#define MLOADB(d) \
	VMOVDQU d(SP), Y15; \
	VMASKMOVPS d(DX), Y15, Y15

// MSTEP is STEP reading b only in the columns of colMask (the others are zero).
#define MSTEP \
	BROADCASTA(0); \
	MLOADB(0); \
	FMA3(Y0, Y4, Y8); \
	MLOADB(32); \
	FMA3(Y1, Y5, Y9); \
	MLOADB(64); \
	FMA3(Y2, Y6, Y10); \
	MLOADB(96); \
	FMA3(Y3, Y7, Y11)

// MHSTEP is MSTEP for a colMask within the first 16 columns: half the loads and multiply-adds.
#define MHSTEP \
	BROADCASTA(0); \
	MLOADB(0); \
	FMA3(Y0, Y4, Y8); \
	MLOADB(32); \
	FMA3(Y1, Y5, Y9)

// LOADACC / SAVEACC move the 12 accumulators from / to the pass's 3 rows of 32 sums at DI.
#define LOADACC \
	VMOVUPS 0(DI), Y0; VMOVUPS 32(DI), Y1; VMOVUPS 64(DI), Y2; VMOVUPS 96(DI), Y3; \
	VMOVUPS 128(DI), Y4; VMOVUPS 160(DI), Y5; VMOVUPS 192(DI), Y6; VMOVUPS 224(DI), Y7; \
	VMOVUPS 256(DI), Y8; VMOVUPS 288(DI), Y9; VMOVUPS 320(DI), Y10; VMOVUPS 352(DI), Y11

#define SAVEACC \
	VMOVUPS Y0, 0(DI); VMOVUPS Y1, 32(DI); VMOVUPS Y2, 64(DI); VMOVUPS Y3, 96(DI); \
	VMOVUPS Y4, 128(DI); VMOVUPS Y5, 160(DI); VMOVUPS Y6, 192(DI); VMOVUPS Y7, 224(DI); \
	VMOVUPS Y8, 256(DI); VMOVUPS Y9, 288(DI); VMOVUPS Y10, 320(DI); VMOVUPS Y11, 352(DI)

// The stores of one vector of a row of c at displacement d from BX, alpha in Y12 and beta in Y13,
// with the AVX-512 kernel's operations in its order: acc·alpha, then c·beta added to it.
// STOREV: all columns; STOREV0: beta == 0, c not read; MSTOREV, MSTOREV0: under the column mask
// at d(SP).
#define STOREV(d, acc) \
	VMULPS Y12, acc, acc; \
	VMOVUPS d(BX), Y14; \
	VMULPS Y13, Y14, Y14; \
	VADDPS Y14, acc, acc; \
	VMOVUPS acc, d(BX)

#define STOREV0(d, acc) \
	VMULPS Y12, acc, acc; \
	VMOVUPS acc, d(BX)

#define MSTOREV(d, acc) \
	VMOVDQU d(SP), Y15; \
	VMULPS Y12, acc, acc; \
	VMASKMOVPS d(BX), Y15, Y14; \
	VMULPS Y13, Y14, Y14; \
	VADDPS Y14, acc, acc; \
	VMASKMOVPS acc, Y15, d(BX)

#define MSTOREV0(d, acc) \
	VMOVDQU d(SP), Y15; \
	VMULPS Y12, acc, acc; \
	VMASKMOVPS acc, Y15, d(BX)

// STOREROWS writes the pass's rows of c set in R14's low 3 bits, row r from its accumulators
// Y4r..Y4r+3 with the vector store macro v; BX walks the rows of c by R13 from R8; l1–l3 are
// labels.
#define STOREROWS(v, l1, l2, l3) \
	MOVQ R8, BX; \
	BTL $0, R14; \
	JCC l1; \
	v(0, Y0); v(32, Y1); v(64, Y2); v(96, Y3); \
l1: \
	ADDQ R13, BX; \
	BTL $1, R14; \
	JCC l2; \
	v(0, Y4); v(32, Y5); v(64, Y6); v(96, Y7); \
l2: \
	ADDQ R13, BX; \
	BTL $2, R14; \
	JCC l3; \
	v(0, Y8); v(32, Y9); v(64, Y10); v(96, Y11); \
l3: \
	JMP next

DATA iota8<>+0(SB)/4, $0
DATA iota8<>+4(SB)/4, $1
DATA iota8<>+8(SB)/4, $2
DATA iota8<>+12(SB)/4, $3
DATA iota8<>+16(SB)/4, $4
DATA iota8<>+20(SB)/4, $5
DATA iota8<>+24(SB)/4, $6
DATA iota8<>+28(SB)/4, $7
GLOBL iota8<>(SB), RODATA|NOPTR, $32

// COLMASK stores at d(SP) the mask of the 8 columns whose bits are the low byte of Y15's lanes
// (lane j all ones when bit j is set; Y13 holds 1<<j in lane j), then moves the next byte down.
#define COLMASK(d) \
	VPAND Y13, Y15, Y14; \
	VPCMPEQD Y13, Y14, Y14; \
	VMOVDQU Y14, d(SP); \
	VPSRLD $8, Y15, Y15

// func sgemm12x32AVX2(kc int, a *float32, ars, aps uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, rowMask, colMask uint32, alpha, beta float32, acc *float32, flags int)
TEXT ·sgemm12x32AVX2(SB), NOSPLIT, $128-96
	MOVL colMask+68(FP), AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPCMPEQD Y13, Y13, Y13
	VPSRLD $31, Y13, Y13
	VPSLLVD iota8<>(SB), Y13, Y13
	COLMASK(0)
	COLMASK(32)
	COLMASK(64)
	COLMASK(96)

	MOVQ a+8(FP), R9 // a's first row of the pass
	MOVQ ars+16(FP), R10
	MOVQ aps+24(FP), R11
	MOVQ bs+40(FP), R12
	MOVQ c+48(FP), R8 // c's first row of the pass
	MOVQ ldc+56(FP), R13
	MOVQ acc+80(FP), DI // acc's first row of the pass
	MOVL rowMask+64(FP), R14 // the rows left, the pass's in the low 3 bits
	ANDL $0xfff, R14         // (bits above 11 name no row)
	JZ done

pass:
	TESTL $7, R14
	JZ next
	MOVQ kc+0(FP), CX
	MOVQ R9, SI
	MOVQ b+32(FP), DX
	MOVQ flags+88(FP), AX
	TESTQ $1, AX
	JZ zero
	LOADACC
	JMP ready

zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

ready:
	TESTQ CX, CX
	JZ store
	CMPL colMask+68(FP), $-1
	JNE masked

	// All 32 columns: four steps of k at a time when the rows of a are contiguous in k.
	CMPQ R11, $4
	JNE full1
	CMPQ CX, $4
	JLT full1

full4:
	STEP(0)
	ADDQ R12, DX
	STEP(4)
	ADDQ R12, DX
	STEP(8)
	ADDQ R12, DX
	STEP(12)
	ADDQ R12, DX
	ADDQ $16, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE full4
	TESTQ CX, CX
	JZ store

full1:
	STEP(0)
	ADDQ R11, SI
	ADDQ R12, DX
	DECQ CX
	JNZ full1
	JMP store

masked:
	TESTL $0xffff0000, colMask+68(FP)
	JZ mhalf

mfull:
	MSTEP
	ADDQ R11, SI
	ADDQ R12, DX
	DECQ CX
	JNZ mfull
	JMP store

mhalf:
	MHSTEP
	ADDQ R11, SI
	ADDQ R12, DX
	DECQ CX
	JNZ mhalf

store:
	MOVQ flags+88(FP), AX
	TESTQ $2, AX
	JZ final
	SAVEACC
	JMP next

final:
	VBROADCASTSS alpha+72(FP), Y12
	VBROADCASTSS beta+76(FP), Y13
	MOVL beta+76(FP), AX
	ANDL $0x7fffffff, AX
	JZ final0
	CMPL colMask+68(FP), $-1
	JNE mfinal
	STOREROWS(STOREV, s1, s2, s3)

mfinal:
	STOREROWS(MSTOREV, m1, m2, m3)

final0:
	CMPL colMask+68(FP), $-1
	JNE mfinal0
	STOREROWS(STOREV0, z1, z2, z3)

mfinal0:
	STOREROWS(MSTOREV0, y1, y2, y3)

next:
	LEAQ (R9)(R10*2), R9 // three rows down
	ADDQ R10, R9
	LEAQ (R8)(R13*2), R8
	ADDQ R13, R8
	ADDQ $384, DI // 3 rows of 32 sums
	SHRL $3, R14
	JNZ pass

done:
	VZEROUPPER
	RET

// func packTrans8AVX2(dst, src *float32, srs uintptr, blocks int)
//
// dst[p·32 + j] = src[j·srs/4 + p] for j < 8 and p < 8·blocks: 8 columns of gemm.go's packed panel
// from 8 source rows srs bytes apart, as 8×8 blocks transposed in registers (Y0–Y7 the rows of
// the block, Y8–Y15 their pairs interleaved, then Y0–Y7 their quadruples).
TEXT ·packTrans8AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ srs+16(FP), BX
	MOVQ blocks+24(FP), CX
	LEAQ (BX)(BX*2), R8 // 3·srs
	LEAQ (SI)(BX*4), R9 // source row 4
	TESTQ CX, CX
	JZ p8done

p8loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(BX*1), Y1
	VMOVUPS (SI)(BX*2), Y2
	VMOVUPS (SI)(R8*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R9)(BX*1), Y5
	VMOVUPS (R9)(BX*2), Y6
	VMOVUPS (R9)(R8*1), Y7
	VUNPCKLPS Y1, Y0, Y8 // per 128-bit half: r0[0] r1[0] r0[1] r1[1]
	VUNPCKHPS Y1, Y0, Y9 // r0[2] r1[2] r0[3] r1[3]
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0 // per half: r0..r3 at [0]
	VSHUFPS $0xee, Y10, Y8, Y1 // at [1]
	VSHUFPS $0x44, Y11, Y9, Y2 // at [2]
	VSHUFPS $0xee, Y11, Y9, Y3 // at [3]
	VSHUFPS $0x44, Y14, Y12, Y4 // r4..r7 at [0]
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8 // r0..r7 at [0]: the low halves
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12 // at [4]: the high halves
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 128(DI)
	VMOVUPS Y10, 256(DI)
	VMOVUPS Y11, 384(DI)
	VMOVUPS Y12, 512(DI)
	VMOVUPS Y13, 640(DI)
	VMOVUPS Y14, 768(DI)
	VMOVUPS Y15, 896(DI)
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $1024, DI
	DECQ CX
	JNZ p8loop

p8done:
	VZEROUPPER
	RET
