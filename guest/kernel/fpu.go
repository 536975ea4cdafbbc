package kernel

import "brique.dev/brique/abi"

// Extended (FP/SIMD) state. A thread interrupted asynchronously (upcall,
// exception) gets its whole state saved with XSAVE: every component the
// CPU has enabled in XCR0. On kvm-pvm CPUID and XGETBV at CPL 3 are not
// intercepted, so the Go runtime sees the host's AVX/AVX2/AVX-512 and uses
// them; FXSAVE would lose the upper halves of the vector registers.
// Across system calls the state is not saved: the Go ABI treats every
// vector register as clobbered by a call (X15 is re-zeroed by the wrappers
// and by the kernel's own Go code).

var (
	xsaveSize uintptr // bytes of the XSAVE area for XCR0's components
	xcr0      uint64
)

func fpuInit() {
	_, _, c, _ := cpuid(1, 0)
	if c&(1<<27) == 0 { // OSXSAVE
		crash(abi.CrashInternal, 0, "the CPU does not have XSAVE enabled")
	}
	xcr0 = xgetbv()
	_, b, _, _ := cpuid(0xD, 0)
	xsaveSize = uintptr(b+63) &^ 63
	if xsaveSize < 576 || xsaveSize > abi.PageSize {
		crash(abi.CrashInternal, uint64(xsaveSize), "unsupported XSAVE area size")
	}
}

// sanitizeXsave makes an XSAVE area taken from user memory (a signal
// frame) acceptable to XRSTOR, which faults on reserved bits.
func sanitizeXsave(a uintptr) {
	store32(a+24, load32(a+24)&0xFFFF) // MXCSR reserved bits
	bv := load64(a+512) & xcr0         // XSTATE_BV
	store64(a+512, bv)
	memclr(a+520, 56) // XCOMP_BV (standard format) and reserved bytes
}
