// Entry and exit paths of the library OS (CPL 3). See doc.go.
//
// Every entry (syscall, trap, upcall) sets the busy flag first, switches to
// the kernel stack, saves the user registers into *curRegs, switches FS to
// the kernel TLS and calls a Go function through its ABI0 wrapper (which
// loads R14 from -8(FS), i.e. the kernel g). Every exit goes through resume,
// which restores *curRegs (possibly another thread's) and IRETQs at CPL 3.

#include "go_asm.h"
#include "textflag.h"

#define BUSY ·upcall+const_upcallBusyOff(SB)

// SAVE_GPRS saves every general register but RSP/RIP/RFLAGS into *curRegs.
// On entry the user's R11 is on the kernel stack; clobbers R11 and AX after
// saving them.
#define SAVE_GPRS \
	MOVQ	·curRegs(SB), R11; \
	MOVQ	AX, regs_rax(R11); \
	MOVQ	BX, regs_rbx(R11); \
	MOVQ	CX, regs_rcx(R11); \
	MOVQ	DX, regs_rdx(R11); \
	MOVQ	SI, regs_rsi(R11); \
	MOVQ	DI, regs_rdi(R11); \
	MOVQ	BP, regs_rbp(R11); \
	MOVQ	R8, regs_r8(R11); \
	MOVQ	R9, regs_r9(R11); \
	MOVQ	R10, regs_r10(R11); \
	MOVQ	R12, regs_r12(R11); \
	MOVQ	R13, regs_r13(R11); \
	MOVQ	R14, regs_r14(R11); \
	MOVQ	R15, regs_r15(R11); \
	POPQ	AX; \
	MOVQ	AX, regs_r11(R11); \
	RDFSBASEQ	AX; \
	MOVQ	AX, regs_fsbase(R11)

// XSAVE_CUR saves the full extended state (x87, SSE, AVX, AVX-512: every
// component enabled in XCR0) of the interrupted thread into *curFX.
// Clobbers AX, CX, DX.
#define XSAVE_CUR \
	MOVQ	·curFX(SB), CX; \
	MOVL	$-1, AX; \
	MOVL	$-1, DX; \
	XSAVE64	(CX)

// KERNEL_TLS points FS at the kernel TLS (word -8 = &kg).
#define KERNEL_TLS \
	LEAQ	·ktls+8(SB), AX; \
	WRFSBASEQ	AX

// func rt0()
// First instruction of the image (linker -E). The monitor starts us at CPL 3
// with interrupts off and a small boot stack; the runtime has not run.
TEXT ·rt0(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$1, BUSY
	LEAQ	·kstack+const_kstackSize(SB), SP
	KERNEL_TLS
	CALL	·boot(SB)
	JMP	·resume(SB)

// syscallEntry is reached from the zpoline sled at page 0, which already set
// the busy flag. [SP] = return address pushed by CALL *%rax; AX = number.
// RCX and R11 are free (SYSCALL clobbers them).
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	SP, ·userSP(SB)
	LEAQ	·kstack+const_kstackSize(SB), SP
	PUSHQ	R11
	SAVE_GPRS
	PUSHFQ
	POPQ	AX
	MOVQ	AX, regs_rflags(R11)
	MOVQ	·userSP(SB), CX
	MOVQ	(CX), AX
	MOVQ	AX, regs_rip(R11)
	ADDQ	$8, CX
	MOVQ	CX, regs_rsp(R11)
	KERNEL_TLS
	CALL	·syscallGo(SB)
	JMP	·resume(SB)

// trapEntry is where the CPL 0 exception stub IRETQs to, with the user's
// registers (but RIP/RSP/RFLAGS, which are in ·trapInfo) intact.
TEXT ·trapEntry(SB),NOSPLIT|NOFRAME,$0
	CMPQ	BUSY, $0
	JNE	kernelfault
	MOVQ	$1, BUSY
	MOVQ	SP, ·userSP(SB)
	LEAQ	·kstack+const_kstackSize(SB), SP
	PUSHQ	R11
	SAVE_GPRS
	// The rest of the exception frame, from the IST stack.
	MOVQ	$const_istTop, CX
	MOVQ	-56(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_vector(SB)
	MOVQ	-48(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_errcode(SB)
	MOVQ	-32(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_cs(SB)
	MOVQ	-24(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_rflags(SB)
	MOVQ	-16(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_rsp(SB)
	MOVQ	·trapInfo+trapFrame_rip(SB), AX
	MOVQ	AX, regs_rip(R11)
	MOVQ	·trapInfo+trapFrame_rsp(SB), AX
	MOVQ	AX, regs_rsp(R11)
	MOVQ	·trapInfo+trapFrame_rflags(SB), AX
	MOVQ	AX, regs_rflags(R11)
	XSAVE_CUR
	KERNEL_TLS
	CALL	·trapGo(SB)
	JMP	·resume(SB)
kernelfault:
	// A fault inside the library OS itself: report it and stop.
	MOVQ	$const_istTop, CX
	MOVQ	-56(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_vector(SB)
	MOVQ	-48(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_errcode(SB)
	MOVQ	-24(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_rflags(SB)
	MOVQ	-16(CX), AX
	MOVQ	AX, ·trapInfo+trapFrame_rsp(SB)
	LEAQ	·crashStack+const_crashStackSize(SB), SP
	LEAQ	·crashStack+1024(SB), AX
	MOVQ	AX, ·kg+kgStruct_guard0(SB)
	MOVQ	AX, ·kg+kgStruct_guard1(SB)
	KERNEL_TLS
	CALL	·kernelFaultGo(SB)
	// not reached
	BYTE	$0x0f; BYTE $0x0b // UD2

// upcallEntry is where the monitor redirects a preempted vCPU. The monitor
// stored the interrupted RIP/RSP/RFLAGS in ·upcall and only does this when
// the busy flag is clear and RIP is not in page 0 or exitTail.
TEXT ·upcallEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$1, BUSY
	MOVQ	SP, ·userSP(SB)
	LEAQ	·kstack+const_kstackSize(SB), SP
	PUSHQ	R11
	SAVE_GPRS
	MOVQ	·upcall+const_upcallRIPOff(SB), AX
	MOVQ	AX, regs_rip(R11)
	MOVQ	·upcall+const_upcallRSPOff(SB), AX
	MOVQ	AX, regs_rsp(R11)
	MOVQ	·upcall+const_upcallRFLAGSOff(SB), AX
	MOVQ	AX, regs_rflags(R11)
	XSAVE_CUR
	KERNEL_TLS
	CALL	·upcallGo(SB)
	JMP	·resume(SB)

// resume restores the registers of the current thread (*curRegs) and
// returns to it with IRETQ at CPL 3.
TEXT ·resume(SB),NOSPLIT|NOFRAME,$0
	MOVQ	·curRegs(SB), R11
	// FP state, when it was saved asynchronously.
	MOVQ	·curFXValid(SB), AX
	CMPQ	0(AX), $0
	JEQ	nofx
	MOVQ	$0, (AX)
	MOVQ	·curFX(SB), CX
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(CX)
nofx:
	MOVQ	regs_fsbase(R11), AX
	WRFSBASEQ	AX
	LEAQ	·kstack+const_kstackSize(SB), SP
	// Return to the selectors we are running with, not abi.GDTUser*: kvm-pvm
	// runs CPL 3 with its own selectors (0x33/0x2b) and emulates, slowly
	// (~2.4 us), an IRETQ that changes them.
	XORL	AX, AX
	MOVW	SS, AX
	PUSHQ	AX
	PUSHQ	regs_rsp(R11)
	PUSHQ	regs_rflags(R11)
	XORL	AX, AX
	MOVW	CS, AX
	PUSHQ	AX
	PUSHQ	regs_rip(R11)
	MOVQ	regs_rax(R11), AX
	MOVQ	regs_rbx(R11), BX
	MOVQ	regs_rcx(R11), CX
	MOVQ	regs_rdx(R11), DX
	MOVQ	regs_rsi(R11), SI
	MOVQ	regs_rdi(R11), DI
	PUSHQ	regs_rbp(R11) // via the stack: vet's framepointer check
	POPQ	BP
	MOVQ	regs_r8(R11), R8
	MOVQ	regs_r9(R11), R9
	MOVQ	regs_r10(R11), R10
	MOVQ	regs_r12(R11), R12
	MOVQ	regs_r13(R11), R13
	MOVQ	regs_r14(R11), R14
	MOVQ	regs_r15(R11), R15
	MOVQ	regs_r11(R11), R11
	JMP	·exitTail(SB)

// exitTail is the only code that runs with the busy flag clear and kernel
// state on the stack; the monitor never preempts inside it.
TEXT ·exitTail(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$0, BUSY
	IRETQ

// func hypercall(nr uintptr, arg uint64)
// A store to the unbacked hypercall window: KVM_EXIT_MMIO in the monitor.
TEXT ·hypercall(SB),NOSPLIT,$0-16
	MOVQ	nr+0(FP), AX
	SHLQ	$3, AX
	MOVQ	$const_hypercallBase, CX // not an ADDQ immediate: imm32 sign-extends
	ADDQ	CX, AX
	MOVQ	arg+8(FP), BX
	MOVQ	BX, (AX)
	RET

// func rdtsc() uint64
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func xsave(addr uintptr)
TEXT ·xsave(SB),NOSPLIT,$0-8
	MOVQ	addr+0(FP), CX
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(CX)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, a+8(FP)
	MOVL	BX, b+12(FP)
	MOVL	CX, c+16(FP)
	MOVL	DX, d+20(FP)
	RET

// func xgetbv() uint64
TEXT ·xgetbv(SB),NOSPLIT,$0-8
	MOVL	$0, CX
	XGETBV
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func rdrand() (v uint64, ok bool)
TEXT ·rdrand(SB),NOSPLIT,$0-9
	MOVQ	$10, CX
retry:
	RDRANDQ	AX
	JCS	good
	DECQ	CX
	JNZ	retry
	MOVQ	$0, v+0(FP)
	MOVB	$0, ok+8(FP)
	RET
good:
	MOVQ	AX, v+0(FP)
	MOVB	$1, ok+8(FP)
	RET

// func entryAddrs(t *[entryAddrCount]uintptr)
// Addresses of the assembly entry points, for the zpoline page, the IDT and
// the monitor's upcall.
TEXT ·entryAddrs(SB),NOSPLIT,$0-8
	MOVQ	t+0(FP), DI
	LEAQ	·syscallEntry(SB), AX
	MOVQ	AX, 0(DI)
	LEAQ	·upcallEntry(SB), AX
	MOVQ	AX, 8(DI)
	LEAQ	·exitTail(SB), AX
	MOVQ	AX, 16(DI)
	LEAQ	·trapEntry(SB), AX
	MOVQ	AX, 24(DI)
	LEAQ	·upcall+const_upcallBusyOff(SB), AX
	MOVQ	AX, 32(DI)
	LEAQ	_rt0_amd64_linux(SB), AX
	MOVQ	AX, 40(DI)
	RET
