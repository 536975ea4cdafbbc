package monitor

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnterSeccomp installs the running monitor's filter for every thread of
// the process (Config.Seccomp does it in Run). Exported so that tests of
// device backends can check they work under the real allow-list.
func EnterSeccomp() error {
	// Go's network poller (epoll_create1, eventfd2) is created on first
	// use, which the filter refuses: a use after it would kill the
	// monitor ("epollcreate failed"). A pipe is registered with the
	// poller when it is created, so make one now.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("seccomp: setting up Go's poller first: %w", err)
	}
	r.Close()
	w.Close()
	prog := seccompProgram(seccompAllowed, runningIoctls())
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: PR_SET_NO_NEW_PRIVS: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp: installing the filter: %w", e)
	}
	return nil
}
