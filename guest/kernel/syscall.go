package kernel

import "brique.dev/brique/abi"

// System call dispatch. The table maps Linux x86-64 system call numbers
// (arch/x86/entry/syscalls/syscall_64.tbl) to handlers; see sys_table.go.

// Linux errno values (asm-generic/errno-base.h, errno.h).
const (
	ePERM        = 1
	eNOENT       = 2
	eSRCH        = 3
	eINTR        = 4
	eIO          = 5
	eBADF        = 9
	eAGAIN       = 11
	eNOMEM       = 12
	eACCES       = 13
	eFAULT       = 14
	eEXIST       = 17
	eNOTDIR      = 20
	eISDIR       = 21
	eINVAL       = 22
	eMFILE       = 24
	eNOTTY       = 25
	eSPIPE       = 29
	eROFS        = 30
	ePIPE        = 32
	eRANGE       = 34
	eNOSYS       = 38
	eNOTSUP      = 95
	eTIMEDOUT    = 110
	eNODEV       = 19
	eOPNOTSUPP   = 95
	eNOSPC       = 28
	eFBIG        = 27
	eBUSY        = 16
	eNOTEMPTY    = 39
	eXDEV        = 18
	eLOOP        = 40
	eNAMETOOLONG = 36
)

// sysFunc handles one system call for thread t; arguments are in t.regs
// (rdi, rsi, rdx, r10, r8, r9). It returns the result or a negated errno, or
// blockedRet after block(). Restricted context (see doc.go).
type sysFunc func(t *thread) int64

var enosysLogged [512]bool

// Counters reported to the monitor at exit (brique run --stats).
var nSyscalls, nFaults uint64

// sysCount counts calls by number (BRIQUE_SYSCOUNT=1 logs the top ones at
// exit).
var sysCount [512]uint64

// logSysCount logs the most frequent system calls.
func logSysCount() {
	var done [512]bool
	for k := 0; k < 12; k++ {
		best := -1
		for i := range sysCount {
			if !done[i] && sysCount[i] > 0 && (best < 0 || sysCount[i] > sysCount[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		done[best] = true
		logStr("syscall ")
		logInt(int64(best))
		if best < len(sysNames) && sysNames[best] != "" {
			logStr(" (")
			logStr(sysNames[best])
			logStr(")")
		}
		logStr(": ")
		logInt(int64(sysCount[best]))
		logFlush()
	}
}

// syscallGo is called by syscallEntry for the current thread.
func syscallGo() {
	t := &threads[cur]
	t.fxValid = 0
	nSyscalls++
	if nr := t.regs.rax; nr < uint64(len(sysCount)) {
		sysCount[nr]++
	}
	dispatch(t, false)
	if t.state != thRunnable {
		schedule(false)
		return
	}
	if upcall[abiUpcallWanted] != 0 {
		upcall[abiUpcallWanted] = 0
		schedule(true)
		return
	}
	deliverSignals(t)
}

const abiUpcallWanted = abi.UpcallWanted / 8

func dispatch(t *thread, restart bool) {
	nr := t.regs.rax
	r := int64(-eNOSYS)
	vr, routed := volRoute(t, restart)
	switch {
	case routed:
		r = vr
	case restart && t.svcState != svcIdle:
		r = svcResume(t) // a forwarded socket call
	case nr < uint64(len(sysTable)) && sysTable[nr] != nil:
		t.restart = restart
		r = sysTable[nr](t)
	default:
		if nr < uint64(len(enosysLogged)) && !enosysLogged[nr] {
			enosysLogged[nr] = true
			logStr("unimplemented system call ")
			logInt(int64(nr))
			if nr < uint64(len(sysNames)) && sysNames[nr] != "" {
				logStr(" (")
				logStr(sysNames[nr])
				logStr(")")
			}
			logStr(": returning ENOSYS")
			logFlush()
		}
	}
	if bootFlags&abi.BootFlagStrace != 0 {
		logInt(nanotime() / 1000)
		logStr("us tid ")
		logInt(t.tid)
		logStr(" syscall ")
		logInt(int64(nr))
		if r == blockedRet {
			logStr(" blocks")
		} else {
			logStr(" = ")
			logInt(r)
		}
		logFlush()
	}
	if r == blockedRet {
		return
	}
	t.regs.rax = uint64(r)
}
