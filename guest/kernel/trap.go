package kernel

import "brique.dev/brique/abi"

// CPU exceptions. The IDT sends every vector to a CPL 0 stub
// (trap0_amd64.s) on IST1 that records the exception and IRETQs to
// trapEntry at CPL 3. Page faults in a mapping are resolved here; other
// exceptions become the signals Linux would send (SIGSEGV, SIGFPE, ...), so
// a nil dereference or division by zero panics in Go as it does on Linux.

// x86 exception vectors (Intel SDM Vol. 3A, 6.3.1).
const (
	vecDE = 0
	vecDB = 1
	vecBP = 3
	vecUD = 6
	vecNM = 7
	vecDF = 8
	vecGP = 13
	vecPF = 14
	vecMF = 16
	vecAC = 17
	vecXM = 19
)

func idtInit() {
	var stubs [32]uintptr
	trapStubAddrs(&stubs)
	for v := uintptr(0); v < 32; v++ {
		h := stubs[v]
		g := uintptr(abi.IDTAddr) + v*16
		// 64-bit interrupt gate, DPL 0, IST 1 (Intel SDM Vol. 3A, 6.14.1).
		store16(g, uint16(h))
		store16(g+2, abi.GDTKernelCode)
		store8(g+4, 1)    // IST
		store8(g+5, 0x8E) // present, DPL 0, type 0xE
		store16(g+6, uint16(h>>16))
		store32(g+8, uint32(h>>32))
		store32(g+12, 0)
	}
}

// Linux si_code values for synchronous signals.
const (
	segvMaperr = 1
	segvAccerr = 2
	fpeIntdiv  = 1
	illIllopc  = 1
	busAdraln  = 1
	trapBrkpt  = 1
)

// trapGo handles an exception in user code (the current thread).
func trapGo() {
	t := &threads[cur]
	t.fxValid = 1
	ti := &trapInfo
	if ti.cs&3 == 0 {
		crashWith(abi.CrashException, ti.vector, ti.errcode, ti.cr2, &t.regs, "exception at CPL 0 (library OS stub)")
	}
	var sig int
	var code int32
	addr := ti.rip
	switch ti.vector {
	case vecPF:
		nFaults++
		if bootFlags&abi.BootFlagStrace != 0 {
			logInt(nanotime() / 1000)
			logStr("us page fault at ")
			logHex(ti.cr2)
			logFlush()
		}
		if pageFault(uintptr(ti.cr2), ti.errcode) {
			return
		}
		sig, code, addr = sigSEGV, segvMaperr, ti.cr2
		if ti.errcode&ptePresent != 0 {
			code = segvAccerr
		}
	case vecGP:
		// Linux reports SI_KERNEL here; we report a nil dereference
		// (SEGV_MAPERR at 0) because page 0 is readable (the zpoline
		// sled): a nil struct's pointer fields read as 0x9090...,
		// non-canonical, and the fault comes when that value is used.
		// Go then panics with its usual, recoverable nil pointer error.
		sig, code, addr = sigSEGV, segvMaperr, 0
	case vecDE:
		sig, code = sigFPE, fpeIntdiv
	case vecMF, vecXM:
		sig, code = sigFPE, 0
	case vecUD:
		sig, code = sigILL, illIllopc
	case vecAC:
		sig, code = sigBUS, busAdraln
	case vecBP, vecDB:
		sig, code = sigTRAP, trapBrkpt
	default:
		crashWith(abi.CrashException, ti.vector, ti.errcode, ti.cr2, &t.regs, "unexpected CPU exception")
	}
	// A synchronous signal cannot wait: if it is blocked or has no handler
	// the program dies, with the fault reported.
	a := sigActions[sig]
	if a.handler == sigDFL || a.handler == sigIGN || t.sigmask&sigBit(sig) != 0 {
		crashWith(abi.CrashException, ti.vector, ti.errcode, ti.cr2, &t.regs, "fatal signal: no handler installed")
	}
	deliver(t, sig, code, addr)
}

// kernelFaultGo handles an exception raised by the library OS itself. The
// kernel's registers at the fault are lost; the report has RIP, RSP and the
// fault address.
func kernelFaultGo() {
	ti := &trapInfo
	var r regs
	r.rip, r.rsp, r.rflags = ti.rip, ti.rsp, ti.rflags
	crashWith(abi.CrashException, ti.vector, ti.errcode, ti.cr2, &r, "fault inside the library OS")
}
