//go:build linux && amd64

package kvm

import "fmt"

// Ioctl request numbers are built like the _IOC macro of
// <asm-generic/ioctl.h>: bits 0-7 command number, 8-15 type (KVMIO),
// 16-29 argument size, 30-31 direction.
const (
	iocNRBits   = 8
	iocTypeBits = 8
	iocSizeBits = 14

	iocNRShift   = 0
	iocTypeShift = iocNRShift + iocNRBits
	iocSizeShift = iocTypeShift + iocTypeBits
	iocDirShift  = iocSizeShift + iocSizeBits

	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	// kvmio is KVMIO from <linux/kvm.h>, the ioctl type of every KVM ioctl.
	kvmio = 0xAE
)

// ioc mirrors _IOC(dir, type, nr, size).
func ioc(dir, typ, nr, size uintptr) uintptr {
	if size >= 1<<iocSizeBits {
		panic("kvm: ioctl argument size does not fit in _IOC_SIZEBITS")
	}
	return dir<<iocDirShift | typ<<iocTypeShift | nr<<iocNRShift | size<<iocSizeShift
}

// io mirrors _IO(KVMIO, nr).
func io(nr uintptr) uintptr { return ioc(iocNone, kvmio, nr, 0) }

// ior mirrors _IOR(KVMIO, nr, type) for an argument of the given size.
func ior(nr, size uintptr) uintptr { return ioc(iocRead, kvmio, nr, size) }

// iow mirrors _IOW(KVMIO, nr, type) for an argument of the given size.
func iow(nr, size uintptr) uintptr { return ioc(iocWrite, kvmio, nr, size) }

// iowr mirrors _IOWR(KVMIO, nr, type) for an argument of the given size.
func iowr(nr, size uintptr) uintptr { return ioc(iocRead|iocWrite, kvmio, nr, size) }

// Ioctls without an argument struct (<linux/kvm.h>).
var (
	kvmGetAPIVersion   = io(0x00) // KVM_GET_API_VERSION
	kvmCreateVM        = io(0x01) // KVM_CREATE_VM
	kvmCheckExtension  = io(0x03) // KVM_CHECK_EXTENSION
	kvmGetVCPUMmapSize = io(0x04) // KVM_GET_VCPU_MMAP_SIZE
	kvmCreateVCPU      = io(0x41) // KVM_CREATE_VCPU
	kvmSetTSSAddr      = io(0x47) // KVM_SET_TSS_ADDR
	kvmRun             = io(0x80) // KVM_RUN
	kvmSetTSCKHz       = io(0xa2) // KVM_SET_TSC_KHZ
	kvmGetTSCKHz       = io(0xa3) // KVM_GET_TSC_KHZ
)

// ioctlNames maps request numbers to their header names, for error messages.
var ioctlNames = map[uintptr]string{}

func init() {
	for req, name := range map[uintptr]string{
		kvmGetAPIVersion:       "KVM_GET_API_VERSION",
		kvmCreateVM:            "KVM_CREATE_VM",
		kvmCheckExtension:      "KVM_CHECK_EXTENSION",
		kvmGetVCPUMmapSize:     "KVM_GET_VCPU_MMAP_SIZE",
		kvmCreateVCPU:          "KVM_CREATE_VCPU",
		kvmSetTSSAddr:          "KVM_SET_TSS_ADDR",
		kvmRun:                 "KVM_RUN",
		kvmSetTSCKHz:           "KVM_SET_TSC_KHZ",
		kvmGetTSCKHz:           "KVM_GET_TSC_KHZ",
		kvmGetMSRIndexList:     "KVM_GET_MSR_INDEX_LIST",
		kvmGetSupportedCPUID:   "KVM_GET_SUPPORTED_CPUID",
		kvmSetUserMemoryRegion: "KVM_SET_USER_MEMORY_REGION",
		kvmSetIdentityMapAddr:  "KVM_SET_IDENTITY_MAP_ADDR",
		kvmIoEventFD:           "KVM_IOEVENTFD",
		kvmGetRegs:             "KVM_GET_REGS",
		kvmSetRegs:             "KVM_SET_REGS",
		kvmGetSregs:            "KVM_GET_SREGS",
		kvmSetSregs:            "KVM_SET_SREGS",
		kvmGetMSRs:             "KVM_GET_MSRS",
		kvmSetMSRs:             "KVM_SET_MSRS",
		kvmSetSignalMask:       "KVM_SET_SIGNAL_MASK",
		kvmGetFPU:              "KVM_GET_FPU",
		kvmSetFPU:              "KVM_SET_FPU",
		kvmSetCPUID2:           "KVM_SET_CPUID2",
		kvmGetXCRs:             "KVM_GET_XCRS",
		kvmSetXCRs:             "KVM_SET_XCRS",
	} {
		ioctlNames[req] = name
	}
}

// ioctlName returns the header name of an ioctl request number.
func ioctlName(req uintptr) string {
	if n, ok := ioctlNames[req]; ok {
		return n
	}
	return fmt.Sprintf("ioctl %#x", req)
}

// RunningIoctls are the only ioctl requests a monitor needs once its vCPU
// runs (KVM_RUN, and reading/writing registers for preemption and crash
// reports): the rest can be denied by a seccomp filter.
func RunningIoctls() []uintptr {
	return []uintptr{kvmRun, kvmGetRegs, kvmSetRegs, kvmGetSregs, kvmSetSregs}
}
