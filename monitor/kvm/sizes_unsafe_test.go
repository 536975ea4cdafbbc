//go:build linux && amd64

package kvm

import (
	"testing"
	"unsafe"
)

// The C sizes below are sizeof() of the structs in the x86-64 UAPI headers
// <linux/kvm.h> and <asm/kvm.h> (linux-libc-dev for Linux 6.x), as printed by
// gcc. Headers with a flexible array member are the fixed part only, which
// is also what the ioctl numbers encode.
func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"struct kvm_regs (asm/kvm.h)", unsafe.Sizeof(Regs{}), 144},
		{"struct kvm_segment (asm/kvm.h)", unsafe.Sizeof(Segment{}), 24},
		{"struct kvm_dtable (asm/kvm.h)", unsafe.Sizeof(DTable{}), 16},
		{"struct kvm_sregs (asm/kvm.h)", unsafe.Sizeof(Sregs{}), 312},
		{"struct kvm_fpu (asm/kvm.h)", unsafe.Sizeof(FPU{}), 416},
		{"struct kvm_msr_entry (asm/kvm.h)", unsafe.Sizeof(MSREntry{}), 16},
		{"struct kvm_msrs (asm/kvm.h)", unsafe.Sizeof(msrsHeader{}), 8},
		{"struct kvm_msr_list (asm/kvm.h)", unsafe.Sizeof(msrListHeader{}), 4},
		{"struct kvm_cpuid_entry2 (asm/kvm.h)", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"struct kvm_cpuid2 (asm/kvm.h)", unsafe.Sizeof(cpuid2Header{}), 8},
		{"struct kvm_xcr (asm/kvm.h)", unsafe.Sizeof(XCR{}), 16},
		{"struct kvm_xcrs (asm/kvm.h)", unsafe.Sizeof(xcrs{}), 392},
		{"struct kvm_userspace_memory_region (linux/kvm.h)", unsafe.Sizeof(UserspaceMemoryRegion{}), 32},
		{"struct kvm_signal_mask (linux/kvm.h)", unsafe.Sizeof(signalMaskHeader{}), 4},
		{"struct kvm_run (linux/kvm.h)", unsafe.Sizeof(kvmRunStruct{}), 2352},
		{"kvm_run.hw (linux/kvm.h)", unsafe.Sizeof(uint64(0)), 8},
		{"kvm_run.fail_entry (linux/kvm.h)", unsafe.Sizeof(FailEntryExit{}), 16},
		{"kvm_run.ex (linux/kvm.h)", unsafe.Sizeof(ExceptionExit{}), 8},
		{"kvm_run.io (linux/kvm.h)", unsafe.Sizeof(IOExit{}), 16},
		{"kvm_run.mmio (linux/kvm.h)", unsafe.Sizeof(MMIOExit{}), 24},
		{"kvm_run.internal (linux/kvm.h)", unsafe.Sizeof(InternalErrorExit{}), 136},
		{"kvm_run.system_event (linux/kvm.h)", unsafe.Sizeof(SystemEventExit{}), 136},
	} {
		if c.got != c.want {
			t.Errorf("sizeof(%s) = %d in Go, want %d as in C", c.name, c.got, c.want)
		}
	}
}

// Offsets inside struct kvm_run and struct kvm_sregs, from gcc's offsetof.
func TestStructOffsets(t *testing.T) {
	var r kvmRunStruct
	var s Sregs
	var m MMIOExit
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_run.immediate_exit", unsafe.Offsetof(r.ImmediateExit), 1},
		{"kvm_run.exit_reason", unsafe.Offsetof(r.ExitReason), 8},
		{"kvm_run.cr8", unsafe.Offsetof(r.CR8), 16},
		{"kvm_run.apic_base", unsafe.Offsetof(r.APICBase), 24},
		{"kvm_run.mmio (exit union)", unsafe.Offsetof(r.Exit), 32},
		{"kvm_run.kvm_valid_regs", unsafe.Offsetof(r.KVMValidRegs), 288},
		{"kvm_run.s", unsafe.Offsetof(r.S), 304},
		{"kvm_run.mmio.data - kvm_run.mmio", unsafe.Offsetof(m.Data), 8},
		{"kvm_run.mmio.len - kvm_run.mmio", unsafe.Offsetof(m.Len), 16},
		{"kvm_run.mmio.is_write - kvm_run.mmio", unsafe.Offsetof(m.IsWrite), 20},
		{"kvm_sregs.cr0", unsafe.Offsetof(s.CR0), 224},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(s.InterruptBitmap), 280},
	} {
		if c.got != c.want {
			t.Errorf("offsetof(%s) = %d in Go, want %d as in C", c.name, c.got, c.want)
		}
	}
}
