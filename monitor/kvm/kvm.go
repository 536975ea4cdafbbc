//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Cap is a KVM capability number for CheckExtension (<linux/kvm.h>).
type Cap int

// Capabilities this package's callers care about (<linux/kvm.h>).
const (
	CapUserMemory    Cap = 3   // KVM_CAP_USER_MEMORY
	CapSetTSSAddr    Cap = 4   // KVM_CAP_SET_TSS_ADDR
	CapExtCPUID      Cap = 7   // KVM_CAP_EXT_CPUID
	CapNrVCPUs       Cap = 9   // KVM_CAP_NR_VCPUS: recommended max vCPUs per VM
	CapNrMemslots    Cap = 10  // KVM_CAP_NR_MEMSLOTS: max memory slots per VM
	CapSyncMMU       Cap = 16  // KVM_CAP_SYNC_MMU
	CapXCRs          Cap = 56  // KVM_CAP_XCRS
	CapTSCControl    Cap = 60  // KVM_CAP_TSC_CONTROL
	CapGetTSCKHz     Cap = 61  // KVM_CAP_GET_TSC_KHZ
	CapMaxVCPUs      Cap = 66  // KVM_CAP_MAX_VCPUS
	CapImmediateExit Cap = 136 // KVM_CAP_IMMEDIATE_EXIT
)

// ioctlVal issues ioctl(fd, req, arg) with a non-pointer argument, retrying
// on EINTR, and returns its non-negative result or an *IoctlError.
func ioctlVal(fd int, req, arg uintptr) (int, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, ioctlError(req, errno)
		}
		return int(r), nil
	}
}

func closeFD(fd *int) error {
	if *fd < 0 {
		return nil
	}
	err := unix.Close(*fd)
	*fd = -1
	return err
}

// System is an open /dev/kvm: the handle for system-wide ioctls.
type System struct {
	fd int
}

// Open opens /dev/kvm (O_RDWR|O_CLOEXEC) and checks that it speaks KVM API
// version 12. Failures are *OpenError values whose Kind tells the user what
// to do (ErrNotPresent, ErrPermission, ErrAPIVersion).
func Open() (*System, error) { return openPath(DevicePath) }

func openPath(path string) (*System, error) {
	var fd int
	for {
		var err error
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, classifyOpenError(path, err)
		}
		break
	}
	v, err := ioctlVal(fd, kvmGetAPIVersion, 0)
	if err != nil {
		unix.Close(fd)
		var ie *IoctlError
		errors.As(err, &ie)
		return nil, &OpenError{Path: path, Kind: ErrAPIVersion, Err: ie.Errno}
	}
	if v != APIVersion {
		unix.Close(fd)
		return nil, &OpenError{Path: path, Kind: ErrAPIVersion, Version: v}
	}
	return &System{fd: fd}, nil
}

func classifyOpenError(path string, err error) error {
	e := &OpenError{Path: path, Err: err}
	switch err {
	case unix.ENOENT, unix.ENODEV, unix.ENXIO:
		e.Kind = ErrNotPresent
	case unix.EACCES, unix.EPERM:
		e.Kind = ErrPermission
	}
	return e
}

// Fd returns the /dev/kvm file descriptor.
func (s *System) Fd() int { return s.fd }

// Close closes /dev/kvm. VMs created from it stay usable.
func (s *System) Close() error { return closeFD(&s.fd) }

// CheckExtension returns KVM_CHECK_EXTENSION for c: 0 if unsupported,
// otherwise 1 or a capability-specific value.
func (s *System) CheckExtension(c Cap) (int, error) {
	return ioctlVal(s.fd, kvmCheckExtension, uintptr(c))
}

// VCPUMmapSize returns KVM_GET_VCPU_MMAP_SIZE, the size of the region a vCPU
// fd must be mmap'ed with (struct kvm_run plus the PIO data page, ...).
func (s *System) VCPUMmapSize() (int, error) {
	return ioctlVal(s.fd, kvmGetVCPUMmapSize, 0)
}

// maxCPUIDEntries bounds the KVM_GET_SUPPORTED_CPUID buffer growth. The
// kernel's own limit (KVM_MAX_CPUID_ENTRIES) is 256.
const maxCPUIDEntries = 4096

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM and
// the host CPU can expose to a guest, the usual starting point for
// VCPU.SetCPUID2.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 128; ; n *= 2 {
		hdr, entries := flexBuf[cpuid2Header, CPUIDEntry](n)
		hdr.Nent = uint32(n)
		_, err := ioctlPtr(s.fd, kvmGetSupportedCPUID, hdr)
		if errors.Is(err, unix.E2BIG) && n < maxCPUIDEntries {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]CPUIDEntry, hdr.Nent)
		copy(out, entries)
		return out, nil
	}
}

// MSRIndexList returns KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and
// restores for a guest.
func (s *System) MSRIndexList() ([]uint32, error) {
	// A first call with nmsrs = 0 fails with E2BIG and reports the count.
	hdr, _ := flexBuf[msrListHeader, uint32](0)
	_, err := ioctlPtr(s.fd, kvmGetMSRIndexList, hdr)
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, unix.E2BIG) {
		return nil, err
	}
	n := int(hdr.NMSRs)
	hdr, indices := flexBuf[msrListHeader, uint32](n)
	hdr.NMSRs = uint32(n)
	if _, err := ioctlPtr(s.fd, kvmGetMSRIndexList, hdr); err != nil {
		return nil, err
	}
	return append([]uint32(nil), indices[:hdr.NMSRs]...), nil
}

// CreateVM creates a VM (KVM_CREATE_VM, default machine type).
func (s *System) CreateVM() (*VM, error) {
	mmapSize, err := s.VCPUMmapSize()
	if err != nil {
		return nil, err
	}
	fd, err := ioctlVal(s.fd, kvmCreateVM, 0)
	if err != nil {
		return nil, err
	}
	return &VM{fd: fd, mmapSize: mmapSize}, nil
}

// VM is a virtual machine: its memory slots and vCPUs.
type VM struct {
	fd       int
	mmapSize int
}

// Fd returns the VM file descriptor.
func (vm *VM) Fd() int { return vm.fd }

// Close closes the VM fd. The kernel frees the VM once its vCPUs are closed
// too.
func (vm *VM) Close() error { return closeFD(&vm.fd) }

// CheckExtension is KVM_CHECK_EXTENSION on the VM fd (KVM_CAP_CHECK_EXTENSION_VM):
// the answer for this VM rather than for the system.
func (vm *VM) CheckExtension(c Cap) (int, error) {
	return ioctlVal(vm.fd, kvmCheckExtension, uintptr(c))
}

// SetUserMemoryRegion creates, moves, resizes (flags only) or, with size 0,
// deletes memory slot slot (KVM_SET_USER_MEMORY_REGION): guest-physical
// [guestPhys, guestPhys+size) is backed by host memory at hostAddr. All three
// must be page aligned. flags is a combination of MemLogDirtyPages and
// MemReadonly. The host memory must stay mapped while the slot exists.
func (vm *VM) SetUserMemoryRegion(slot, flags uint32, guestPhys, size uint64, hostAddr uintptr) error {
	r := UserspaceMemoryRegion{
		Slot:          slot,
		Flags:         flags,
		GuestPhysAddr: guestPhys,
		MemorySize:    size,
		UserspaceAddr: uint64(hostAddr),
	}
	_, err := ioctlPtr(vm.fd, kvmSetUserMemoryRegion, &r)
	return err
}

// SetUserMemory is SetUserMemoryRegion backed by mem, which should come
// from unix.Mmap (page aligned, never moved or freed by the Go runtime) and
// must stay mapped while the slot exists.
func (vm *VM) SetUserMemory(slot, flags uint32, guestPhys uint64, mem []byte) error {
	return vm.SetUserMemoryRegion(slot, flags, guestPhys, uint64(len(mem)), sliceAddr(mem))
}

// SetIoEventFD is KVM_IOEVENTFD: a guest write of length bytes to the
// MMIO address addr signals the eventfd fd inside the kernel, and the vCPU
// goes on without returning to the monitor.
func (vm *VM) SetIoEventFD(addr uint64, length uint32, fd int) error {
	e := IoEventFD{Addr: addr, Len: length, FD: int32(fd)}
	_, err := ioctlPtr(vm.fd, kvmIoEventFD, &e)
	return err
}

// SetTSSAddr is KVM_SET_TSS_ADDR: the guest-physical address of a 3-page
// region (below 4 GiB, unused by the guest) that Intel VMX needs to run real
// mode on CPUs without unrestricted guest support.
func (vm *VM) SetTSSAddr(addr uint32) error {
	_, err := ioctlVal(vm.fd, kvmSetTSSAddr, uintptr(addr))
	return err
}

// SetIdentityMapAddr is KVM_SET_IDENTITY_MAP_ADDR: the guest-physical
// address of a one-page region (below 4 GiB) for the EPT identity map used by
// Intel VMX real mode emulation.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	_, err := ioctlPtr(vm.fd, kvmSetIdentityMapAddr, &addr)
	return err
}

// CreateVCPU creates vCPU id (KVM_CREATE_VCPU; id is also its initial APIC
// ID) and maps its struct kvm_run.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctlVal(vm.fd, kvmCreateVCPU, uintptr(id))
	if err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(fd, 0, vm.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap kvm_run of vCPU %d (%d bytes): %w", id, vm.mmapSize, err)
	}
	return &VCPU{fd: fd, id: id, mem: mem, run: newRunData(mem)}, nil
}

// VCPU is a virtual CPU and its mapped struct kvm_run.
type VCPU struct {
	fd  int
	id  int
	mem []byte
	run *RunData
}

// ID returns the id the vCPU was created with.
func (v *VCPU) ID() int { return v.id }

// Fd returns the vCPU file descriptor.
func (v *VCPU) Fd() int { return v.fd }

// Close unmaps kvm_run and closes the vCPU fd. RunData must not be used
// afterwards.
func (v *VCPU) Close() error {
	var err error
	if v.mem != nil {
		err = unix.Munmap(v.mem)
		v.mem = nil
	}
	if cerr := closeFD(&v.fd); err == nil {
		err = cerr
	}
	return err
}

// RunData returns the vCPU's struct kvm_run.
func (v *VCPU) RunData() *RunData { return v.run }

// Run enters the guest (KVM_RUN) until the next exit to userspace; then
// RunData describes the exit. Unlike the other methods it returns the bare
// unix.Errno, so the run loop can test err == unix.EINTR (a signal or
// immediate_exit kicked the vCPU) or unix.EAGAIN, and it does not retry.
func (v *VCPU) Run() error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(v.fd), kvmRun, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// GetRegs returns the general-purpose registers (KVM_GET_REGS).
func (v *VCPU) GetRegs() (Regs, error) {
	var r Regs
	_, err := ioctlPtr(v.fd, kvmGetRegs, &r)
	return r, err
}

// SetRegs sets the general-purpose registers (KVM_SET_REGS).
func (v *VCPU) SetRegs(r *Regs) error {
	_, err := ioctlPtr(v.fd, kvmSetRegs, r)
	return err
}

// GetSregs returns the special registers (KVM_GET_SREGS).
func (v *VCPU) GetSregs() (Sregs, error) {
	var s Sregs
	_, err := ioctlPtr(v.fd, kvmGetSregs, &s)
	return s, err
}

// SetSregs sets the special registers (KVM_SET_SREGS).
func (v *VCPU) SetSregs(s *Sregs) error {
	_, err := ioctlPtr(v.fd, kvmSetSregs, s)
	return err
}

// GetFPU returns the x87/SSE state (KVM_GET_FPU).
func (v *VCPU) GetFPU() (FPU, error) {
	var f FPU
	_, err := ioctlPtr(v.fd, kvmGetFPU, &f)
	return f, err
}

// SetFPU sets the x87/SSE state (KVM_SET_FPU).
func (v *VCPU) SetFPU(f *FPU) error {
	_, err := ioctlPtr(v.fd, kvmSetFPU, f)
	return err
}

// GetMSRs reads the given MSRs (KVM_GET_MSRS). If KVM stops early, the error
// is an *MSRError naming the first MSR it refused.
func (v *VCPU) GetMSRs(indices []uint32) ([]MSREntry, error) {
	if len(indices) == 0 {
		return nil, nil
	}
	hdr, entries := flexBuf[msrsHeader, MSREntry](len(indices))
	hdr.NMSRs = uint32(len(indices))
	for i, idx := range indices {
		entries[i].Index = idx
	}
	n, err := ioctlPtr(v.fd, kvmGetMSRs, hdr)
	if err != nil {
		return nil, err
	}
	if n < len(indices) {
		return nil, &MSRError{Op: "KVM_GET_MSRS", Index: indices[n], Done: n, Total: len(indices)}
	}
	return append([]MSREntry(nil), entries...), nil
}

// SetMSRs writes the given MSRs (KVM_SET_MSRS), in order. If KVM stops
// early, the error is an *MSRError naming the first MSR it refused; the
// ones before it were written.
func (v *VCPU) SetMSRs(msrs []MSREntry) error {
	if len(msrs) == 0 {
		return nil
	}
	hdr, entries := flexBuf[msrsHeader, MSREntry](len(msrs))
	hdr.NMSRs = uint32(len(msrs))
	copy(entries, msrs)
	n, err := ioctlPtr(v.fd, kvmSetMSRs, hdr)
	if err != nil {
		return err
	}
	if n < len(msrs) {
		return &MSRError{Op: "KVM_SET_MSRS", Index: msrs[n].Index, Done: n, Total: len(msrs)}
	}
	return nil
}

// SetCPUID2 sets the CPUID leaves the guest sees (KVM_SET_CPUID2). Call it
// before the first Run; KVM refuses changes afterwards.
func (v *VCPU) SetCPUID2(entries []CPUIDEntry) error {
	hdr, buf := flexBuf[cpuid2Header, CPUIDEntry](len(entries))
	hdr.Nent = uint32(len(entries))
	copy(buf, entries)
	_, err := ioctlPtr(v.fd, kvmSetCPUID2, hdr)
	return err
}

// GetTSCKHz returns the guest TSC frequency in kHz (KVM_GET_TSC_KHZ,
// KVM_CAP_GET_TSC_KHZ).
func (v *VCPU) GetTSCKHz() (uint32, error) {
	khz, err := ioctlVal(v.fd, kvmGetTSCKHz, 0)
	return uint32(khz), err
}

// SetTSCKHz sets the guest TSC frequency in kHz (KVM_SET_TSC_KHZ,
// KVM_CAP_TSC_CONTROL).
func (v *VCPU) SetTSCKHz(khz uint32) error {
	_, err := ioctlVal(v.fd, kvmSetTSCKHz, uintptr(khz))
	return err
}

// GetXCRs returns the extended control registers (KVM_GET_XCRS,
// KVM_CAP_XCRS).
func (v *VCPU) GetXCRs() ([]XCR, error) {
	var x xcrs
	if _, err := ioctlPtr(v.fd, kvmGetXCRs, &x); err != nil {
		return nil, err
	}
	n := min(int(x.NrXCRs), MaxXCRs)
	return append([]XCR(nil), x.XCRs[:n]...), nil
}

// SetXCRs sets extended control registers, typically XCR0 (KVM_SET_XCRS,
// KVM_CAP_XCRS). At most MaxXCRs entries.
func (v *VCPU) SetXCRs(regs []XCR) error {
	if len(regs) > MaxXCRs {
		return fmt.Errorf("KVM_SET_XCRS: %d XCRs, at most %d", len(regs), MaxXCRs)
	}
	var x xcrs
	x.NrXCRs = uint32(len(regs))
	copy(x.XCRs[:], regs)
	_, err := ioctlPtr(v.fd, kvmSetXCRs, &x)
	return err
}

// SetSignalMask sets the signal mask in effect while the vCPU is inside
// KVM_RUN (KVM_SET_SIGNAL_MASK), so that a signal blocked in the thread but
// unblocked here kicks the vCPU out with EINTR. A nil mask removes it. Only
// the 64 signals of the kernel's sigset_t (mask.Val[0]) are used.
func (v *VCPU) SetSignalMask(mask *unix.Sigset_t) error {
	if mask == nil {
		_, err := ioctlVal(v.fd, kvmSetSignalMask, 0)
		return err
	}
	hdr, set := flexBuf[signalMaskHeader, byte](kernelSigsetSize)
	hdr.Len = kernelSigsetSize
	binary.LittleEndian.PutUint64(set, mask.Val[0])
	_, err := ioctlPtr(v.fd, kvmSetSignalMask, hdr)
	return err
}
