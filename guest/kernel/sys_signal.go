package kernel

import "brique.dev/brique/abi"

// Linux signals for the Go runtime: rt_sigaction, rt_sigprocmask,
// sigaltstack, tgkill and the x86-64 rt_sigframe (arch/x86/kernel/signal.c,
// arch/x86/include/uapi/asm/sigcontext.h). Go's asynchronous preemption
// (SIGURG) and os/signal rely on them.

const (
	sigINT   = 2
	sigILL   = 4
	sigTRAP  = 5
	sigBUS   = 7
	sigFPE   = 8
	sigKILL  = 9
	sigSEGV  = 11
	sigTERM  = 15
	sigCHLD  = 17
	sigCONT  = 18
	sigSTOP  = 19
	sigURG   = 23
	sigWINCH = 28
	nSig     = 64

	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000
	saRestorer  = 0x04000000

	sigDFL = 0
	sigIGN = 1

	siUser   = 0
	siKernel = 0x80
	siTkill  = -6

	ssOnstack = 1
	ssDisable = 2
)

type sigAction struct {
	handler, flags, restorer, mask uint64
}

var sigActions [nSig + 1]sigAction

// sysRtSigactionImpl implements rt_sigaction(2).
func sysRtSigactionImpl(t *thread) int64 {
	sig, act, old := int(t.regs.rdi), uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if sig < 1 || sig > nSig || t.regs.r10 != 8 {
		return -eINVAL
	}
	if old != 0 {
		if !userPrepare(old, 32, true) {
			return -eFAULT
		}
		a := sigActions[sig]
		store64(old, a.handler)
		store64(old+8, a.flags)
		store64(old+16, a.restorer)
		store64(old+24, a.mask)
	}
	if act != 0 {
		if sig == sigKILL || sig == sigSTOP {
			return -eINVAL
		}
		if !userPrepare(act, 32, false) {
			return -eFAULT
		}
		sigActions[sig] = sigAction{load64(act), load64(act + 8), load64(act + 16), load64(act + 24)}
	}
	return 0
}

// sysRtSigprocmaskImpl implements rt_sigprocmask(2).
func sysRtSigprocmaskImpl(t *thread) int64 {
	how, set, old := t.regs.rdi, uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if t.regs.r10 != 8 {
		return -eINVAL
	}
	if old != 0 {
		if !userPrepare(old, 8, true) {
			return -eFAULT
		}
		store64(old, t.sigmask)
	}
	if set != 0 {
		if !userPrepare(set, 8, false) {
			return -eFAULT
		}
		s := load64(set)
		switch how {
		case 0: // SIG_BLOCK
			t.sigmask |= s
		case 1: // SIG_UNBLOCK
			t.sigmask &^= s
		case 2: // SIG_SETMASK
			t.sigmask = s
		default:
			return -eINVAL
		}
		t.sigmask &^= sigBit(sigKILL) | sigBit(sigSTOP)
	}
	return 0
}

func sigBit(sig int) uint64 { return 1 << uint(sig-1) }

// sysSigaltstackImpl implements sigaltstack(2).
func sysSigaltstackImpl(t *thread) int64 {
	ss, old := uintptr(t.regs.rdi), uintptr(t.regs.rsi)
	if old != 0 {
		if !userPrepare(old, 24, true) {
			return -eFAULT
		}
		flags := uint32(0)
		switch {
		case t.altSize == 0:
			flags = ssDisable
		case onAltStack(t, uintptr(t.regs.rsp)):
			flags = ssOnstack
		}
		store64(old, uint64(t.altSP))
		store64(old+8, uint64(flags))
		store64(old+16, uint64(t.altSize))
	}
	if ss != 0 {
		if !userPrepare(ss, 24, false) {
			return -eFAULT
		}
		if onAltStack(t, uintptr(t.regs.rsp)) {
			return -ePERM
		}
		flags := load32(ss + 8)
		if flags&ssDisable != 0 {
			t.altSP, t.altSize = 0, 0
		} else {
			t.altSP, t.altSize = uintptr(load64(ss)), uintptr(load64(ss+16))
		}
	}
	return 0
}

func onAltStack(t *thread, sp uintptr) bool {
	return t.altSize != 0 && sp > t.altSP && sp <= t.altSP+t.altSize
}

// sysTgkillImpl implements tgkill(2).
func sysTgkillImpl(t *thread) int64 {
	return signalThread(int64(t.regs.rsi), int(t.regs.rdx))
}

// sysTkillImpl implements tkill(2).
func sysTkillImpl(t *thread) int64 {
	return signalThread(int64(t.regs.rdi), int(t.regs.rsi))
}

// sysKillImpl implements kill(2) for the program itself (pid 1 or 0).
func sysKillImpl(t *thread) int64 {
	pid, sig := int64(t.regs.rdi), int(t.regs.rsi)
	if pid != 1 && pid != 0 && pid != -1 {
		return -eSRCH
	}
	if sig < 0 || sig > nSig {
		return -eINVAL
	}
	if sig == 0 {
		return 0
	}
	signalProcess(sig)
	return 0
}

func signalThread(tid int64, sig int) int64 {
	if sig < 0 || sig > nSig {
		return -eINVAL
	}
	d := findThread(tid)
	if d == nil {
		return -eSRCH
	}
	if sig != 0 {
		post(d, sig)
	}
	return 0
}

// post makes sig pending on d; a blocked thread that does not block the
// signal is interrupted (its call returns EINTR), as Linux does, except
// for SIGURG which Go only uses to preempt running code. A service thread
// waiting for requests holds its P (SysSvcWait is a raw system call), so
// Go's preemption must reach it there too.
func post(d *thread, sig int) {
	d.sigpending |= sigBit(sig)
	if d.state == thBlocked && d.sigmask&sigBit(sig) == 0 && (sig != sigURG || d.wait == waitSvcNext) {
		d.interrupt = true
		wake(d)
	}
}

// signalProcess delivers a process-directed signal to one thread that does
// not block it, preferring a runnable one.
func signalProcess(sig int) {
	var pick *thread
	for i := range threads[:threadsHi] {
		d := &threads[i]
		if d.state == thFree || d.sigmask&sigBit(sig) != 0 {
			continue
		}
		if pick == nil || d.state == thRunnable && pick.state != thRunnable {
			pick = d
		}
	}
	if pick == nil {
		pick = &threads[0]
		for i := range threads[:threadsHi] {
			if threads[i].state != thFree {
				pick = &threads[i]
				break
			}
		}
	}
	post(pick, sig)
}

// checkHostSignal turns a signal the monitor received (Ctrl-C, docker-stop
// style SIGTERM) into a process-directed signal.
func checkHostSignal() {
	a := uintptr(abi.BootInfoAddr + abi.BootInfoSignal)
	if sig := int(load64(a)); sig != 0 {
		store64(a, 0)
		if sig > 0 && sig <= nSig {
			signalProcess(sig)
		}
	}
}

// deliverSignals runs the handler of the lowest pending, unblocked signal
// of t (which is current and about to resume).
func deliverSignals(t *thread) {
	for {
		p := t.sigpending &^ t.sigmask
		if p == 0 {
			return
		}
		sig := 1
		for p&1 == 0 {
			p >>= 1
			sig++
		}
		t.sigpending &^= sigBit(sig)
		if deliver(t, sig, siTkill, 0) {
			return
		}
	}
}

// deliver sets t up to run sig's handler; it returns false if the signal
// was ignored. Default actions terminate the program like Linux would.
func deliver(t *thread, sig int, code int32, addr uint64) bool {
	a := sigActions[sig]
	switch a.handler {
	case sigIGN:
		return false
	case sigDFL:
		switch sig {
		case sigCHLD, sigURG, sigWINCH, sigCONT:
			return false
		}
		exitVM(128 + sig)
	}
	fx := t.fxp
	if t.fxValid == 0 {
		xsave(fx) // FP state is dead across a system call: save what is there
	}
	sp := uintptr(t.regs.rsp)
	if a.flags&saOnstack != 0 && t.altSize != 0 && !onAltStack(t, sp) {
		sp = t.altSP + t.altSize
	} else {
		sp -= 128 // red zone
	}
	sp -= xsaveSize
	sp &^= 63
	fpAddr := sp
	const frameSize = 8 + ucSize + 128
	sp -= frameSize
	sp &^= 15
	sp -= 8
	if !userPrepare(sp, fpAddr+xsaveSize-sp, true) {
		crashWith(abi.CrashException, uint64(sig), 0, uint64(sp), &t.regs, "cannot deliver a signal: bad signal stack")
	}
	copyMem(fpAddr, fx, xsaveSize)
	frame := sp
	memclr(frame, frameSize)
	store64(frame, a.restorer)
	uc := frame + 8
	store64(uc+ucStackSP, uint64(t.altSP))
	flags := uint64(0)
	if t.altSize == 0 {
		flags = ssDisable
	} else if onAltStack(t, uintptr(t.regs.rsp)) {
		flags = ssOnstack
	}
	store64(uc+ucStackFlags, flags)
	store64(uc+ucStackSize, uint64(t.altSize))
	saveSigcontext(t, uc+ucMcontext, fpAddr, addr)
	store64(uc+ucSigmask, t.sigmask)
	info := frame + 8 + ucSize
	store32(info, uint32(sig))
	store32(info+8, uint32(code))
	if code == siTkill || code == siUser {
		store32(info+16, 1) // si_pid
	} else {
		store64(info+16, addr) // si_addr
	}

	t.regs.rsp = uint64(frame)
	t.regs.rip = a.handler
	t.regs.rdi = uint64(sig)
	t.regs.rsi = uint64(info)
	t.regs.rdx = uint64(uc)
	t.regs.rax = 0
	t.regs.rflags &^= 0x400 // DF clear on handler entry
	t.fxValid = 0
	if a.flags&saNodefer == 0 {
		t.sigmask |= sigBit(sig)
	}
	t.sigmask |= a.mask
	if a.flags&saResethand != 0 {
		sigActions[sig] = sigAction{}
	}
	return true
}

// ucontext layout (asm/ucontext.h, asm/sigcontext.h; offsets from uc).
const (
	ucStackSP    = 16
	ucStackFlags = 24
	ucStackSize  = 32
	ucMcontext   = 40
	ucSigmask    = 40 + 256
	ucSize       = 40 + 256 + 8

	// struct sigcontext_64 field offsets.
	scR8, scR9, scR10, scR11   = 0, 8, 16, 24
	scR12, scR13, scR14, scR15 = 32, 40, 48, 56
	scRDI, scRSI, scRBP, scRBX = 64, 72, 80, 88
	scRDX, scRAX, scRCX, scRSP = 96, 104, 112, 120
	scRIP, scEFLAGS, scCS      = 128, 136, 144
	scErr, scTrapno, scOldmask = 152, 160, 168
	scCR2, scFpstate           = 176, 184
)

func saveSigcontext(t *thread, sc, fp uintptr, cr2 uint64) {
	r := &t.regs
	for _, f := range [...]struct {
		off uintptr
		v   uint64
	}{
		{scR8, r.r8}, {scR9, r.r9}, {scR10, r.r10}, {scR11, r.r11},
		{scR12, r.r12}, {scR13, r.r13}, {scR14, r.r14}, {scR15, r.r15},
		{scRDI, r.rdi}, {scRSI, r.rsi}, {scRBP, r.rbp}, {scRBX, r.rbx},
		{scRDX, r.rdx}, {scRAX, r.rax}, {scRCX, r.rcx}, {scRSP, r.rsp},
		{scRIP, r.rip}, {scEFLAGS, r.rflags}, {scCR2, cr2}, {scOldmask, t.sigmask},
		{scFpstate, uint64(fp)},
	} {
		store64(sc+f.off, f.v)
	}
	store16(sc+scCS, abi.GDTUserCode)
	store16(sc+scCS+6, abi.GDTUserData)
}

// sysRtSigreturnImpl implements rt_sigreturn(2): the handler returned
// through its restorer; restore the context saved in the frame (which the
// handler may have changed: Go's preemption rewrites RIP and RSP).
func sysRtSigreturnImpl(t *thread) int64 {
	uc := uintptr(t.regs.rsp) // frame+8: the restorer's RET popped pretcode
	if !userPrepare(uc, ucSize, false) {
		crashWith(abi.CrashException, 0, 0, uint64(uc), &t.regs, "rt_sigreturn: bad frame")
	}
	sc := uc + ucMcontext
	r := &t.regs
	r.r8, r.r9, r.r10, r.r11 = load64(sc+scR8), load64(sc+scR9), load64(sc+scR10), load64(sc+scR11)
	r.r12, r.r13, r.r14, r.r15 = load64(sc+scR12), load64(sc+scR13), load64(sc+scR14), load64(sc+scR15)
	r.rdi, r.rsi, r.rbp, r.rbx = load64(sc+scRDI), load64(sc+scRSI), load64(sc+scRBP), load64(sc+scRBX)
	r.rdx, r.rax, r.rcx, r.rsp = load64(sc+scRDX), load64(sc+scRAX), load64(sc+scRCX), load64(sc+scRSP)
	r.rip = load64(sc + scRIP)
	const userFlags = 0x0DD5 // CF PF AF ZF SF TF? no: CF|PF|AF|ZF|SF|DF|OF
	r.rflags = r.rflags&^userFlags | load64(sc+scEFLAGS)&userFlags | 0x202
	if fp := uintptr(load64(sc + scFpstate)); fp != 0 && userPrepare(fp, xsaveSize, false) {
		copyMem(t.fxp, fp, xsaveSize)
		sanitizeXsave(t.fxp)
		t.fxValid = 1
	}
	t.sigmask = load64(uc+ucSigmask) &^ (sigBit(sigKILL) | sigBit(sigSTOP))
	return int64(r.rax)
}
