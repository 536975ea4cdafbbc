package kernel

import "brique.dev/brique/abi"

// Memory: a frame allocator over the guest RAM the image does not use,
// x86-64 4-level page tables (the monitor's identity map of the first GiB
// stays untouched), and a table of mappings (VMAs) that Linux's mmap,
// munmap, mprotect and madvise manipulate. Pages of a mapping are allocated
// on first touch (page fault), a few at a time.

// Page table entry bits (Intel SDM Vol. 3A, 4.5).
const (
	ptePresent = 1 << 0
	pteWrite   = 1 << 1
	pteUser    = 1 << 2
	pteHuge    = 1 << 7
	pteNX      = 1 << 63
	pteAddr    = 0x000FFFFFFFFFF000
)

// Linux protections and flags (asm-generic/mman-common.h).
const (
	protRead  = 0x1
	protWrite = 0x2
	protExec  = 0x4

	mapShared    = 0x01
	mapPrivate   = 0x02
	mapFixed     = 0x10
	mapAnonymous = 0x20
	mapFixedNoRe = 0x100000
)

const (
	// faultAround is how much of a mapping one page fault maps: a fault
	// costs ~30 us on kvm-pvm, zeroing a page well under 1 us.
	faultAround = 64 << 10
	maxVMAs     = 1024
	userMin     = abi.DirectMapEnd // below: the identity map
	userMax     = 0x7ffffffff000   // canonical lower half
	mmapTop     = mainStackTop - mainStackSize - (1 << 30)
)

type vma struct {
	start, end uintptr
	prot       uint32
}

var (
	vmas  [maxVMAs]vma
	nvmas int

	mmapNext uintptr = mmapTop // next address handed out by mmap(nil), growing down

	// Frames: an intrusive free list (the next pointer lives in the free
	// frame) and two bump ranges: below the image and above it.
	freeList               uintptr
	bumpLo, bumpLoEnd      uintptr
	bumpHi, bumpHiEnd      uintptr
	framesUsed, framesPeak uint64
	memSize                uintptr
)

func mmInit() {
	memSize = uintptr(bootInfo(abi.BootInfoMemSizeOff))
	bumpLo = abi.FreeLowStart
	bumpLoEnd = abi.ImageBase
	if pt := uintptr(bootInfo(abi.BootInfoPTEnd)); pt > bumpLo {
		bumpLo = pt
	}
	bumpHi = uintptr(bootInfo(abi.BootInfoImageEnd))
	bumpHiEnd = memSize
	mmapNext = mmapTop
}

// allocFrame returns a zeroed 4 KiB frame, or 0 when memory is exhausted.
// Only a reused frame is cleared: one never handed out before is still as
// the monitor left it, zero (guest RAM is a fresh anonymous mapping, and
// the monitor writes only below FreeLowStart and in the image). Clearing
// fresh frames made the host back every page of each 64 KiB fault-around
// at once (half of hello's guest boot time, measured with --cpuprofile),
// even pages the program never touches.
func allocFrame() uintptr {
	var f uintptr
	switch {
	case freeList != 0:
		f = freeList
		freeList = uintptr(load64(f))
		memclr(f, abi.PageSize)
	case bumpLo < bumpLoEnd:
		f = bumpLo
		bumpLo += abi.PageSize
	case bumpHi < bumpHiEnd:
		f = bumpHi
		bumpHi += abi.PageSize
	default:
		return 0
	}
	countFrames(1)
	return f
}

// countFrames accounts for n frames handed out.
func countFrames(n uintptr) {
	framesUsed += uint64(n)
	framesPeak = max(framesPeak, framesUsed)
}

func freeFrame(f uintptr) {
	store64(f, uint64(freeList))
	freeList = f
	framesUsed--
}

// mustFrame is allocFrame that stops the VM with an out-of-memory report.
func mustFrame() uintptr {
	f := allocFrame()
	if f == 0 {
		crash(abi.CrashOOM, uint64(memSize), "out of guest memory")
	}
	return f
}

// pte returns the address of the last-level entry for va, creating the
// intermediate tables when create is set (0 if absent).
func pte(va uintptr, create bool) uintptr {
	table := uintptr(abi.PageTableMin) // PML4
	for level := 3; level > 0; level-- {
		idx := (va >> (12 + 9*uint(level))) & 511
		e := table + idx*8
		v := load64(e)
		if v&ptePresent == 0 {
			if !create {
				return 0
			}
			f := mustFrame()
			v = uint64(f) | ptePresent | pteWrite | pteUser
			store64(e, v)
		} else if v&pteHuge != 0 {
			crash(abi.CrashInternal, uint64(va), "mapping over a huge page")
		}
		table = uintptr(v & pteAddr)
	}
	return table + ((va>>12)&511)*8
}

func pteFlags(prot uint32) uint64 {
	f := uint64(ptePresent | pteUser)
	if prot&protWrite != 0 {
		f |= pteWrite
	}
	if prot&protExec == 0 {
		f |= pteNX
	}
	return f
}

// findVMA returns the index of the mapping containing va, or -1.
func findVMA(va uintptr) int {
	lo, hi := 0, nvmas
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case va < vmas[m].start:
			hi = m
		case va >= vmas[m].end:
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

// carve removes [start, end) from the VMA table, splitting mappings that
// straddle its edges. It does not touch page tables.
func carve(start, end uintptr) bool {
	for i := 0; i < nvmas; i++ {
		v := vmas[i]
		if v.end <= start || v.start >= end {
			continue
		}
		switch {
		case v.start < start && v.end > end: // split in two
			if nvmas == maxVMAs {
				return false
			}
			copy(vmas[i+2:nvmas+1], vmas[i+1:nvmas])
			nvmas++
			vmas[i].end = start
			vmas[i+1] = vma{start: end, end: v.end, prot: v.prot}
			return true
		case v.start < start:
			vmas[i].end = start
		case v.end > end:
			vmas[i].start = end
		default: // fully covered: delete
			copy(vmas[i:nvmas-1], vmas[i+1:nvmas])
			nvmas--
			i--
		}
	}
	return true
}

// insertVMA adds [start, end) (already carved free), merging with equal
// neighbours.
func insertVMA(start, end uintptr, prot uint32) bool {
	i := 0
	for i < nvmas && vmas[i].start < start {
		i++
	}
	if i > 0 && vmas[i-1].end == start && vmas[i-1].prot == prot {
		vmas[i-1].end = end
		if i < nvmas && vmas[i].start == end && vmas[i].prot == prot {
			vmas[i-1].end = vmas[i].end
			copy(vmas[i:nvmas-1], vmas[i+1:nvmas])
			nvmas--
		}
		return true
	}
	if i < nvmas && vmas[i].start == end && vmas[i].prot == prot {
		vmas[i].start = start
		return true
	}
	if nvmas == maxVMAs {
		return false
	}
	copy(vmas[i+1:nvmas+1], vmas[i:nvmas])
	nvmas++
	vmas[i] = vma{start: start, end: end, prot: prot}
	return true
}

// rangeFree reports whether no mapping overlaps [start, end).
func rangeFree(start, end uintptr) bool {
	for i := 0; i < nvmas; i++ {
		if vmas[i].start < end && vmas[i].end > start {
			return false
		}
	}
	return true
}

// unmapPages clears the page table entries of [start, end), frees their
// frames and reports whether any was present (then the TLB must be flushed).
func unmapPages(start, end uintptr) bool {
	any := false
	for va := start; va < end; {
		e := pte(va, false)
		if e == 0 {
			// No page table: skip to the next 2 MiB boundary.
			va = (va + abi.HugePageSize) &^ (abi.HugePageSize - 1)
			continue
		}
		if v := load64(e); v&ptePresent != 0 {
			store64(e, 0)
			freeFrame(uintptr(v & pteAddr))
			any = true
		}
		va += abi.PageSize
	}
	return any
}

// flushTLB makes the vCPU forget stale translations (see
// docs/decisions/tlb-flush.md): the guest cannot reload CR3 at CPL 3.
func flushTLB() { hypercall(abi.HypercallFlushTLB, 0) }

// vmaMap creates an anonymous mapping at exactly [start, start+n), replacing
// what was there; populate maps its last pages right away (stacks).
func vmaMap(start, n uintptr, prot uint32, populate bool) bool {
	end := start + n
	if unmapPages(start, end) {
		flushTLB()
	}
	if !carve(start, end) || !insertVMA(start, end, prot) {
		return false
	}
	if populate {
		mapAround(end-abi.PageSize, prot, start, end)
	}
	return true
}

// mapAround maps the not-present pages of the faultAround-aligned block
// containing va, clipped to [lo, hi). It returns false when out of memory.
func mapAround(va uintptr, prot uint32, lo, hi uintptr) {
	b := va &^ (faultAround - 1)
	e := b + faultAround
	if b < lo {
		b = lo
	}
	if e > hi {
		e = hi
	}
	flags := pteFlags(prot)
	for p := b; p < e; p += abi.PageSize {
		ent := pte(p, true)
		if load64(ent)&ptePresent != 0 {
			continue
		}
		store64(ent, uint64(mustFrame())|flags)
	}
}

// pageFault handles a #PF at addr; it returns false if the access is not
// allowed (the thread gets SIGSEGV).
func pageFault(addr uintptr, errcode uint64) bool {
	i := findVMA(addr)
	if i < 0 {
		return false
	}
	v := vmas[i]
	if v.prot&(protRead|protWrite|protExec) == 0 {
		return false
	}
	if errcode&ptePresent != 0 {
		// Protection violation on a present page.
		return false
	}
	if errcode&pteWrite != 0 && v.prot&protWrite == 0 {
		return false
	}
	mapAround(addr&^(abi.PageSize-1), v.prot, v.start, v.end)
	return true
}

// userPrepare checks that [addr, addr+n) is user memory the program may
// read (or write) and maps the pages not touched yet, so kernel code can
// then access it without faulting. It returns false for EFAULT.
func userPrepare(addr, n uintptr, write bool) bool {
	if n == 0 {
		return true
	}
	end := addr + n
	if end < addr {
		return false
	}
	if addr >= abi.ImageBase && end <= uintptr(bootInfo(abi.BootInfoImageEnd)) || inDMA(addr, end) {
		return true
	}
	for a := addr; a < end; {
		i := findVMA(a)
		if i < 0 {
			return false
		}
		v := vmas[i]
		if v.prot&protRead == 0 || (write && v.prot&protWrite == 0) {
			return false
		}
		stop := v.end
		if stop > end {
			stop = end
		}
		for p := a &^ (abi.PageSize - 1); p < stop; p += abi.PageSize {
			if e := pte(p, false); e == 0 || load64(e)&ptePresent == 0 {
				mapAround(p, v.prot, v.start, v.end)
			}
		}
		a = v.end
	}
	return true
}
