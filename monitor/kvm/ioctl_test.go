//go:build linux && amd64

package kvm

import "testing"

// Expected values are the ones the C macros in <linux/kvm.h> evaluate to on
// x86-64 (printed by gcc), the well-known numbers seen in strace output.
func TestIoctlNumbers(t *testing.T) {
	for _, c := range []struct {
		req  uintptr
		want uintptr
	}{
		{kvmGetAPIVersion, 0xae00},
		{kvmCreateVM, 0xae01},
		{kvmGetMSRIndexList, 0xc004ae02},
		{kvmCheckExtension, 0xae03},
		{kvmGetVCPUMmapSize, 0xae04},
		{kvmGetSupportedCPUID, 0xc008ae05},
		{kvmCreateVCPU, 0xae41},
		{kvmSetUserMemoryRegion, 0x4020ae46},
		{kvmSetTSSAddr, 0xae47},
		{kvmSetIdentityMapAddr, 0x4008ae48},
		{kvmRun, 0xae80},
		{kvmGetRegs, 0x8090ae81},
		{kvmSetRegs, 0x4090ae82},
		{kvmGetSregs, 0x8138ae83},
		{kvmSetSregs, 0x4138ae84},
		{kvmGetMSRs, 0xc008ae88},
		{kvmSetMSRs, 0x4008ae89},
		{kvmSetSignalMask, 0x4004ae8b},
		{kvmGetFPU, 0x81a0ae8c},
		{kvmSetFPU, 0x41a0ae8d},
		{kvmSetCPUID2, 0x4008ae90},
		{kvmSetTSCKHz, 0xaea2},
		{kvmGetTSCKHz, 0xaea3},
		{kvmGetXCRs, 0x8188aea6},
		{kvmSetXCRs, 0x4188aea7},
	} {
		if c.req != c.want {
			t.Errorf("%s = %#x, want %#x", ioctlName(c.req), c.req, c.want)
		}
	}
}

func TestIoctlNames(t *testing.T) {
	if got := ioctlName(kvmSetSregs); got != "KVM_SET_SREGS" {
		t.Errorf("ioctlName(KVM_SET_SREGS) = %q", got)
	}
	if got := ioctlName(0x1234); got != "ioctl 0x1234" {
		t.Errorf("ioctlName(0x1234) = %q", got)
	}
}
