package net

import "unsafe"

// addrOf is the address of b's first byte. The tests' fake program memory
// is a Go slice; the server reaches it through kernel.Mem, as it reaches
// the program's memory in the guest.
func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }
