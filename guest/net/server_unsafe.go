package net

import (
	"syscall"
	"unsafe"

	"brique.dev/brique/guest/kernel"
)

// svcWait is kernel.SysSvcWait for the network service: it completes the
// request handle with result, refreshes the readiness of object ready-1
// (0: none) to events, and waits for the next request into *req.
func svcWait(req *kernel.SvcRequest, handle uint64, result int64, ready, events uint64) syscall.Errno {
	_, _, e := syscall.RawSyscall6(kernel.SysSvcWait, kernel.SvcNet, uintptr(unsafe.Pointer(req)), uintptr(handle), uintptr(result), uintptr(ready), uintptr(events))
	return e
}

// svcAddr is kernel.SysSvcAddr: it records socket id's local (which 0)
// or peer (1) address, a sockaddr (empty: none).
func svcAddr(id int32, which int, sa []byte) {
	var p unsafe.Pointer
	if len(sa) > 0 {
		p = unsafe.Pointer(&sa[0])
	}
	syscall.RawSyscall6(kernel.SysSvcAddr, kernel.SvcNet, uintptr(id), uintptr(which), uintptr(p), uintptr(len(sa)), 0)
}
