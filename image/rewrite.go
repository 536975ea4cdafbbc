package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// syscallBytes is the encoding of SYSCALL; callRAXBytes of CALL *%rax.
var (
	syscallBytes = []byte{0x0f, 0x05}
	callRAXBytes = []byte{0xff, 0xd0}
)

// Site is one rewritten SYSCALL instruction.
type Site struct {
	Func   string // function containing it
	Addr   uint64 // virtual address of the instruction
	Offset uint64 // file offset of the instruction
}

// UndecodableFunc is a function that x86asm could not decode completely.
// The bytes from Addr to the end of the function contain no 0F 05, so it
// holds no SYSCALL and needs no rewriting.
type UndecodableFunc struct {
	Func  string // function name
	Entry uint64 // function entry address
	Addr  uint64 // address where decoding was given up
	// RawFrom is where the raw-byte check started: the last instruction
	// start before Addr confirmed by .gopclntab (Addr itself, or earlier).
	RawFrom uint64
	Bytes   []byte // up to 15 bytes at Addr, for bug reports
	Reason  string // x86asm's error
}

// RewriteReport describes what Rewrite did.
type RewriteReport struct {
	Rewritten    int               // number of SYSCALLs rewritten (len(Sites))
	Sites        []Site            // every rewritten SYSCALL, in address order
	Functions    int               // functions listed in .gopclntab
	FullyDecoded int               // functions decoded to their last byte
	Undecodable  []UndecodableFunc // functions decoded only partially (no syscall bytes in the rest)

	// FalseMatches counts 0F 05 byte pairs inside decoded functions that
	// are not SYSCALL instructions (parts of other instructions or
	// spanning two), which a plain byte scan would have corrupted.
	FalseMatches int

	// BoundariesVerified counts instruction starts recorded in the
	// .gopclntab PC-value tables that the decoder hit exactly; a missed
	// one means the decoder lost sync (see UndecodableFunc).
	BoundariesVerified int

	// UncoveredBytes counts bytes of executable sections that belong to no
	// function; UncoveredNonPadding those that are not 0xCC/0x90/0x00.
	// Rewrite fails if any 0F 05 appears in them.
	UncoveredBytes      int
	UncoveredNonPadding int

	// NonCodeExecBytes counts bytes of executable PT_LOAD segments outside
	// every executable section (ELF header, program headers, notes). They
	// are data that control never reaches and are not scanned.
	NonCodeExecBytes int
}

// Rewrite replaces every SYSCALL instruction (0F 05) in the executable code
// of elfBytes with CALL *%rax (FF D0), as zpoline does, and returns the
// rewritten copy. elfBytes must be the output of `go build` for
// linux/amd64, statically linked (CGO_ENABLED=0), with or without -s -w.
// elfBytes is not modified.
//
// Code is found through .gopclntab and decoded instruction by instruction
// with x86asm, so 0F 05 bytes inside other instructions are left alone;
// the decoding is checked against the instruction starts recorded in the
// pclntab PC-value tables. Where x86asm cannot decode an instruction or
// loses sync, the rest of that function (from the last confirmed
// instruction start) is checked for 0F 05 bytes; if there are any,
// Rewrite fails with ErrUnsafeSyscall rather than guess. Executable bytes
// outside every function must not contain 0F 05 either.
//
// An input that already carries a Brique trailer, or that contains no
// SYSCALL at all (every Go program has some, in its runtime), is refused
// with ErrAlreadyRewritten.
func Rewrite(elfBytes []byte) ([]byte, RewriteReport, error) {
	const op = "rewrite"
	var rep RewriteReport
	if len(elfBytes) == 0 {
		return nil, rep, newErr(op, "", ErrEmpty, "empty input: pass the executable written by `go build`", nil)
	}
	if HasTrailer(elfBytes) {
		return nil, rep, newErr(op, "", ErrAlreadyRewritten,
			"input already has a Brique trailer, so its system calls were already rewritten: rewrite the original `go build` output instead", nil)
	}
	f, err := parseELF(op, "", elfBytes)
	if err != nil {
		return nil, rep, err
	}
	gt, err := loadGoTable(op, "", f)
	if err != nil {
		return nil, rep, err
	}
	text := gt.text
	if err := checkTextMapped(op, f, text); err != nil {
		return nil, rep, err
	}

	out := bytes.Clone(elfBytes)
	textData := elfBytes[text.Offset : text.Offset+text.Size]
	rep.Functions = len(gt.funcs)

	for i := range gt.funcs {
		fn := &gt.funcs[i]
		start := fn.Entry - text.Addr
		code := textData[start : fn.End-text.Addr]
		bnd, err := gt.pcv.boundaries(i, fn.End-fn.Entry)
		if err != nil {
			return nil, RewriteReport{}, newErr(op, "", ErrNoPclntab,
				fmt.Sprintf(".gopclntab tables of function %s are corrupt; rebuild with `go build`", fn.Name), err)
		}
		sites, err := rewriteFunc(fn.Name, fn.Entry, text.Offset+start, code, bnd, out, &rep)
		if err != nil {
			return nil, RewriteReport{}, err
		}
		rep.FalseMatches += bytes.Count(code, syscallBytes) - sites
	}

	if err := scanGaps(op, f, gt, elfBytes, &rep); err != nil {
		return nil, RewriteReport{}, err
	}
	rep.Rewritten = len(rep.Sites)
	if rep.Rewritten == 0 {
		return nil, RewriteReport{}, newErr(op, "", ErrAlreadyRewritten,
			"no SYSCALL instruction found, but every Go program has some: the input was probably already rewritten (with its trailer removed); rewrite the original `go build` output", nil)
	}
	return out, rep, nil
}

// rewriteFunc decodes one function and patches its SYSCALLs in out.
// fileOff is the file offset of code[0]; bnd are the instruction starts
// known from the pclntab (offsets from the entry, sorted). It returns the
// number of sites rewritten.
//
// Decoding is trusted only while it stays in sync with bnd: every known
// boundary must be the start of a decoded instruction. If the decoder
// steps over one, or rejects an instruction, nothing decoded after the
// last confirmed boundary is trusted: those sites are dropped and the raw
// bytes from that boundary to the end of the function must not contain
// 0F 05.
func rewriteFunc(name string, entry, fileOff uint64, code []byte, bnd []uint64, out []byte, rep *RewriteReport) (int, error) {
	const op = "rewrite"
	var sites []Site
	confirmed := 0 // last offset decoded as an instruction start that bnd confirms
	j := 0         // next boundary to reach

	// giveUp handles an untrustworthy decode at offset at.
	giveUp := func(at int, reason string) (int, error) {
		rest := code[confirmed:]
		if i := bytes.Index(rest, syscallBytes); i >= 0 {
			return 0, newErr(op, "", ErrUnsafeSyscall,
				fmt.Sprintf("function %s at %#x: %s at %s+%#x (bytes % x), and the bytes from %s+%#x (last instruction start confirmed by .gopclntab) to the end of the function contain 0F 05 (SYSCALL) at %s+%#x; refusing to guess whether it is a system call. Report this with your Go version to the Brique developers",
					name, entry, reason, name, at, code[at:min(len(code), at+15)], name, confirmed, name, confirmed+i), nil)
		}
		keep := sites[:0]
		for _, s := range sites {
			if s.Addr < entry+uint64(confirmed) {
				keep = append(keep, s)
			}
		}
		rep.Undecodable = append(rep.Undecodable, UndecodableFunc{
			Func: name, Entry: entry, Addr: entry + uint64(at), RawFrom: entry + uint64(confirmed),
			Bytes: bytes.Clone(code[at:min(len(code), at+15)]), Reason: reason,
		})
		applySites(out, keep, rep)
		return len(keep), nil
	}

	const lostSync = "x86asm lost instruction sync (the instruction it decoded at +%#x spans the instruction start +%#x recorded in .gopclntab)"
	prev := 0
	for off := 0; off < len(code); {
		for j < len(bnd) && bnd[j] < uint64(off) {
			// A boundary inside the previous instruction is fine only
			// if everything before it is legacy prefixes: the assembler
			// emitted e.g. LOCK or REP as an instruction of its own,
			// and the CPU, like x86asm, joins it to the next one.
			if !allPrefixes(code[prev:bnd[j]]) {
				return giveUp(prev, fmt.Sprintf(lostSync, prev, bnd[j]))
			}
			j++
		}
		if j < len(bnd) && bnd[j] == uint64(off) {
			confirmed = off
			j++
			rep.BoundariesVerified++
		}
		inst, err := decode(code[off:])
		if err == nil && (inst.Len <= 0 || inst.Len > len(code)-off) {
			err = fmt.Errorf("instruction length %d runs past the function end", inst.Len)
		}
		if err != nil {
			return giveUp(off, "x86asm cannot decode the instruction ("+err.Error()+")")
		}
		addr := entry + uint64(off)
		switch {
		case inst.Op == x86asm.SYSCALL:
			if inst.Len != 2 || !bytes.Equal(code[off:off+2], syscallBytes) {
				return 0, newErr(op, "", ErrUnsafeSyscall,
					fmt.Sprintf("function %s: SYSCALL at %#x (%s+%#x) is encoded with prefixes (% x) and cannot be patched in place with the 2-byte CALL *%%rax; report this to the Brique developers",
						name, addr, name, off, code[off:off+inst.Len]), nil)
			}
			sites = append(sites, Site{Func: name, Addr: addr, Offset: fileOff + uint64(off)})
		case inst.Op == x86asm.SYSENTER || inst.Op == x86asm.INT && len(inst.Args) > 0 && inst.Args[0] == x86asm.Imm(0x80):
			return 0, newErr(op, "", ErrUnsafeSyscall,
				fmt.Sprintf("function %s: legacy system-call instruction %v at %#x (%s+%#x); Brique intercepts only SYSCALL, so this program cannot run as a Brique guest. Remove the assembly that uses it",
					name, inst, addr, name, off), nil)
		}
		prev = off
		off += inst.Len
	}
	for ; j < len(bnd) && bnd[j] < uint64(len(code)); j++ {
		if !allPrefixes(code[prev:bnd[j]]) {
			return giveUp(prev, fmt.Sprintf(lostSync, prev, bnd[j]))
		}
	}
	applySites(out, sites, rep)
	rep.FullyDecoded++
	return len(sites), nil
}

// allPrefixes reports whether b consists only of x86 legacy prefixes.
func allPrefixes(b []byte) bool {
	for _, c := range b {
		switch c {
		case 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67:
		default:
			return false
		}
	}
	return len(b) > 0
}

func applySites(out []byte, sites []Site, rep *RewriteReport) {
	for _, s := range sites {
		copy(out[s.Offset:s.Offset+2], callRAXBytes)
	}
	rep.Sites = append(rep.Sites, sites...)
}

// decode decodes one instruction in 64-bit mode with x86asm, working
// around what golang.org/x/arch v0.33.0 gets wrong on Go binaries:
//
//   - VZEROUPPER/VZEROALL (VEX 0F 77) have no ModRM byte, but x86asm
//     consumes one (and sometimes a SIB and displacement), returning a
//     length of 4 or 5 instead of 3 (2-byte VEX) or 4 (3-byte VEX). This
//     is in every AVX2 routine (memmove, bytealg, crypto) and silently
//     desynchronises the decoder.
//   - An opcode x86asm does not know behind a legacy prefix (e.g. ADCX,
//     66 0F 38 F6, in math/big) comes back as a 1-byte "instruction"
//     with Op 0 and no error.
//
// A decoder panic on unusual bytes becomes an error.
func decode(b []byte) (inst x86asm.Inst, err error) {
	if perr := safely(func() { inst, err = x86asm.Decode(b, 64) }); perr != nil {
		return x86asm.Inst{}, perr
	}
	if err != nil {
		return inst, err
	}
	switch inst.Op {
	case 0:
		return inst, errors.New("unknown opcode behind a prefix")
	case x86asm.VZEROUPPER, x86asm.VZEROALL:
		switch {
		case len(b) >= 3 && b[0] == 0xc5 && b[2] == 0x77:
			inst.Len = 3
		case len(b) >= 4 && b[0] == 0xc4 && b[1]&0x1f == 1 && b[3] == 0x77:
			inst.Len = 4
		default:
			return inst, errors.New("unexpected VZEROUPPER/VZEROALL encoding")
		}
	}
	return inst, nil
}

// checkTextMapped checks that .text lies inside an executable PT_LOAD
// whose file-to-address mapping agrees with the section header, so the
// addresses in the report are the ones the guest will execute.
func checkTextMapped(op string, f *elf.File, text *elf.Section) error {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if text.Offset >= p.Off && text.Offset+text.Size <= p.Off+p.Filesz &&
			p.Vaddr+(text.Offset-p.Off) == text.Addr {
			return nil
		}
	}
	return newErr(op, "", ErrMalformed,
		fmt.Sprintf(".text [%#x, +%#x) is not inside an executable PT_LOAD segment at a matching address: the image is corrupt; rebuild with `go build`", text.Addr, text.Size), nil)
}

// scanGaps checks executable bytes that no pclntab function covers. In a
// Go binary these are only the 0xCC padding at the end of .text, but an
// assembler or linker change could put code there; Brique cannot decode
// code without a known start, so any 0F 05 there is an error.
func scanGaps(op string, f *elf.File, gt *goTable, data []byte, rep *RewriteReport) error {
	type span struct{ lo, hi uint64 } // addresses
	var execSecs []*elf.Section
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 && s.Type != elf.SHT_NOBITS && s.Size > 0 {
			execSecs = append(execSecs, s)
		}
	}
	for _, s := range execSecs {
		var gaps []span
		if s == gt.text {
			cur := s.Addr
			for _, fn := range gt.funcs {
				if fn.Entry > cur {
					gaps = append(gaps, span{cur, fn.Entry})
				}
				cur = fn.End
			}
			if end := s.Addr + s.Size; end > cur {
				gaps = append(gaps, span{cur, end})
			}
		} else {
			gaps = append(gaps, span{s.Addr, s.Addr + s.Size})
		}
		for _, g := range gaps {
			b := data[s.Offset+(g.lo-s.Addr) : s.Offset+(g.hi-s.Addr)]
			rep.UncoveredBytes += len(b)
			for _, c := range b {
				if c != 0xcc && c != 0x90 && c != 0x00 {
					rep.UncoveredNonPadding++
				}
			}
			if i := bytes.Index(b, syscallBytes); i >= 0 {
				return newErr(op, "", ErrUnsafeSyscall,
					fmt.Sprintf("executable bytes at %#x in section %s belong to no Go function but contain 0F 05 (SYSCALL) bytes at %#x; Brique cannot tell whether that is code, so it refuses to rewrite. Report this with your Go version to the Brique developers",
						g.lo, s.Name, g.lo+uint64(i)), nil)
			}
		}
	}
	// Executable segment bytes outside executable sections.
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		n := p.Filesz
		for _, s := range execSecs {
			lo, hi := max(s.Offset, p.Off), min(s.Offset+s.Size, p.Off+p.Filesz)
			if hi > lo {
				n -= min(n, hi-lo)
			}
		}
		rep.NonCodeExecBytes += int(n)
	}
	return nil
}
