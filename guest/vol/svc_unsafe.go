package vol

import (
	"syscall"
	"unsafe"

	"brique.dev/brique/guest/kernel"
)

// svcWait completes the request handle with result (handle 0: none) and
// waits for the next request of the volume service, written to *req
// (kernel.SysSvcWait). It keeps the thread's P (a raw system call).
func svcWait(req *kernel.SvcRequest, handle uint64, result int64) syscall.Errno {
	_, _, e := syscall.RawSyscall6(kernel.SysSvcWait, kernel.SvcVolume, uintptr(unsafe.Pointer(req)), uintptr(handle), uintptr(result), 0, 0)
	return e
}
