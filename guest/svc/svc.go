// Package svc is what a brick's service thread needs from the library OS
// to serve forwarded system calls (docs/decisions/010): knowing that it
// runs on it, and waiting for requests. The network and volume bricks
// use it.
package svc

import (
	"syscall"

	"brique.dev/brique/guest/kernel"
)

// OnBrique reports whether the program runs on Brique's library OS, which
// answers SysSvcReady for a service that does not exist with EINVAL; the
// host's Linux kernel, where the bricks' own tests run, has no system
// call of that number (ENOSYS).
func OnBrique() bool {
	_, _, e := syscall.RawSyscall(kernel.SysSvcReady, ^uintptr(0), 0, 0)
	return e != syscall.ENOSYS
}
