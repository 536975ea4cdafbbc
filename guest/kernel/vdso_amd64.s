#include "textflag.h"

// vdsoClockGettime is the library OS's vDSO clock_gettime (vdso.go): the
// C calling convention (DI = clock, SI = struct timespec *, AX = 0 on
// return), called by the Go runtime on the g0 stack instead of making a
// system call. It may clobber AX, CX, DX, SI, DI and R8-R11 only (BX, R12
// and the others are callee-saved in C, and the runtime relies on it).
// CLOCK_REALTIME (0, 5), CLOCK_MONOTONIC (1, 4, 6) and CLOCK_BOOTTIME (7)
// come from the TSC as in clock.go; other clocks make the system call.
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0
	CMPQ	DI, $7
	JA	slow
	CMPQ	DI, $2
	JEQ	slow
	CMPQ	DI, $3
	JEQ	slow
	MOVQ	DI, R8 // the clock, for the realtime test
	MOVQ	SI, R9 // the result
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	·tsc0(SB), AX
	MULQ	·tscMult(SB) // DX:AX = ticks * ns per tick (32.32)
	SHRQ	$32, AX
	SHLQ	$32, DX
	ORQ	DX, AX // ns since boot
	CMPQ	R8, $0
	JEQ	wall
	CMPQ	R8, $5
	JNE	split
wall:
	ADDQ	·wall0(SB), AX
split:
	XORL	DX, DX
	MOVQ	$1000000000, R10
	DIVQ	R10
	MOVQ	AX, 0(R9)
	MOVQ	DX, 8(R9)
	XORL	AX, AX
	RET
slow:
	MOVL	$228, AX // clock_gettime
	SYSCALL
	RET

// func vdsoClockGettimeAddr() uintptr
TEXT ·vdsoClockGettimeAddr(SB),NOSPLIT,$0-8
	LEAQ	·vdsoClockGettime(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
