package image

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"fmt"
)

// Go 1.20+ pclntab header (runtime/symtab.go pcHeader, internal/abi
// PCLnTabMagic) for a 64-bit little-endian target:
//
//	0  magic uint32 = 0xfffffff1
//	4  pad1, pad2 = 0, 0
//	6  minLC (instruction quantum, 1 on amd64)
//	7  ptrSize = 8
//	8  nfunc, nfiles, (unused, was textStart)
//	32 funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
//
// The function table (ftab) at pclnOffset holds nfunc+1 (entryoff uint32,
// funcoff uint32) pairs; entryoff is relative to runtime.text, which on
// linux/amd64 is the first byte of .text.
const (
	go120PclnMagic  = 0xfffffff1
	pclnHeaderSize  = 72
	pclnFtabEntSize = 8
	pclnFuncMinSize = 44 // runtime._func without pcdata/funcdata
)

// goTable holds the function table recovered from .gopclntab.
type goTable struct {
	tab   *gosym.Table
	funcs []gosym.Func // sorted by Entry, all inside text
	text  *elf.Section
	pcv   *pcValueTables
}

// loadGoTable reads .gopclntab with debug/gosym after validating its header
// by hand: debug/gosym silently returns an empty table on a malformed
// pclntab, and is not hardened against hostile input, so all calls into it
// are guarded against panics.
func loadGoTable(op, path string, f *elf.File) (*goTable, error) {
	text := f.Section(".text")
	pclnSec := f.Section(".gopclntab")
	if pclnSec == nil || pclnSec.Type == elf.SHT_NOBITS {
		return nil, newErr(op, path, ErrNoPclntab,
			"no .gopclntab section: this is not a Go executable, or an external tool (strip, objcopy, upx) removed it; build with `brique build` and do not post-process the binary", nil)
	}
	if text == nil || text.Type != elf.SHT_PROGBITS || text.Flags&elf.SHF_EXECINSTR == 0 {
		return nil, newErr(op, path, ErrMalformed, "no executable .text section: the image is corrupt or not a Go program; rebuild with `brique build`", nil)
	}
	pcln, err := pclnSec.Data()
	if err != nil {
		return nil, newErr(op, path, ErrNoPclntab, "cannot read .gopclntab", err)
	}
	if err := checkPclnHeader(pcln); err != nil {
		return nil, newErr(op, path, ErrNoPclntab,
			"unusable .gopclntab ("+err.Error()+"): build with Go 1.20 or newer for linux/amd64 (`brique build` does this)", nil)
	}

	var tab *gosym.Table
	if perr := safely(func() {
		lt := gosym.NewLineTable(pcln, text.Addr)
		tab, err = gosym.NewTable(nil, lt)
	}); perr != nil {
		return nil, newErr(op, path, ErrNoPclntab, "debug/gosym cannot parse .gopclntab", perr)
	}
	if err != nil {
		return nil, newErr(op, path, ErrNoPclntab, "debug/gosym cannot parse .gopclntab", err)
	}
	if len(tab.Funcs) == 0 {
		return nil, newErr(op, path, ErrNoPclntab, ".gopclntab lists no functions: the image is corrupt; rebuild with `brique build`", nil)
	}
	textEnd := text.Addr + text.Size
	var prevEnd uint64
	for i := range tab.Funcs {
		fn := &tab.Funcs[i]
		if fn.Entry >= fn.End || fn.Entry < text.Addr || fn.End > textEnd || fn.Entry < prevEnd {
			return nil, newErr(op, path, ErrNoPclntab,
				fmt.Sprintf(".gopclntab function %d (%q) spans [%#x, %#x), outside .text [%#x, %#x) or out of order: the image is corrupt; rebuild with `brique build`",
					i, fn.Name, fn.Entry, fn.End, text.Addr, textEnd), nil)
		}
		prevEnd = fn.End
	}
	pcv := newPCValueTables(pcln)
	if err := pcv.crossCheck(tab.Funcs, text.Addr); err != nil {
		return nil, newErr(op, path, ErrNoPclntab, ".gopclntab function table is inconsistent: the image is corrupt; rebuild with `brique build`", err)
	}
	return &goTable{tab: tab, funcs: tab.Funcs, text: text, pcv: pcv}, nil
}

func checkPclnHeader(p []byte) error {
	if len(p) < pclnHeaderSize {
		return fmt.Errorf("%d bytes, shorter than its header", len(p))
	}
	le := binary.LittleEndian
	if m := le.Uint32(p); m != go120PclnMagic {
		return fmt.Errorf("magic %#x, want %#x (Go 1.20+)", m, uint32(go120PclnMagic))
	}
	if p[4] != 0 || p[5] != 0 || p[6] != 1 || p[7] != 8 {
		return fmt.Errorf("header bytes % x, want 00 00 01 08 (amd64)", p[4:8])
	}
	n := uint64(len(p))
	nfunc := le.Uint64(p[8:])
	for i := 0; i < 5; i++ {
		if off := le.Uint64(p[32+8*i:]); off < pclnHeaderSize || off > n {
			return fmt.Errorf("table offset %d is %#x, outside the %d-byte table", i, off, n)
		}
	}
	pclnOff := le.Uint64(p[64:])
	// Each function needs an ftab entry plus a _func record after the
	// ftab; this also bounds what debug/gosym will allocate.
	if nfunc == 0 || nfunc > (n-pclnOff)/(pclnFtabEntSize+pclnFuncMinSize) {
		return fmt.Errorf("function count %d does not fit the table", nfunc)
	}
	if (nfunc+1)*pclnFtabEntSize > n-pclnOff {
		return fmt.Errorf("function table for %d functions runs past the end", nfunc)
	}
	return nil
}

// safely runs f, turning a panic into an error. Used only around
// debug/gosym and x86asm, which are not documented as panic-free on
// hostile input.
func safely(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal parser panic: %v", r)
		}
	}()
	f()
	return nil
}
