// CPL 0 exception stubs. kvm-pvm emulates CPL 0 code instruction by
// instruction, so these do the minimum: record the exception (vector, error
// code, CR2 and the interrupted RIP/CS/RFLAGS/RSP) in ·trapInfo, rewrite the
// interrupt frame to return to ·trapEntry, and IRETQ to CPL 3.
// The IDT (built in trap.go) points vector n at ·trapN, on IST1.

#include "go_asm.h"
#include "textflag.h"

#define NOERR(sym, n) TEXT sym(SB),NOSPLIT|NOFRAME,$0; PUSHQ $0; PUSHQ $n; JMP ·trapCommon0(SB)
#define ERR(sym, n) TEXT sym(SB),NOSPLIT|NOFRAME,$0; PUSHQ $n; JMP ·trapCommon0(SB)

NOERR(·trap0, 0)
NOERR(·trap1, 1)
NOERR(·trap2, 2)
NOERR(·trap3, 3)
NOERR(·trap4, 4)
NOERR(·trap5, 5)
NOERR(·trap6, 6)
NOERR(·trap7, 7)
ERR(·trap8, 8)
NOERR(·trap9, 9)
ERR(·trap10, 10)
ERR(·trap11, 11)
ERR(·trap12, 12)
ERR(·trap13, 13)
ERR(·trap14, 14)
NOERR(·trap15, 15)
NOERR(·trap16, 16)
ERR(·trap17, 17)
NOERR(·trap18, 18)
NOERR(·trap19, 19)
NOERR(·trap20, 20)
ERR(·trap21, 21)
NOERR(·trap22, 22)
NOERR(·trap23, 23)
NOERR(·trap24, 24)
NOERR(·trap25, 25)
NOERR(·trap26, 26)
NOERR(·trap27, 27)
NOERR(·trap28, 28)
ERR(·trap29, 29)
ERR(·trap30, 30)
NOERR(·trap31, 31)

// Stack: 0 vector, 8 error code, 16 RIP, 24 CS, 32 RFLAGS, 40 RSP, 48 SS,
// at the top of the IST1 stack (abi.ISTStackTop). Every instruction here is
// emulated by kvm-pvm, so this saves only what CPL 3 cannot read: CR2, and
// the RIP it replaces. trapEntry copies the rest of the frame from the IST
// stack, which stays mapped and readable at CPL 3.
TEXT ·trapCommon0(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	MOVQ	CR2, AX
	MOVQ	AX, ·trapInfo+trapFrame_cr2(SB)
	MOVQ	24(SP), AX
	MOVQ	AX, ·trapInfo+trapFrame_rip(SB)
	LEAQ	·trapEntry(SB), AX
	MOVQ	AX, 24(SP) // IRETQ to trapEntry, same CS/SS, RSP, RFLAGS
	POPQ	AX
	ADDQ	$16, SP
	IRETQ

// func trapStubAddrs(t *[32]uintptr)
TEXT ·trapStubAddrs(SB),NOSPLIT,$0-8
	MOVQ	t+0(FP), DI
	LEAQ	·trap0(SB), AX
	MOVQ	AX, 0(DI)
	LEAQ	·trap1(SB), AX
	MOVQ	AX, 8(DI)
	LEAQ	·trap2(SB), AX
	MOVQ	AX, 16(DI)
	LEAQ	·trap3(SB), AX
	MOVQ	AX, 24(DI)
	LEAQ	·trap4(SB), AX
	MOVQ	AX, 32(DI)
	LEAQ	·trap5(SB), AX
	MOVQ	AX, 40(DI)
	LEAQ	·trap6(SB), AX
	MOVQ	AX, 48(DI)
	LEAQ	·trap7(SB), AX
	MOVQ	AX, 56(DI)
	LEAQ	·trap8(SB), AX
	MOVQ	AX, 64(DI)
	LEAQ	·trap9(SB), AX
	MOVQ	AX, 72(DI)
	LEAQ	·trap10(SB), AX
	MOVQ	AX, 80(DI)
	LEAQ	·trap11(SB), AX
	MOVQ	AX, 88(DI)
	LEAQ	·trap12(SB), AX
	MOVQ	AX, 96(DI)
	LEAQ	·trap13(SB), AX
	MOVQ	AX, 104(DI)
	LEAQ	·trap14(SB), AX
	MOVQ	AX, 112(DI)
	LEAQ	·trap15(SB), AX
	MOVQ	AX, 120(DI)
	LEAQ	·trap16(SB), AX
	MOVQ	AX, 128(DI)
	LEAQ	·trap17(SB), AX
	MOVQ	AX, 136(DI)
	LEAQ	·trap18(SB), AX
	MOVQ	AX, 144(DI)
	LEAQ	·trap19(SB), AX
	MOVQ	AX, 152(DI)
	LEAQ	·trap20(SB), AX
	MOVQ	AX, 160(DI)
	LEAQ	·trap21(SB), AX
	MOVQ	AX, 168(DI)
	LEAQ	·trap22(SB), AX
	MOVQ	AX, 176(DI)
	LEAQ	·trap23(SB), AX
	MOVQ	AX, 184(DI)
	LEAQ	·trap24(SB), AX
	MOVQ	AX, 192(DI)
	LEAQ	·trap25(SB), AX
	MOVQ	AX, 200(DI)
	LEAQ	·trap26(SB), AX
	MOVQ	AX, 208(DI)
	LEAQ	·trap27(SB), AX
	MOVQ	AX, 216(DI)
	LEAQ	·trap28(SB), AX
	MOVQ	AX, 224(DI)
	LEAQ	·trap29(SB), AX
	MOVQ	AX, 232(DI)
	LEAQ	·trap30(SB), AX
	MOVQ	AX, 240(DI)
	LEAQ	·trap31(SB), AX
	MOVQ	AX, 248(DI)
	RET
