package kernel

import "brique.dev/brique/abi"

// The scheduler: one vCPU, threads in a static table, round robin. A thread
// that blocks in a system call records what it waits for; when every thread
// is blocked the vCPU sleeps in the monitor until the earliest deadline or a
// host event (HypercallHalt).

var (
	haltArgs [abi.HaltSize / 8]uint64
	nextTID  int64 = 2

	// handoff is the thread schedule should try first (-1: none).
	handoff = -1
)

// blockedRet is returned by a system call handler that put its thread to
// sleep; the call is dispatched again (t.restart) when the thread is woken.
const blockedRet = -(1 << 40)

// block puts t to sleep until woken or until deadline (0 = none).
func block(t *thread, kind uint64, addr uintptr, deadline int64) int64 {
	t.state = thBlocked
	t.wait = kind
	t.waitAddr = addr
	t.deadline = deadline
	t.timedOut = false
	t.woken = false
	t.interrupt = false
	return blockedRet
}

// wake marks a blocked thread for its system call to be dispatched again.
func wake(t *thread) {
	if t.state == thBlocked {
		t.state = thWoken
	}
}

// wakeKind wakes every thread blocked in a wait of the given kind.
func wakeKind(kind uint64) {
	for i := range threads[:threadsHi] {
		if t := &threads[i]; t.state == thBlocked && t.wait == kind {
			wake(t)
		}
	}
}

// expireTimers wakes the threads whose deadline has passed and returns the
// earliest deadline still pending (0 = none).
func expireTimers(now int64) int64 {
	next := int64(0)
	for i := range threads[:threadsHi] {
		t := &threads[i]
		if t.state != thBlocked || t.deadline == 0 {
			continue
		}
		if t.deadline <= now {
			t.timedOut = true
			wake(t)
			continue
		}
		if next == 0 || t.deadline < next {
			next = t.deadline
		}
	}
	return next
}

// schedule picks the thread to resume and makes it current. With rotate,
// the current thread goes behind the others (preemption, sched_yield).
func schedule(rotate bool) {
	for {
		checkHostSignal()
		pollDeviceWaits()
		next := expireTimers(nanotime())
		start := cur
		if rotate {
			start = cur + 1
		}
		// A forwarded system call hands the vCPU straight to the service
		// thread and back (service.go).
		if h := handoff; h >= 0 {
			handoff = -1
			if s := threads[h].state; s == thRunnable || s == thWoken {
				start = h
			}
		}
		if start >= threadsHi {
			start = 0
		}
		for k, i := 0, start; k < threadsHi; k, i = k+1, i+1 {
			if i == threadsHi {
				i = 0
			}
			t := &threads[i]
			switch t.state {
			case thRunnable:
				setCurrent(i)
				deliverSignals(t)
				if t.state == thRunnable && cur == i {
					return
				}
			case thWoken:
				t.state = thRunnable
				t.wait = waitNone
				setCurrent(i)
				dispatch(t, true)
				if t.state == thRunnable {
					deliverSignals(t)
					if t.state == thRunnable && cur == i {
						return
					}
				}
			}
		}
		rotate = false
		if anyRunnable() {
			continue
		}
		// Nobody can run: sleep in the monitor.
		timeout := uint64(0)
		if next != 0 {
			d := next - nanotime()
			if d <= 0 {
				continue
			}
			if d <= haltSpin {
				spinUntil(next)
				continue
			}
			timeout = uint64(d)
		}
		haltArgs[0] = timeout
		haltArgs[1] = 0
		hypercall(abi.HypercallHalt, uint64(u64Addr(&haltArgs[0])))
		// (The loop's next round looks at the devices.)
	}
}

// haltSpin is the longest wait the vCPU spends spinning instead of
// halting, in nanoseconds; the monitor chooses it (abi.BootInfoSpinNS). A
// halt is a VM exit, ~25 us of host CPU on kvm-pvm before the monitor even
// starts sleeping, and then a wake-up: for the 3-20 us sleeps of the Go
// runtime's scheduler and sysmon, spinning costs less CPU and wakes on
// time. (Measured with one HTTP request at a time: sysmon's halts were 19%
// of the guest's samples.)
var haltSpin int64

// spinUntil waits for the clock to reach deadline, a device to complete
// work a thread waits for, or a host signal, without leaving the guest.
func spinUntil(deadline int64) {
	for nanotime() < deadline {
		checkHostSignal()
		pollDeviceWaits()
		if anyRunnable() {
			return
		}
	}
}

func anyRunnable() bool {
	for i := range threads[:threadsHi] {
		if s := threads[i].state; s == thRunnable || s == thWoken {
			return true
		}
	}
	return false
}

// upcallGo runs on a preemption upcall from the monitor: the current
// thread goes behind the other runnable ones.
func upcallGo() {
	threads[cur].fxValid = 1
	upcall[abi.UpcallWanted/8] = 0
	schedule(true) // (which looks at the devices)
}

func findThread(tid int64) *thread {
	for i := range threads[:threadsHi] {
		if t := &threads[i]; t.state != thFree && t.tid == tid {
			return t
		}
	}
	return nil
}
