//go:build amd64

#include "textflag.h"

// func dwRowS1AVX512(y, x, w *float32, n, kw int)
//
// y[o] += Σ_{k<kw} w[k]·x[o+k] for o < n (n, kw ≥ 1; x holds n+kw-1
// floats). 16 outputs per step; the last partial step is masked, so no
// element past y[n-1] or x[n+kw-2] is touched.
// General registers: DI y, SI x (both at the current step), DX w, CX
// outputs left, R8 kw; AX x and BX w for the kernel loop, R9 taps left.
// Vector registers: Z0 accumulator, Z1 broadcast tap, Z2 masked x; K1 mask.
TEXT ·dwRowS1AVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ kw+32(FP), R8
dwrow_loop16:
	CMPQ CX, $16
	JLT dwrow_tail
	VMOVUPS (DI), Z0
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R8, R9
dwrow_taps16:
	VBROADCASTSS (BX), Z1
	VFMADD231PS (AX), Z1, Z0
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ R9
	JNZ dwrow_taps16
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP dwrow_loop16
dwrow_tail:
	TESTQ CX, CX
	JZ dwrow_done
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (DI), K1, Z0
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R8, R9
dwrow_tapstail:
	VBROADCASTSS (BX), Z1
	VMOVUPS.Z (AX), K1, Z2
	VFMADD231PS Z2, Z1, Z0
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ R9
	JNZ dwrow_tapstail
	VMOVUPS Z0, K1, (DI)
dwrow_done:
	VZEROUPPER
	RET
