// Package osthread names the monitor's OS threads.
package osthread

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetName names the calling OS thread (PR_SET_NAME: at most 15 bytes;
// what top -H, ps -L and /proc/PID/task/TID/comm show). The caller should
// have locked its goroutine to the thread (runtime.LockOSThread). The
// monitor's seccomp filter allows this prctl and no other.
func SetName(name string) {
	if p, err := unix.BytePtrFromString(name); err == nil {
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
	}
}

// Name is the calling OS thread's name (PR_GET_NAME; "" if it cannot be
// read). Read it before the seccomp filter, which refuses PR_GET_NAME.
func Name() string {
	var b [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
		return ""
	}
	return unix.ByteSliceToString(b[:])
}
