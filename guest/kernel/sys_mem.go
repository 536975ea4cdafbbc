package kernel

import "brique.dev/brique/abi"

const pageMask = abi.PageSize - 1

// eagerMapMax is the largest anonymous mapping populated at mmap time.
const eagerMapMax = 256 << 10

// sysMmapImpl implements mmap(2) for private anonymous memory.
func sysMmapImpl(t *thread) int64 {
	addr, n, prot, flags := uintptr(t.regs.rdi), uintptr(t.regs.rsi), uint32(t.regs.rdx), uint32(t.regs.r10)
	if flags&mapAnonymous == 0 {
		return -eNODEV // file mappings: not supported
	}
	if flags&mapShared != 0 && flags&mapPrivate != 0 || n == 0 || addr&pageMask != 0 {
		return -eINVAL
	}
	n = (n + pageMask) &^ pageMask
	if n == 0 || n > userMax-userMin {
		return -eNOMEM
	}
	fixed := flags&(mapFixed|mapFixedNoRe) != 0
	switch {
	case fixed:
		if addr < userMin || addr+n > userMax || addr+n < addr {
			return -eINVAL
		}
		if flags&mapFixedNoRe != 0 && !rangeFree(addr, addr+n) {
			return -eEXIST
		}
	case addr >= userMin && addr+n <= userMax && addr+n > addr && rangeFree(addr, addr+n):
		// Honour the hint (the Go heap places its arenas by hint).
	default:
		addr = findFree(n)
		if addr == 0 {
			return -eNOMEM
		}
	}
	if !vmaMap(addr, n, prot, false) {
		return -eNOMEM
	}
	// Small mappings (runtime metadata, stacks) are used right away: map
	// them now instead of taking page faults later, each ~30 us on kvm-pvm
	// (exception delivery through CPL 0 is emulated). Measured on hello:
	// 45 -> 13 faults, 3.85 -> 3.21 ms monitor total, +0.8 MiB guest memory.
	if prot&(protRead|protWrite) != 0 && n <= eagerMapMax {
		for p := addr; p < addr+n; p += faultAround {
			mapAround(p, prot, addr, addr+n)
		}
	}
	return int64(addr)
}

// findFree returns a free range of n bytes below mmapNext.
func findFree(n uintptr) uintptr {
	for a := mmapNext - n; a >= userMin && a < mmapNext; a -= n {
		if rangeFree(a, a+n) {
			mmapNext = a
			return a
		}
	}
	return 0
}

// sysMunmapImpl implements munmap(2).
func sysMunmapImpl(t *thread) int64 {
	addr, n := uintptr(t.regs.rdi), uintptr(t.regs.rsi)
	if addr&pageMask != 0 || n == 0 {
		return -eINVAL
	}
	n = (n + pageMask) &^ pageMask
	if addr < userMin || addr+n > userMax || addr+n < addr {
		return -eINVAL
	}
	if unmapPages(addr, addr+n) {
		flushTLB()
	}
	if !carve(addr, addr+n) {
		return -eNOMEM
	}
	return 0
}

// sysMprotectImpl implements mprotect(2).
func sysMprotectImpl(t *thread) int64 {
	addr, n, prot := uintptr(t.regs.rdi), uintptr(t.regs.rsi), uint32(t.regs.rdx)
	if addr&pageMask != 0 {
		return -eINVAL
	}
	n = (n + pageMask) &^ pageMask
	end := addr + n
	if addr < userMin || end > userMax || end < addr {
		return -eINVAL
	}
	for a := addr; a < end; {
		i := findVMA(a)
		if i < 0 {
			return -eNOMEM
		}
		a = vmas[i].end
	}
	if !carve(addr, end) || !insertVMA(addr, end, prot) {
		return -eNOMEM
	}
	// Rewrite present entries with the new rights.
	changed := false
	flags := pteFlags(prot)
	for va := addr; va < end; va += abi.PageSize {
		e := pte(va, false)
		if e == 0 {
			continue
		}
		if v := load64(e); v&ptePresent != 0 {
			store64(e, v&pteAddr|flags)
			changed = true
		}
	}
	if changed {
		flushTLB()
	}
	return 0
}

// madvise advice values (asm-generic/mman-common.h).
const (
	madvDontneed = 4
	madvRemove   = 9
)

// dontneedUnmapMin is the size from which MADV_DONTNEED gives the frames
// back (one TLB flush) instead of zeroing them in place.
const dontneedUnmapMin = 1 << 20

// sysMadviseImpl implements madvise(2). MADV_DONTNEED must make the range
// read back as zero: the Go runtime relies on it for memory it scavenged
// (docs/decisions/004). Small ranges are zeroed in place (no TLB flush);
// large ones are unmapped, their frames freed, with one flush. Other advice
// (MADV_FREE, hugepage hints, ...) is a hint and ignored.
func sysMadviseImpl(t *thread) int64 {
	addr, n, advice := uintptr(t.regs.rdi), uintptr(t.regs.rsi), t.regs.rdx
	if addr&pageMask != 0 {
		return -eINVAL
	}
	n = (n + pageMask) &^ pageMask
	end := addr + n
	if end < addr {
		return -eINVAL
	}
	if advice != madvDontneed && advice != madvRemove {
		return 0
	}
	if addr < userMin || end > userMax {
		return -eINVAL
	}
	if n >= dontneedUnmapMin {
		if unmapPages(addr, end) {
			flushTLB()
		}
		return 0
	}
	for va := addr; va < end; {
		e := pte(va, false)
		if e == 0 {
			va = (va + abi.HugePageSize) &^ (abi.HugePageSize - 1)
			continue
		}
		if v := load64(e); v&ptePresent != 0 {
			memclr(uintptr(v&pteAddr), abi.PageSize)
		}
		va += abi.PageSize
	}
	return 0
}

// sysMincoreImpl implements mincore(2): every mapped page is resident.
func sysMincoreImpl(t *thread) int64 {
	addr, n, vec := uintptr(t.regs.rdi), uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	pages := (n + pageMask) / abi.PageSize
	if !userPrepare(vec, pages, true) {
		return -eFAULT
	}
	for i := uintptr(0); i < pages; i++ {
		store8(vec+i, 1)
	}
	_ = addr
	return 0
}

// sysBrkImpl implements brk(2): no heap segment, like a failed brk.
func sysBrkImpl(t *thread) int64 { return 0 }
