package svc

import (
	"syscall"
	"unsafe"

	"brique.dev/brique/guest/kernel"
)

// Wait is kernel.SysSvcWait for service: it completes the request handle
// with result (handle 0: none), refreshes the readiness of object ready-1
// to events (ready 0: none), and waits for the service's next request
// into *req. A raw system call: the thread keeps its P.
func Wait(service int, req *kernel.SvcRequest, handle uint64, result int64, ready, events uint64) syscall.Errno {
	_, _, e := syscall.RawSyscall6(kernel.SysSvcWait, uintptr(service), uintptr(unsafe.Pointer(req)), uintptr(handle), uintptr(result), uintptr(ready), uintptr(events))
	return e
}
