package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mincore is mincore(2) on the mapping m: vec gets one byte per page,
// bit 0 set if the page is resident. golang.org/x/sys/unix has no wrapper
// for it on linux/amd64.
func mincore(m, vec []byte) error {
	if len(m) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
