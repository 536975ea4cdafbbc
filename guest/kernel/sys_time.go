package kernel

// Clock ids (linux/time.h).
const (
	clockRealtime       = 0
	clockRealtimeCoarse = 5
	clockTAI            = 11
	timerAbstime        = 1
)

func readTimespec(p uintptr) (int64, bool) {
	if !userPrepare(p, 16, false) {
		return 0, false
	}
	sec, nsec := int64(load64(p)), int64(load64(p+8))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, false
	}
	if sec > 1<<33 {
		sec = 1 << 33
	}
	return sec*1e9 + nsec, true
}

func writeTimespec(p uintptr, ns int64) bool {
	if !userPrepare(p, 16, true) {
		return false
	}
	store64(p, uint64(ns/1e9))
	store64(p+8, uint64(ns%1e9))
	return true
}

func clockNow(id int64) int64 {
	switch id {
	case clockRealtime, clockRealtimeCoarse, clockTAI:
		return walltime()
	}
	// Monotonic, boot time, and the CPU-time clocks (approximated by the
	// monotonic clock: the unikernel does not account CPU time per thread).
	return nanotime()
}

// sysClockGettimeImpl implements clock_gettime(2).
func sysClockGettimeImpl(t *thread) int64 {
	if !writeTimespec(uintptr(t.regs.rsi), clockNow(int64(t.regs.rdi))) {
		return -eFAULT
	}
	return 0
}

// sysClockGetresImpl implements clock_getres(2): 1 ns.
func sysClockGetresImpl(t *thread) int64 {
	if p := uintptr(t.regs.rsi); p != 0 && !writeTimespec(p, 1) {
		return -eFAULT
	}
	return 0
}

// sysGettimeofdayImpl implements gettimeofday(2).
func sysGettimeofdayImpl(t *thread) int64 {
	if p := uintptr(t.regs.rdi); p != 0 {
		if !userPrepare(p, 16, true) {
			return -eFAULT
		}
		now := walltime()
		store64(p, uint64(now/1e9))
		store64(p+8, uint64(now%1e9/1e3))
	}
	return 0
}

// sysTimeImpl implements time(2).
func sysTimeImpl(t *thread) int64 {
	now := walltime() / 1e9
	if p := uintptr(t.regs.rdi); p != 0 {
		if !userPrepare(p, 8, true) {
			return -eFAULT
		}
		store64(p, uint64(now))
	}
	return now
}

// sysNanosleepImpl implements nanosleep(2).
func sysNanosleepImpl(t *thread) int64 {
	return sleepUntil(t, uintptr(t.regs.rdi), false, clockRealtime+1)
}

// sysClockNanosleepImpl implements clock_nanosleep(2).
func sysClockNanosleepImpl(t *thread) int64 {
	r := sleepUntil(t, uintptr(t.regs.rdx), t.regs.rsi&timerAbstime != 0, int64(t.regs.rdi))
	if r < 0 && r != blockedRet {
		return r
	}
	return r
}

func sleepUntil(t *thread, req uintptr, abs bool, clock int64) int64 {
	if t.restart {
		if t.interrupt {
			return -eINTR
		}
		return 0
	}
	d, ok := readTimespec(req)
	if !ok {
		return -eINVAL
	}
	deadline := nanotime() + d
	if abs {
		deadline = d
		if clock == clockRealtime {
			deadline = d - wall0
		}
	}
	if deadline <= nanotime() {
		return 0
	}
	return block(t, waitSleep, 0, deadline)
}
