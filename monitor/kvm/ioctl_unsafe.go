//go:build linux && amd64

package kvm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ioctls whose number encodes the size of their argument struct
// (<linux/kvm.h>). For the structs with a flexible array member the size is
// that of the fixed header, as in C.
var (
	kvmGetMSRIndexList     = iowr(0x02, unsafe.Sizeof(msrListHeader{}))        // KVM_GET_MSR_INDEX_LIST
	kvmGetSupportedCPUID   = iowr(0x05, unsafe.Sizeof(cpuid2Header{}))         // KVM_GET_SUPPORTED_CPUID
	kvmSetUserMemoryRegion = iow(0x46, unsafe.Sizeof(UserspaceMemoryRegion{})) // KVM_SET_USER_MEMORY_REGION
	kvmSetIdentityMapAddr  = iow(0x48, unsafe.Sizeof(uint64(0)))               // KVM_SET_IDENTITY_MAP_ADDR
	kvmIoEventFD           = iow(0x79, unsafe.Sizeof(IoEventFD{}))             // KVM_IOEVENTFD
	kvmGetRegs             = ior(0x81, unsafe.Sizeof(Regs{}))                  // KVM_GET_REGS
	kvmSetRegs             = iow(0x82, unsafe.Sizeof(Regs{}))                  // KVM_SET_REGS
	kvmGetSregs            = ior(0x83, unsafe.Sizeof(Sregs{}))                 // KVM_GET_SREGS
	kvmSetSregs            = iow(0x84, unsafe.Sizeof(Sregs{}))                 // KVM_SET_SREGS
	kvmGetMSRs             = iowr(0x88, unsafe.Sizeof(msrsHeader{}))           // KVM_GET_MSRS
	kvmSetMSRs             = iow(0x89, unsafe.Sizeof(msrsHeader{}))            // KVM_SET_MSRS
	kvmSetSignalMask       = iow(0x8b, unsafe.Sizeof(signalMaskHeader{}))      // KVM_SET_SIGNAL_MASK
	kvmGetFPU              = ior(0x8c, unsafe.Sizeof(FPU{}))                   // KVM_GET_FPU
	kvmSetFPU              = iow(0x8d, unsafe.Sizeof(FPU{}))                   // KVM_SET_FPU
	kvmSetCPUID2           = iow(0x90, unsafe.Sizeof(cpuid2Header{}))          // KVM_SET_CPUID2
	kvmGetXCRs             = ior(0xa6, unsafe.Sizeof(xcrs{}))                  // KVM_GET_XCRS
	kvmSetXCRs             = iow(0xa7, unsafe.Sizeof(xcrs{}))                  // KVM_SET_XCRS
)

// ioctlPtr issues ioctl(fd, req, p), retrying on EINTR. It returns the
// ioctl's non-negative result or an *IoctlError.
func ioctlPtr[T any](fd int, req uintptr, p *T) (int, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(p)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, ioctlError(req, errno)
		}
		return int(r), nil
	}
}

// flexBuf allocates a zeroed, 8-byte aligned buffer holding a header H
// followed by n elements E, as for a C struct ending in a flexible array
// member, and returns views of both parts.
func flexBuf[H, E any](n int) (*H, []E) {
	var h H
	var e E
	hsize, esize := unsafe.Sizeof(h), unsafe.Sizeof(e)
	if hsize%unsafe.Alignof(e) != 0 {
		panic("kvm: flexible array member would be misaligned")
	}
	total := hsize + uintptr(n)*esize
	buf := make([]uint64, (total+7)/8)
	hp := (*H)(unsafe.Pointer(&buf[0]))
	if n == 0 {
		return hp, nil
	}
	ep := (*E)(unsafe.Add(unsafe.Pointer(&buf[0]), hsize))
	return hp, unsafe.Slice(ep, n)
}

// sliceAddr returns the address of b's first byte, or 0 for an empty slice.
func sliceAddr(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}
