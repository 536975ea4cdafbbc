// Package kvm is a thin, typed Go binding for the Linux KVM API, written
// directly over golang.org/x/sys/unix (no cgo).
//
// It covers what the Brique monitor needs to run an x86-64 guest: opening
// /dev/kvm, creating a VM and its memory slots, creating vCPUs (with their
// mmap'ed struct kvm_run), getting and setting registers, special registers,
// MSRs, CPUID, XCRs and the TSC frequency, and decoding exits.
//
// References:
//
//   - The KVM API documentation, Documentation/virt/kvm/api.rst in the Linux
//     source tree (https://docs.kernel.org/virt/kvm/api.html). Section
//     numbers in comments ("api.rst 4.10") point there.
//   - The UAPI headers <linux/kvm.h> and <asm/kvm.h> (x86). Every struct
//     passed to the kernel is mirrored field by field from those headers,
//     with a "mirrors struct kvm_xxx" comment, and its size is checked by a
//     test against the value the C compiler gives. Ioctl numbers are computed
//     the way the header's _IO/_IOR/_IOW/_IOWR macros compute them, from the
//     direction, KVMIO (0xAE), the command number and the struct size.
//
// The layout of the structs is x86-64 specific, so the package is only
// implemented for linux/amd64; on other platforms it is empty.
//
// Errors. Open returns an *OpenError whose Kind (ErrNotPresent,
// ErrPermission, ErrAPIVersion) says what the user can do about it. Every
// other failing ioctl returns an *IoctlError naming the ioctl and wrapping
// the unix.Errno ("KVM_SET_SREGS: invalid argument"), so errors.Is(err,
// unix.EINVAL) works. VCPU.Run is the exception: it returns the bare
// unix.Errno (EINTR, EAGAIN, ...) because the caller's run loop branches on
// it.
//
// Threads. KVM allows vCPU ioctls from any thread, but a vCPU is cheapest to
// run from one OS thread (and signals used to kick it out of KVM_RUN must
// target that thread), so callers normally call runtime.LockOSThread in the
// goroutine that calls VCPU.Run. None of the types here is safe for
// concurrent use, except RunData.SetImmediateExit, which may be called from
// any goroutine.
//
// Unsafe code (pointer conversions for ioctl arguments and the kvm_run
// mapping) lives only in files named *_unsafe.go.
package kvm
