package monitor

import (
	"encoding/binary"
	"fmt"

	"brique.dev/brique/abi"
	"brique.dev/brique/monitor/kvm"
)

// Guest-physical layout set up before the first instruction (see package
// abi for the map). Everything here is a plain write to guest memory.

// Page-table frames (abi.PageTableMin..): PML4 first, as the guest expects.
const (
	pml4Addr = abi.PageTableMin
	pdptAddr = pml4Addr + 0x1000
	pd0Addr  = pml4Addr + 0x2000 // [0, 1 GiB)
	pd3Addr  = pml4Addr + 0x3000 // [3 GiB, 4 GiB): the hypercall window
	pt0Addr  = pml4Addr + 0x4000 // [0, 2 MiB) in 4 KiB pages
	ptEnd    = pml4Addr + 0x5000
)

// Page-table entry bits (Intel SDM Vol. 3A, 4.5).
const (
	ptP  = 1 << 0
	ptRW = 1 << 1
	ptUS = 1 << 2
	ptPS = 1 << 7
	ptNX = 1 << 63
)

// Control register and EFER bits (Intel SDM Vol. 3A, 2.5; AMD APM 3.1.7).
const (
	cr0PE = 1 << 0
	cr0MP = 1 << 1
	cr0ET = 1 << 4
	cr0NE = 1 << 5
	cr0WP = 1 << 16
	cr0PG = 1 << 31

	cr4PAE        = 1 << 5
	cr4PGE        = 1 << 7
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4FSGSBASE   = 1 << 16

	eferSCE = 1 << 0
	eferLME = 1 << 8
	eferLMA = 1 << 10
	eferNXE = 1 << 11
)

// guestMem is guest RAM as the monitor sees it. Every access is bounds
// checked: addresses come from the guest.
type guestMem []byte

func (m guestMem) u64(addr uint64) (uint64, error) {
	b, err := m.slice(addr, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (m guestMem) put64(addr, v uint64) {
	binary.LittleEndian.PutUint64(m[addr:addr+8], v)
}

func (m guestMem) slice(addr, n uint64) ([]byte, error) {
	end := addr + n
	if end < addr || end > uint64(len(m)) {
		return nil, fmt.Errorf("guest address range [%#x, +%d) is outside guest memory (%d bytes)", addr, n, len(m))
	}
	return m[addr:end], nil
}

// buildPageTables writes the identity map of guest RAM: page 0 read-only
// (the zpoline sled), the rest of the first 2 MiB in 4 KiB pages, then
// 2 MiB pages up to the end of RAM, plus the hypercall window. Every level
// has the U bit: all Go code runs at CPL 3.
func buildPageTables(m guestMem) {
	m.put64(pml4Addr, pdptAddr|ptP|ptRW|ptUS)
	m.put64(pdptAddr, pd0Addr|ptP|ptRW|ptUS)
	m.put64(pdptAddr+3*8, pd3Addr|ptP|ptRW|ptUS)
	m.put64(pd0Addr, pt0Addr|ptP|ptRW|ptUS)
	m.put64(pt0Addr, abi.ZeroPageAddr|ptP|ptUS)
	for i := uint64(1); i < 512; i++ {
		m.put64(pt0Addr+8*i, i*abi.PageSize|ptP|ptRW|ptUS)
	}
	m.put64(pt0Addr+8*(abi.ZeroPageAlias/abi.PageSize), abi.ZeroPageAddr|ptP|ptRW|ptUS|ptNX)
	for i := uint64(1); i < uint64(len(m))/abi.HugePageSize; i++ {
		m.put64(pd0Addr+8*i, i*abi.HugePageSize|ptP|ptRW|ptUS|ptPS)
	}
	hc := uint64(abi.HypercallBase)
	m.put64(pd3Addr+8*((hc-3<<30)/abi.HugePageSize), hc|ptP|ptRW|ptUS|ptPS|ptNX)
}

// GDT descriptors (Intel SDM Vol. 3A, 3.4.5): flat 64-bit segments.
const (
	gdtKernelCode = 0x00AF9A000000FFFF
	gdtKernelData = 0x00CF92000000FFFF
	gdtUserData   = 0x00CFF2000000FFFF
	gdtUserCode   = 0x00AFFA000000FFFF
	tssLimit      = 103
)

func buildGDT(m guestMem) {
	g := uint64(abi.GDTAddr)
	m.put64(g+abi.GDTKernelCode, gdtKernelCode)
	m.put64(g+abi.GDTKernelData, gdtKernelData)
	m.put64(g+abi.GDTUserData&^3, gdtUserData)
	m.put64(g+abi.GDTUserCode&^3, gdtUserCode)
	// 16-byte available 64-bit TSS descriptor.
	base := uint64(abi.TSSAddr)
	lo := uint64(tssLimit) | (base&0xFFFFFF)<<16 | uint64(0x89)<<40 | (base>>24&0xFF)<<56
	m.put64(g+abi.GDTTSS, lo)
	m.put64(g+abi.GDTTSS+8, base>>32)
	// TSS: RSP0 and IST1 both point at the exception stack.
	t := uint64(abi.TSSAddr)
	m.put64(t+4, abi.ISTStackTop)
	m.put64(t+0x24, abi.ISTStackTop)
	binary.LittleEndian.PutUint16(m[t+0x66:], tssLimit+1) // no I/O bitmap
}

func segment(sel uint16, code bool) kvm.Segment {
	s := kvm.Segment{Base: 0, Limit: 0xFFFFFFFF, Selector: sel, Present: 1, DPL: uint8(sel & 3), S: 1, G: 1}
	if code {
		s.Type = 11 // execute/read, accessed
		s.L = 1
	} else {
		s.Type = 3 // read/write, accessed
		s.DB = 1
	}
	return s
}

// cpuState returns the special registers of a 64-bit CPU already at CPL 3.
func cpuState(s *kvm.Sregs) {
	s.CS = segment(abi.GDTUserCode, true)
	data := segment(abi.GDTUserData, false)
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = kvm.Segment{Base: abi.TSSAddr, Limit: tssLimit, Selector: abi.GDTTSS, Type: 11, Present: 1}
	s.LDT = kvm.Segment{Unusable: 1}
	s.GDT = kvm.DTable{Base: abi.GDTAddr, Limit: abi.GDTEntries*8 - 1}
	s.IDT = kvm.DTable{Base: abi.IDTAddr, Limit: 256*16 - 1}
	s.CR0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0PG
	s.CR3 = pml4Addr
	s.CR4 = cr4PAE | cr4OSFXSR | cr4OSXMMEXCPT | cr4FSGSBASE
	s.EFER = eferSCE | eferLME | eferLMA | eferNXE
}

// bootInfo fills the boot info page. strs are argv then env.
func writeBootInfo(m guestMem, imageEnd, tscHz, tsc0 uint64, wall0 int64, argv, env []string, seed [32]byte, flags uint64, cmdline string) error {
	b := uint64(abi.BootInfoAddr)
	put := func(off, v uint64) { m.put64(b+off, v) }
	put(abi.BootInfoMagicOff, abi.BootMagic)
	put(abi.BootInfoVersionOff, abi.BootVersion)
	put(abi.BootInfoMemSizeOff, uint64(len(m)))
	put(abi.BootInfoImageEnd, imageEnd)
	put(abi.BootInfoTSCHz, tscHz)
	put(abi.BootInfoTSC0, tsc0)
	put(abi.BootInfoWall0, uint64(wall0))
	put(abi.BootInfoArgc, uint64(len(argv)))
	put(abi.BootInfoEnvc, uint64(len(env)))
	put(abi.BootInfoFlags, flags)
	put(abi.BootInfoPTEnd, ptEnd)
	copy(m[b+abi.BootInfoRandom:], seed[:])
	off := uint64(abi.BootInfoHeaderSize)
	start := off
	for _, s := range append(append([]string{}, argv...), env...) {
		if off+uint64(len(s))+1 > abi.BootInfoSize {
			return fmt.Errorf("arguments and environment are too large: the limit is %d bytes in all", abi.BootInfoSize-abi.BootInfoHeaderSize)
		}
		copy(m[b+off:], s)
		m[b+off+uint64(len(s))] = 0
		off += uint64(len(s)) + 1
	}
	put(abi.BootInfoStrOff, start)
	put(abi.BootInfoStrLen, off-start)
	if cmdline != "" {
		if off+uint64(len(cmdline))+1 > abi.BootInfoSize {
			return fmt.Errorf("arguments, environment and command line are too large: the limit is %d bytes in all", abi.BootInfoSize-abi.BootInfoHeaderSize)
		}
		copy(m[b+off:], cmdline)
		m[b+off+uint64(len(cmdline))] = 0
		put(abi.BootInfoCmdlineOff, off)
		put(abi.BootInfoCmdlineLen, uint64(len(cmdline)))
	}
	return nil
}

// virt64 reads the 8 bytes at guest virtual address va through the guest's
// page tables (rooted at pml4Addr; the library OS maps mmap regions, such
// as goroutine stacks, outside the identity map). va must be 8-aligned.
func (m guestMem) virt64(va uint64) (uint64, error) {
	table := uint64(pml4Addr)
	for level, shift := 0, uint(39); level < 4; level, shift = level+1, shift-9 {
		e, err := m.u64(table + 8*(va>>shift&511))
		if err != nil {
			return 0, err
		}
		if e&ptP == 0 {
			return 0, fmt.Errorf("guest address %#x is not mapped", va)
		}
		frame := e & 0x000F_FFFF_FFFF_F000
		if level > 0 && level < 3 && e&ptPS != 0 { // 1 GiB or 2 MiB page
			return m.u64(frame&^(1<<shift-1) | va&(1<<shift-1))
		}
		if level == 3 {
			return m.u64(frame | va&0xFFF)
		}
		table = frame
	}
	panic("unreachable")
}
