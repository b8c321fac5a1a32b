#include "textflag.h"

// The AVX2 NF4 decoders (gemm_amd64.go declares them): nf4DecodeAVX512's and
// nf4DecodeGroupsAVX512's contracts and bits, the 16-entry table looked up as two halves of 8
// (VPERMPS takes 8) and blended on the code's bit 3.

// CODES16 loads the 16 codes of the 8 bytes at addr, in order (the first of a byte in its high
// nibble), as dwords: codes 0–7 in Y1, 8–15 in Y2. X15 holds 0x000F in every word.
#define CODES16(addr) \
	VPMOVZXBW addr, X1; \
	VPSRLW $4, X1, X2; \
	VPAND X15, X1, X3; \
	VPSLLW $8, X3, X3; \
	VPOR X3, X2, X1; \
	VPSRLDQ $8, X1, X2; \
	VPMOVZXBD X1, Y1; \
	VPMOVZXBD X2, Y2

// LOOKUP8 writes to addr the table entries (low half in lo, high half in hi) of the 8 codes in idx.
#define LOOKUP8(idx, lo, hi, addr) \
	VPERMPS lo, idx, Y9; \
	VPERMPS hi, idx, Y10; \
	VPSLLD $28, idx, Y11; \
	VBLENDVPS Y11, Y10, Y9, Y9; \
	VMOVUPS Y9, addr

// func nf4DecodeAVX2(dst *float32, src *byte, n16 int, table *[16]float32)
TEXT ·nf4DecodeAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n16+16(FP), CX
	MOVQ table+24(FP), AX
	VMOVUPS (AX), Y7
	VMOVUPS 32(AX), Y8
	MOVL $0x000F000F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, X15
	TESTQ CX, CX
	JZ done

decode:
	CODES16((SI))
	LOOKUP8(Y1, Y7, Y8, (DI))
	LOOKUP8(Y2, Y7, Y8, 32(DI))
	ADDQ $8, SI
	ADDQ $64, DI
	DECQ CX
	JNZ decode

done:
	VZEROUPPER
	RET

// func nf4DecodeGroupsAVX2(dst *float32, dstStride uintptr, src *byte, srcStride uintptr, rows, groups int, scales *float32, table *[16]float32)
TEXT ·nf4DecodeGroupsAVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	MOVQ rows+32(FP), CX
	MOVQ groups+40(FP), R10
	MOVQ scales+48(FP), DX
	MOVQ table+56(FP), AX
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	MOVL $0x000F000F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, X15
	TESTQ CX, CX
	JZ gdone
	TESTQ R10, R10
	JZ gdone

growloop:
	MOVQ DI, R11
	MOVQ SI, R12
	MOVQ R10, BX

ggroup:
	VBROADCASTSS (DX), Y6
	VMULPS Y6, Y4, Y7 // the table scaled by the block's absmax, as the AVX-512 kernel does
	VMULPS Y6, Y5, Y8
	CODES16((R12))
	LOOKUP8(Y1, Y7, Y8, (R11))
	LOOKUP8(Y2, Y7, Y8, 32(R11))
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
