//go:build linux && amd64

package kvm

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenNotPresent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kvm")
	_, err := openPath(path)
	if !errors.Is(err, ErrNotPresent) || !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("openPath(missing) = %v, want ErrNotPresent wrapping ENOENT", err)
	}
	want := path + " not found: this machine has no KVM (enable virtualization or run on a KVM host)"
	if err.Error() != want {
		t.Errorf("message %q\nwant    %q", err, want)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Path != path {
		t.Errorf("error %#v is not an *OpenError for %s", err, path)
	}
}

func TestOpenNotKVM(t *testing.T) {
	// /dev/null opens fine but does not know KVM_GET_API_VERSION.
	_, err := openPath("/dev/null")
	if !errors.Is(err, ErrAPIVersion) || !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("openPath(/dev/null) = %v, want ErrAPIVersion wrapping ENOTTY", err)
	}
	if !strings.Contains(err.Error(), "KVM_GET_API_VERSION") {
		t.Errorf("message %q does not name the ioctl", err)
	}
}

func TestOpenErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		kind error
		want string
	}{
		{classifyOpenError("/dev/kvm", unix.ENOENT), ErrNotPresent,
			"/dev/kvm not found: this machine has no KVM (enable virtualization or run on a KVM host)"},
		{classifyOpenError("/dev/kvm", unix.EACCES), ErrPermission,
			"open /dev/kvm: permission denied — add your user to the kvm group or run as root"},
		{classifyOpenError("/dev/kvm", unix.EPERM), ErrPermission,
			"open /dev/kvm: permission denied — add your user to the kvm group or run as root"},
		{classifyOpenError("/dev/kvm", unix.ENXIO), ErrNotPresent,
			"open /dev/kvm: no such device or address: the KVM driver is not loaded (enable virtualization in firmware and load kvm_intel or kvm_amd, or run on a KVM host)"},
		{&OpenError{Path: "/dev/kvm", Kind: ErrAPIVersion, Version: 11}, ErrAPIVersion,
			"/dev/kvm: KVM API version 11, this monitor needs 12"},
		{classifyOpenError("/dev/kvm", unix.EMFILE), nil,
			"open /dev/kvm: too many open files"},
	} {
		if c.err.Error() != c.want {
			t.Errorf("message %q\nwant    %q", c.err, c.want)
		}
		for _, k := range []error{ErrNotPresent, ErrPermission, ErrAPIVersion} {
			if errors.Is(c.err, k) != (k == c.kind) {
				t.Errorf("%q: errors.Is(%v) = %v", c.err, k, !(k == c.kind))
			}
		}
	}
}

func TestIoctlError(t *testing.T) {
	err := ioctlError(kvmSetSregs, unix.EINVAL)
	if err.Error() != "KVM_SET_SREGS: invalid argument" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("errors.Is(%v, EINVAL) = false", err)
	}
}
