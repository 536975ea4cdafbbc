//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kinds of *OpenError, for errors.Is.
var (
	// ErrNotPresent: /dev/kvm does not exist or has no driver behind it
	// (no KVM on this machine, or the kvm module is not loaded).
	ErrNotPresent = errors.New("KVM not present")
	// ErrPermission: /dev/kvm exists but this process may not open it.
	ErrPermission = errors.New("no permission to use KVM")
	// ErrAPIVersion: the device does not answer KVM_GET_API_VERSION with 12.
	ErrAPIVersion = errors.New("unsupported KVM API version")
)

// APIVersion is the only KVM API version this package speaks (api.rst 4.1:
// KVM_GET_API_VERSION "should always be 12").
const APIVersion = 12

// DevicePath is where Open looks for KVM.
const DevicePath = "/dev/kvm"

// OpenError is returned by Open. Kind is ErrNotPresent, ErrPermission,
// ErrAPIVersion or nil (any other failure); Err is the underlying
// unix.Errno, if any. Both are reachable with errors.Is.
type OpenError struct {
	Path    string
	Kind    error
	Version int // API version reported, for ErrAPIVersion without Err
	Err     error
}

func (e *OpenError) Error() string {
	switch {
	case e.Kind == ErrNotPresent && e.Err == unix.ENOENT:
		return e.Path + " not found: this machine has no KVM (enable virtualization or run on a KVM host)"
	case e.Kind == ErrNotPresent:
		return fmt.Sprintf("open %s: %v: the KVM driver is not loaded (enable virtualization in firmware and load kvm_intel or kvm_amd, or run on a KVM host)", e.Path, e.Err)
	case e.Kind == ErrPermission:
		return fmt.Sprintf("open %s: permission denied — add your user to the kvm group or run as root", e.Path)
	case e.Kind == ErrAPIVersion && e.Err != nil:
		return fmt.Sprintf("%s: KVM_GET_API_VERSION: %v (is %s a KVM device?)", e.Path, e.Err, e.Path)
	case e.Kind == ErrAPIVersion:
		return fmt.Sprintf("%s: KVM API version %d, this monitor needs %d", e.Path, e.Version, APIVersion)
	}
	return fmt.Sprintf("open %s: %v", e.Path, e.Err)
}

// Unwrap returns Kind and Err, so errors.Is matches either.
func (e *OpenError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// IoctlError is a failed KVM ioctl: Op is its header name ("KVM_SET_SREGS"),
// Errno what the kernel returned. Error() reads "KVM_SET_SREGS: invalid
// argument"; errors.Is(err, unix.EINVAL) works.
type IoctlError struct {
	Op    string
	Errno unix.Errno
}

func (e *IoctlError) Error() string { return e.Op + ": " + e.Errno.Error() }

// Unwrap returns the errno.
func (e *IoctlError) Unwrap() error { return e.Errno }

func ioctlError(req uintptr, errno unix.Errno) error {
	return &IoctlError{Op: ioctlName(req), Errno: errno}
}

// MSRError reports that KVM_GET_MSRS or KVM_SET_MSRS processed only the first
// Done of the requested MSRs: MSR Index (the next one) was refused, because
// it does not exist or (for a set) the value is invalid.
type MSRError struct {
	Op    string // "KVM_GET_MSRS" or "KVM_SET_MSRS"
	Index uint32
	Done  int
	Total int
}

func (e *MSRError) Error() string {
	return fmt.Sprintf("%s: MSR %#x refused (%d of %d processed)", e.Op, e.Index, e.Done, e.Total)
}
