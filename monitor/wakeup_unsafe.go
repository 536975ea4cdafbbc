package monitor

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations (linux/futex.h): FUTEX_WAIT and FUTEX_WAKE with
// FUTEX_PRIVATE_FLAG (128).
const (
	futexWaitPrivate = 0 | 128
	futexWakePrivate = 1 | 128
)

// futexWait sleeps while *addr == val, at most rel (0: no limit).
func futexWait(addr *atomic.Uint32, val uint32, rel time.Duration) {
	var ts *unix.Timespec
	if rel > 0 {
		t := unix.NsecToTimespec(int64(rel))
		ts = &t
	}
	// EAGAIN (the word changed), EINTR and ETIMEDOUT all send the caller
	// back to look at the word.
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}

// futexWake wakes the thread sleeping on addr.
func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate, 1, 0, 0, 0)
}
