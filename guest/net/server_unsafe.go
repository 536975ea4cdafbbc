package net

import (
	"syscall"
	"unsafe"

	"brique.dev/brique/guest/kernel"
)

// svcAddr is kernel.SysSvcAddr: it records socket id's local (which 0)
// or peer (1) address, a sockaddr (empty: none).
func svcAddr(id int32, which int, sa []byte) {
	var p unsafe.Pointer
	if len(sa) > 0 {
		p = unsafe.Pointer(&sa[0])
	}
	syscall.RawSyscall6(kernel.SysSvcAddr, kernel.SvcNet, uintptr(id), uintptr(which), uintptr(p), uintptr(len(sa)), 0)
}
