package kernel

import "brique.dev/brique/abi"

// Clone flags (linux/sched.h).
const (
	cloneVM            = 0x100
	cloneThread        = 0x10000
	cloneSettls        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneChildSettid   = 0x1000000
)

// sysCloneImpl implements clone(2) for threads (CLONE_VM|CLONE_THREAD);
// there are no other processes.
func sysCloneImpl(t *thread) int64 {
	flags := t.regs.rdi
	if flags&(cloneVM|cloneThread) != cloneVM|cloneThread {
		return -eNOSYS // fork: one process only
	}
	idx := -1
	for i := range threads {
		if threads[i].state == thFree {
			idx = i
			break
		}
	}
	if idx < 0 {
		return -eAGAIN
	}
	if idx >= threadsHi {
		threadsHi = idx + 1
	}
	c := &threads[idx]
	fxp := c.fxp
	if fxp == 0 {
		if fxp = allocFrame(); fxp == 0 {
			return -eAGAIN
		}
	}
	*c = thread{}
	c.fxp = fxp
	c.regs = t.regs
	c.regs.rax = 0
	c.regs.rsp = t.regs.rsi
	if flags&cloneSettls != 0 {
		c.regs.fsbase = t.regs.r8
	}
	c.tid = nextTID
	nextTID++
	c.sigmask = t.sigmask
	c.state = thRunnable
	if flags&cloneParentSettid != 0 && userPrepare(uintptr(t.regs.rdx), 4, true) {
		store32(uintptr(t.regs.rdx), uint32(c.tid))
	}
	if flags&cloneChildSettid != 0 && userPrepare(uintptr(t.regs.r10), 4, true) {
		store32(uintptr(t.regs.r10), uint32(c.tid))
	}
	if flags&cloneChildCleartid != 0 {
		c.clearTID = uintptr(t.regs.r10)
	}
	return c.tid
}

// sysExitImpl implements exit(2): ends the calling thread.
func sysExitImpl(t *thread) int64 {
	if bootFlags&abi.BootFlagDebug != 0 {
		logStr("thread exit tid ")
		logInt(t.tid)
		logFlush()
	}
	if t.clearTID != 0 && userPrepare(t.clearTID, 4, true) {
		store32(t.clearTID, 0)
		futexWake(t.clearTID, 1)
	}
	t.state = thFree
	live := false
	for i := range threads[:threadsHi] {
		if threads[i].state != thFree {
			live = true
		}
	}
	if !live {
		exitVM(0)
	}
	return blockedRet
}

// sysExitGroupImpl implements exit_group(2): ends the program.
func sysExitGroupImpl(t *thread) int64 {
	exitVM(int(t.regs.rdi))
	return 0
}

// sysSetTIDAddressImpl implements set_tid_address(2).
func sysSetTIDAddressImpl(t *thread) int64 {
	t.clearTID = uintptr(t.regs.rdi)
	return t.tid
}

// sysGettidImpl implements gettid(2).
func sysGettidImpl(t *thread) int64 { return t.tid }

// sysGetpidImpl implements getpid(2): the program is process 1.
func sysGetpidImpl(t *thread) int64 { return 1 }

// sysSchedYieldImpl implements sched_yield(2).
func sysSchedYieldImpl(t *thread) int64 {
	upcall[abiUpcallWanted] = 1 // reschedule with rotation on the way out
	return 0
}

// cpus is the number of CPUs that sched_getaffinity reports, hence the Go
// runtime's GOMAXPROCS: "" means 1, the one vCPU. The builder sets "2" with
// -ldflags -X when it links a brick with a service thread (the network),
// so that the service thread finds a free P while the calling goroutine's
// P sits in its system call (docs/decisions/010).
var cpus string

// sysSchedGetaffinityImpl implements sched_getaffinity(2).
func sysSchedGetaffinityImpl(t *thread) int64 {
	n, p := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if n < 8 {
		return -eINVAL
	}
	if !userPrepare(p, 8, true) {
		return -eFAULT
	}
	mask := uint64(1)
	if len(cpus) == 1 && cpus[0] >= '2' && cpus[0] <= '8' {
		mask = 1<<(cpus[0]-'0') - 1
	}
	store64(p, mask)
	return 8
}

// sysArchPrctlImpl implements arch_prctl(2) ARCH_SET_FS / ARCH_GET_FS.
func sysArchPrctlImpl(t *thread) int64 {
	const archSetFS, archGetFS = 0x1002, 0x1003
	switch t.regs.rdi {
	case archSetFS:
		t.regs.fsbase = t.regs.rsi
		return 0
	case archGetFS:
		p := uintptr(t.regs.rsi)
		if !userPrepare(p, 8, true) {
			return -eFAULT
		}
		store64(p, t.regs.fsbase)
		return 0
	}
	return -eINVAL
}

// Futex operations (linux/futex.h).
const (
	futexWait        = 0
	futexWakeOp      = 1
	futexWaitBitset  = 9
	futexWakeBitset  = 10
	futexPrivateFlag = 128
	futexClockRT     = 256
)

// sysFutexImpl implements futex(2) FUTEX_WAIT and FUTEX_WAKE (private or
// not: there is one process).
func sysFutexImpl(t *thread) int64 {
	addr := uintptr(t.regs.rdi)
	op := t.regs.rsi &^ (futexPrivateFlag | futexClockRT)
	val := uint32(t.regs.rdx)
	switch op {
	case futexWait, futexWaitBitset:
		if t.restart {
			switch {
			case t.woken:
				return 0
			case t.interrupt:
				return -eINTR
			case t.timedOut:
				return -eTIMEDOUT
			}
			return 0
		}
		if addr&3 != 0 || !userPrepare(addr, 4, false) {
			return -eFAULT
		}
		if load32(addr) != val {
			return -eAGAIN
		}
		deadline := int64(0)
		if ts := uintptr(t.regs.r10); ts != 0 {
			d, ok := readTimespec(ts)
			if !ok {
				return -eFAULT
			}
			if op == futexWaitBitset {
				// FUTEX_WAIT_BITSET takes an absolute time.
				deadline = d
				if t.regs.rsi&futexClockRT != 0 {
					deadline = d - wall0
				}
			} else {
				deadline = nanotime() + d
			}
			if deadline <= 0 {
				deadline = 1
			}
		}
		return block(t, waitFutex, addr, deadline)
	case futexWakeOp, futexWakeBitset:
		return int64(futexWake(addr, int(val)))
	}
	return -eNOSYS
}

// futexWake wakes up to n threads waiting on addr.
func futexWake(addr uintptr, n int) int {
	woke := 0
	for i := range threads[:threadsHi] {
		if woke >= n {
			break
		}
		if w := &threads[i]; w.state == thBlocked && w.wait == waitFutex && w.waitAddr == addr {
			w.woken = true
			wake(w)
			woke++
		}
	}
	return woke
}
