package image

import (
	"debug/elf"
	"fmt"
	"sort"
)

// PageSize is the granularity at which the loader maps segments; two
// segments may not share a page.
const PageSize = 4096

// Segment is one PT_LOAD segment to be copied into guest memory.
type Segment struct {
	Paddr  uint64       // guest-physical load address (p_paddr)
	Vaddr  uint64       // guest-virtual address (p_vaddr)
	Offset uint64       // file offset of Data in the ELF (p_offset)
	Data   []byte       // p_filesz bytes from the file; aliases Image.ELF, do not modify
	Memsz  uint64       // bytes in memory (p_memsz); Memsz-len(Data) are zero-filled
	Flags  elf.ProgFlag // PF_R, PF_W, PF_X
}

// Segments returns the image's PT_LOAD segments, sorted by Paddr, after
// checking everything the loader relies on: file bytes inside the file,
// p_filesz <= p_memsz, physical and virtual ranges below limit (for
// example the guest memory size) without overflow, p_vaddr congruent to
// p_offset modulo p_align, no two segments sharing a page (physically or
// virtually), and the entry point inside an executable segment. The
// image may be hostile, so nothing is trusted.
func (img *Image) Segments(limit uint64) ([]Segment, error) {
	const op = "segments"
	if img == nil || img.File == nil {
		return nil, newErr(op, "", ErrSegments, "no image: use Open or Parse first", nil)
	}
	fail := func(format string, args ...any) ([]Segment, error) {
		return nil, newErr(op, img.Path, ErrSegments, fmt.Sprintf(format, args...)+": the image is malformed or hostile; rebuild it with `brique build`", nil)
	}
	size := uint64(len(img.ELF))
	var segs []Segment
	for i, p := range img.File.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Filesz > p.Memsz {
			return fail("program header %d (PT_LOAD) has p_filesz %#x > p_memsz %#x", i, p.Filesz, p.Memsz)
		}
		if p.Memsz == 0 {
			continue
		}
		if end, ok := addU64(p.Off, p.Filesz); !ok || end > size {
			return fail("program header %d (PT_LOAD): file bytes [%#x, +%#x) lie outside the %d-byte file", i, p.Off, p.Filesz, size)
		}
		if end, ok := addU64(p.Paddr, p.Memsz); !ok || end > limit {
			return fail("program header %d (PT_LOAD): physical range [%#x, +%#x) exceeds the limit %#x", i, p.Paddr, p.Memsz, limit)
		}
		if end, ok := addU64(p.Vaddr, p.Memsz); !ok || end > limit {
			return fail("program header %d (PT_LOAD): virtual range [%#x, +%#x) exceeds the limit %#x", i, p.Vaddr, p.Memsz, limit)
		}
		if p.Align > 1 && p.Align&(p.Align-1) != 0 {
			return fail("program header %d (PT_LOAD): p_align %#x is not a power of two", i, p.Align)
		}
		if p.Align > 1 && p.Vaddr%p.Align != p.Off%p.Align {
			return fail("program header %d (PT_LOAD): p_vaddr %#x and p_offset %#x are not congruent modulo p_align %#x", i, p.Vaddr, p.Off, p.Align)
		}
		if p.Flags&^(elf.PF_R|elf.PF_W|elf.PF_X) != 0 {
			return fail("program header %d (PT_LOAD) has unknown flags %v", i, p.Flags)
		}
		segs = append(segs, Segment{
			Paddr: p.Paddr, Vaddr: p.Vaddr, Offset: p.Off,
			Data:  img.ELF[p.Off : p.Off+p.Filesz : p.Off+p.Filesz],
			Memsz: p.Memsz, Flags: p.Flags,
		})
	}
	if len(segs) == 0 {
		return fail("no loadable (PT_LOAD) segment")
	}
	// Page-granular overlap checks, in both address spaces. Ranges are
	// below limit, so rounding up cannot overflow unless limit is near
	// 2^64; pageSpan saturates in that case.
	for _, space := range []struct {
		name string
		addr func(Segment) uint64
	}{{"physical", func(s Segment) uint64 { return s.Paddr }}, {"virtual", func(s Segment) uint64 { return s.Vaddr }}} {
		sorted := append([]Segment(nil), segs...)
		sort.Slice(sorted, func(a, b int) bool { return space.addr(sorted[a]) < space.addr(sorted[b]) })
		for k := 1; k < len(sorted); k++ {
			_, prevHi := pageSpan(space.addr(sorted[k-1]), sorted[k-1].Memsz)
			lo, _ := pageSpan(space.addr(sorted[k]), sorted[k].Memsz)
			if lo < prevHi {
				return fail("PT_LOAD segments at %s %#x (+%#x) and %#x (+%#x) overlap or share a page", space.name,
					space.addr(sorted[k-1]), sorted[k-1].Memsz, space.addr(sorted[k]), sorted[k].Memsz)
			}
		}
	}
	entry := img.File.Entry
	entryOK := false
	for _, s := range segs {
		if s.Flags&elf.PF_X != 0 && entry >= s.Vaddr && entry-s.Vaddr < s.Memsz {
			entryOK = true
		}
	}
	if !entryOK {
		return fail("entry point %#x is not inside an executable segment", entry)
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a].Paddr < segs[b].Paddr })
	return segs, nil
}

// pageSpan returns [addr, addr+n) widened to page boundaries, saturating
// at the top of the address space.
func pageSpan(addr, n uint64) (lo, hi uint64) {
	lo = addr &^ (PageSize - 1)
	end, ok := addU64(addr, n)
	if !ok {
		return lo, ^uint64(0)
	}
	hi, ok = addU64(end, PageSize-1)
	if !ok {
		return lo, ^uint64(0)
	}
	return lo, hi &^ (PageSize - 1)
}
