//go:build linux && amd64

package kvm_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"brique.dev/brique/internal/kvmtest"
	"brique.dev/brique/monitor/kvm"
)

// The tests in this file run real guests; they skip without KVM, or fail if
// BRIQUE_REQUIRE_KVM=1 (see package kvmtest).

const memSize = 2 << 20 // 2 MiB of guest memory at guest-physical 0

type guest struct {
	sys *kvm.System
	vm  *kvm.VM
	cpu *kvm.VCPU
	mem []byte
}

// newGuest creates a VM with memSize bytes of memory in slot 0 at
// guest-physical 0 and one vCPU, in its reset state (real mode).
func newGuest(t *testing.T) *guest {
	t.Helper()
	kvmtest.RequireKVM(t)
	g := &guest{}
	var err error
	if g.sys, err = kvm.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.sys.Close() })
	if g.vm, err = g.sys.CreateVM(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.vm.Close() })
	g.mem, err = unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(g.mem) })
	if err := g.vm.SetUserMemory(0, 0, 0, g.mem); err != nil {
		t.Fatal(err)
	}
	if g.cpu, err = g.vm.CreateVCPU(0); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the vCPU goes before memory and VM.
	t.Cleanup(func() {
		if err := g.cpu.Close(); err != nil {
			t.Errorf("VCPU.Close: %v", err)
		}
	})
	return g
}

// run runs the vCPU until an exit other than EINTR/EAGAIN.
func (g *guest) run(t *testing.T) kvm.ExitReason {
	t.Helper()
	for {
		err := g.cpu.Run()
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			t.Fatalf("KVM_RUN: %v", err)
		}
		return g.cpu.RunData().ExitReason()
	}
}

// expect runs the vCPU and fails unless it exits with want.
func (g *guest) expect(t *testing.T, want kvm.ExitReason) {
	t.Helper()
	got := g.run(t)
	if got == want {
		return
	}
	rd := g.cpu.RunData()
	regs, _ := g.cpu.GetRegs()
	switch got {
	case kvm.ExitInternalError:
		t.Fatalf("exit %v (%v) at rip %#x, want %v", got, rd.InternalError(), regs.RIP, want)
	case kvm.ExitFailEntry:
		t.Fatalf("exit %v (%+v) at rip %#x, want %v", got, rd.FailEntry(), regs.RIP, want)
	}
	t.Fatalf("exit %v at rip %#x, want %v", got, regs.RIP, want)
}

// TestSmokeRealModeIO runs a real-mode program from the vCPU's reset state:
//
//	mov al, 0x42 ; out 0x10, al ; in al, 0x11 ; hlt
func TestSmokeRealModeIO(t *testing.T) {
	g := newGuest(t)
	const entry = 0x1000
	copy(g.mem[entry:], []byte{0xb0, 0x42, 0xe6, 0x10, 0xe4, 0x11, 0xf4})

	sregs, err := g.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	if sregs.CR0&1 != 0 {
		t.Fatalf("vCPU not in real mode after reset: cr0 %#x", sregs.CR0)
	}
	sregs.CS.Base, sregs.CS.Selector = 0, 0
	if err := g.cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	if err := g.cpu.SetRegs(&kvm.Regs{RIP: entry, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	rd := g.cpu.RunData()

	g.expect(t, kvm.ExitIO)
	if io, data := rd.IO(), rd.IOData(); io.Direction != kvm.IODirectionOut || io.Port != 0x10 || io.Size != 1 || io.Count != 1 || string(data) != "\x42" {
		t.Fatalf("OUT exit %+v data %x, want out port 0x10 size 1 count 1 data 42", io, data)
	}

	g.expect(t, kvm.ExitIO)
	io, data := rd.IO(), rd.IOData()
	if io.Direction != kvm.IODirectionIn || io.Port != 0x11 || len(data) != 1 {
		t.Fatalf("IN exit %+v data %x, want in port 0x11 size 1", io, data)
	}
	data[0] = 0x99 // the value the guest's IN reads

	g.expect(t, kvm.ExitHLT)
	regs, err := g.cpu.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	if regs.RAX&0xff != 0x99 || regs.RIP != entry+7 {
		t.Fatalf("after hlt: al %#x rip %#x, want al 0x99 rip %#x", regs.RAX&0xff, regs.RIP, entry+7)
	}
	t.Logf("real mode: OUT 0x42 to port 0x10 -> %v, IN from port 0x11 -> %v, then %v", kvm.ExitIO, kvm.ExitIO, kvm.ExitHLT)
}

// setupLongMode puts the vCPU in 64-bit mode at entry with identity-mapped
// 2 MiB pages for guest-physical [0, 4 MiB): the first is backed by the
// guest memory, the second (at mmioBase) has no memory slot, so accesses to
// it exit with KVM_EXIT_MMIO.
func setupLongMode(t *testing.T, g *guest, entry uint64) {
	t.Helper()
	cpuid, err := g.sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	// KVM refuses EFER.LME unless the guest's CPUID has long mode.
	if err := g.cpu.SetCPUID2(cpuid); err != nil {
		t.Fatal(err)
	}
	const (
		pml4 = 0x2000
		pdpt = 0x3000
		pd   = 0x4000
		// page table entry bits
		present, writable, huge = 1 << 0, 1 << 1, 1 << 7
	)
	le := binary.LittleEndian
	le.PutUint64(g.mem[pml4:], pdpt|present|writable)
	le.PutUint64(g.mem[pdpt:], pd|present|writable)
	le.PutUint64(g.mem[pd:], 0|present|writable|huge)
	le.PutUint64(g.mem[pd+8:], mmioBase|present|writable|huge)

	sregs, err := g.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	code := kvm.Segment{Limit: 0xffffffff, Selector: 0x08, Type: 0xb, Present: 1, S: 1, L: 1, G: 1}
	data := kvm.Segment{Limit: 0xffffffff, Selector: 0x10, Type: 0x3, Present: 1, S: 1, DB: 1, G: 1}
	sregs.CS = code
	sregs.DS, sregs.ES, sregs.FS, sregs.GS, sregs.SS = data, data, data, data, data
	sregs.CR3 = pml4
	sregs.CR4 = 1 << 5                             // PAE
	sregs.CR0 = 1<<0 | 1<<4 | 1<<5 | 1<<16 | 1<<31 // PE ET NE WP PG
	sregs.EFER = 1<<8 | 1<<10                      // LME LMA
	if err := g.cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	if err := g.cpu.SetRegs(&kvm.Regs{RIP: entry, RFLAGS: 2, RSP: 0x8000}); err != nil {
		t.Fatal(err)
	}
}

const mmioBase = 0x200000 // first guest-physical byte past the memory slot

// TestSmokeLongModeMMIO runs a 64-bit program that stores to and loads from
// unbacked guest-physical memory:
//
//	mov eax, 0xdeadbeef ; mov [0x200000], eax ; mov ebx, [0x200008] ; hlt
func TestSmokeLongModeMMIO(t *testing.T) {
	g := newGuest(t)
	const entry = 0x1000
	prog := []byte{
		0xb8, 0xef, 0xbe, 0xad, 0xde, // mov eax, 0xdeadbeef
		0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, // mov [0x200000], eax
		0x8b, 0x1c, 0x25, 0x08, 0x00, 0x20, 0x00, // mov ebx, [0x200008]
		0xf4, // hlt
	}
	copy(g.mem[entry:], prog)
	setupLongMode(t, g, entry)
	rd := g.cpu.RunData()

	g.expect(t, kvm.ExitMMIO)
	m := rd.MMIO()
	if m.PhysAddr != mmioBase || !m.Write() || m.Len != 4 || string(m.Bytes()) != "\xef\xbe\xad\xde" {
		t.Fatalf("store exit %+v, want write of ef be ad de to %#x", m, mmioBase)
	}

	g.expect(t, kvm.ExitMMIO)
	m = rd.MMIO()
	if m.PhysAddr != mmioBase+8 || m.Write() || m.Len != 4 {
		t.Fatalf("load exit %+v, want 4-byte read of %#x", m, mmioBase+8)
	}
	rd.SetMMIOData([]byte{0x11, 0x22, 0x33, 0x44})

	g.expect(t, kvm.ExitHLT)
	regs, err := g.cpu.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	if regs.RBX != 0x44332211 || regs.RIP != entry+uint64(len(prog)) {
		t.Fatalf("after hlt: rbx %#x rip %#x, want 0x44332211 and %#x", regs.RBX, regs.RIP, entry+len(prog))
	}
	t.Logf("long mode: store -> %v write %#x len 4 data % x; load -> %v read, completed with SetMMIOData; then %v",
		kvm.ExitMMIO, mmioBase, []byte{0xef, 0xbe, 0xad, 0xde}, kvm.ExitMMIO, kvm.ExitHLT)
}

// TestImmediateExit checks that KVM_RUN with immediate_exit set returns the
// bare EINTR without entering the guest.
func TestImmediateExit(t *testing.T) {
	g := newGuest(t)
	if n, err := g.sys.CheckExtension(kvm.CapImmediateExit); err != nil || n == 0 {
		t.Skipf("KVM_CAP_IMMEDIATE_EXIT: %d, %v", n, err)
	}
	copy(g.mem[0x1000:], []byte{0xf4}) // hlt
	if err := g.cpu.SetRegs(&kvm.Regs{RIP: 0x1000, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	sregs, _ := g.cpu.GetSregs()
	sregs.CS.Base, sregs.CS.Selector = 0, 0
	if err := g.cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	rd := g.cpu.RunData()
	rd.SetImmediateExit(true)
	if !rd.ImmediateExit() {
		t.Fatal("ImmediateExit() false after SetImmediateExit(true)")
	}
	if err := g.cpu.Run(); err != unix.EINTR {
		t.Fatalf("Run with immediate_exit = %v (%T), want the bare unix.EINTR", err, err)
	}
	rd.SetImmediateExit(false)
	g.expect(t, kvm.ExitHLT)
}

// TestVCPUState exercises the state ioctls on a fresh vCPU.
func TestVCPUState(t *testing.T) {
	g := newGuest(t)

	if n, err := g.vm.CheckExtension(kvm.CapUserMemory); err != nil || n == 0 {
		t.Errorf("KVM_CAP_USER_MEMORY = %d, %v", n, err)
	}
	if size, err := g.sys.VCPUMmapSize(); err != nil || size < 4096 {
		t.Errorf("VCPUMmapSize = %d, %v", size, err)
	}

	cpuid, err := g.sys.SupportedCPUID()
	if err != nil || len(cpuid) == 0 {
		t.Fatalf("SupportedCPUID: %d entries, %v", len(cpuid), err)
	}
	if cpuid[0].Function != 0 || cpuid[0].EAX == 0 {
		t.Errorf("first CPUID entry %+v, want leaf 0 with max leaf in eax", cpuid[0])
	}
	if err := g.cpu.SetCPUID2(cpuid); err != nil {
		t.Fatal(err)
	}

	khz, err := g.cpu.GetTSCKHz()
	if err != nil || khz == 0 {
		t.Errorf("GetTSCKHz = %d, %v", khz, err)
	}
	t.Logf("guest TSC %d kHz, %d supported CPUID entries", khz, len(cpuid))

	// Registers round-trip.
	want := kvm.Regs{RAX: 1, RBX: 2, R15: 0xf00d, RIP: 0x1234, RFLAGS: 0x2}
	if err := g.cpu.SetRegs(&want); err != nil {
		t.Fatal(err)
	}
	if got, err := g.cpu.GetRegs(); err != nil || got != want {
		t.Errorf("GetRegs = %+v, %v; want %+v", got, err, want)
	}

	// MSRs: the index list, and a write/read of MSR_STAR.
	const msrSTAR = 0xc0000081
	list, err := g.sys.MSRIndexList()
	if err != nil || len(list) == 0 {
		t.Errorf("MSRIndexList: %d MSRs, %v", len(list), err)
	}
	if err := g.cpu.SetMSRs([]kvm.MSREntry{{Index: msrSTAR, Data: 0x0023001000000000}}); err != nil {
		t.Fatal(err)
	}
	msrs, err := g.cpu.GetMSRs([]uint32{msrSTAR})
	if err != nil || len(msrs) != 1 || msrs[0].Data != 0x0023001000000000 {
		t.Errorf("GetMSRs(STAR) = %+v, %v", msrs, err)
	}
	// An MSR that does not exist: KVM stops at it.
	_, err = g.cpu.GetMSRs([]uint32{msrSTAR, 0x4b564dff})
	var me *kvm.MSRError
	if !errors.As(err, &me) || me.Index != 0x4b564dff || me.Done != 1 {
		t.Errorf("GetMSRs(STAR, bogus) error = %v, want *MSRError at 0x4b564dff after 1", err)
	}

	if n, _ := g.sys.CheckExtension(kvm.CapXCRs); n != 0 {
		xcrs, err := g.cpu.GetXCRs()
		if err != nil || len(xcrs) == 0 || xcrs[0].XCR != 0 || xcrs[0].Value&1 == 0 {
			t.Errorf("GetXCRs = %+v, %v; want XCR0 with x87 bit", xcrs, err)
		}
		if err := g.cpu.SetXCRs(xcrs); err != nil {
			t.Errorf("SetXCRs(%+v): %v", xcrs, err)
		}
	}

	fpu, err := g.cpu.GetFPU()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cpu.SetFPU(&fpu); err != nil {
		t.Error(err)
	}

	var set unix.Sigset_t
	if err := g.cpu.SetSignalMask(&set); err != nil {
		t.Errorf("SetSignalMask(empty): %v", err)
	}
	if err := g.cpu.SetSignalMask(nil); err != nil {
		t.Errorf("SetSignalMask(nil): %v", err)
	}

	// Errors carry the ioctl name and the errno: paging without protected
	// mode is an invalid CR0.
	sregs, err := g.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	sregs.CR0 = 1 << 31
	err = g.cpu.SetSregs(&sregs)
	if !errors.Is(err, unix.EINVAL) || err.Error() != "KVM_SET_SREGS: invalid argument" {
		t.Errorf("SetSregs(CR0=PG only) = %v, want KVM_SET_SREGS: invalid argument", err)
	}
}

// TestClose checks Close on every object is idempotent.
func TestClose(t *testing.T) {
	g := newGuest(t)
	for i := 0; i < 2; i++ {
		if err := g.cpu.Close(); err != nil {
			t.Errorf("VCPU.Close #%d: %v", i+1, err)
		}
		if err := g.vm.Close(); err != nil {
			t.Errorf("VM.Close #%d: %v", i+1, err)
		}
		if err := g.sys.Close(); err != nil {
			t.Errorf("System.Close #%d: %v", i+1, err)
		}
	}
}
