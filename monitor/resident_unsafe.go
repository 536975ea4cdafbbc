package monitor

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident counts the bytes of b backed by host memory (mincore).
func resident(b []byte) uint64 {
	vec := make([]byte, (len(b)+os.Getpagesize()-1)/os.Getpagesize())
	if len(b) == 0 {
		return 0
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return 0
	}
	var n uint64
	for _, v := range vec {
		if v&1 != 0 {
			n += uint64(os.Getpagesize())
		}
	}
	return n
}
