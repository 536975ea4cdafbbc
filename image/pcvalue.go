package image

import (
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// pcValueTables reads the per-function PC-value tables of a Go 1.20+
// pclntab (runtime/symtab.go: _func, pcvalue, step). debug/gosym does not
// expose them, so this is a small, bounds-checked reader of its own.
//
// Every PC at which a table's value changes (stack pointer delta, file,
// line, unsafe point, stack map, inline tree, ...) is the start of an
// instruction: the assembler emits a table entry only between real
// instructions. Rewrite uses these PCs as ground truth to detect a
// disassembler that has lost instruction sync.
type pcValueTables struct {
	data    []byte // whole .gopclntab; header validated by checkPclnHeader
	nfunc   uint64
	ftabOff uint64 // pclnOffset: ftab and _func records
	pctab   []byte
}

// _func field offsets (runtime/runtime2.go).
const (
	funcEntryOff   = 0
	funcPcspOff    = 16
	funcPcfileOff  = 20
	funcPclnOff    = 24
	funcNpcdataOff = 28
	maxNpcdata     = 64 // Go uses 4; anything near this is corrupt
)

func newPCValueTables(pcln []byte) *pcValueTables {
	le := binary.LittleEndian
	return &pcValueTables{
		data:    pcln,
		nfunc:   le.Uint64(pcln[8:]),
		ftabOff: le.Uint64(pcln[64:]),
		pctab:   pcln[le.Uint64(pcln[56:]):],
	}
}

// crossCheck verifies that the hand-read function table agrees with the
// one debug/gosym produced (same count, same entry addresses).
func (t *pcValueTables) crossCheck(funcs []gosym.Func, textStart uint64) error {
	if uint64(len(funcs)) != t.nfunc {
		return fmt.Errorf("debug/gosym found %d functions, header says %d", len(funcs), t.nfunc)
	}
	for i := range funcs {
		e := textStart + uint64(binary.LittleEndian.Uint32(t.data[t.ftabOff+8*uint64(i):]))
		if e != funcs[i].Entry {
			return fmt.Errorf("function %d: ftab entry %#x, debug/gosym entry %#x", i, e, funcs[i].Entry)
		}
	}
	return nil
}

// boundaries returns the sorted, distinct offsets from the entry of
// function i at which some PC-value table changes value, i.e. known
// instruction starts. size is the function's extent (End-Entry); the last
// table PC is the end of its code, where the padding starts.
func (t *pcValueTables) boundaries(i int, size uint64) ([]uint64, error) {
	le := binary.LittleEndian
	funcOff := uint64(le.Uint32(t.data[t.ftabOff+8*uint64(i)+4:]))
	start := t.ftabOff + funcOff
	if start < t.ftabOff || start > uint64(len(t.data)) || uint64(len(t.data))-start < pclnFuncMinSize {
		return nil, fmt.Errorf("_func record at %#x is outside the table", funcOff)
	}
	fb := t.data[start:]
	if le.Uint32(fb[funcEntryOff:]) != le.Uint32(t.data[t.ftabOff+8*uint64(i):]) {
		return nil, errors.New("_func entry does not match the function table")
	}
	npcdata := uint64(le.Uint32(fb[funcNpcdataOff:]))
	if npcdata > maxNpcdata || uint64(len(fb)) < pclnFuncMinSize+4*npcdata {
		return nil, fmt.Errorf("_func has %d pcdata tables", npcdata)
	}
	offs := []uint32{le.Uint32(fb[funcPcspOff:]), le.Uint32(fb[funcPcfileOff:]), le.Uint32(fb[funcPclnOff:])}
	for k := uint64(0); k < npcdata; k++ {
		offs = append(offs, le.Uint32(fb[pclnFuncMinSize+4*k:]))
	}
	var pcs []uint64
	for _, off := range offs {
		if off == 0 { // no table
			continue
		}
		var err error
		if pcs, err = t.tablePCs(off, size, pcs); err != nil {
			return nil, err
		}
	}
	slices.Sort(pcs)
	return slices.Compact(pcs), nil
}

// tablePCs appends the PCs (offsets from the entry) at which the table at
// pctab offset off changes value.
func (t *pcValueTables) tablePCs(off uint32, size uint64, pcs []uint64) ([]uint64, error) {
	if uint64(off) >= uint64(len(t.pctab)) {
		return nil, fmt.Errorf("pc-value table offset %#x outside pctab", off)
	}
	p := t.pctab[off:]
	var pc uint64
	for first := true; ; first = false {
		uvdelta, n, ok := uvarint32(p)
		if !ok {
			return nil, fmt.Errorf("pc-value table at %#x is truncated", off)
		}
		if uvdelta == 0 && !first {
			return pcs, nil
		}
		p = p[n:]
		pcdelta, n, ok := uvarint32(p)
		if !ok {
			return nil, fmt.Errorf("pc-value table at %#x is truncated", off)
		}
		p = p[n:]
		pc += uint64(pcdelta) // PC quantum is 1 on amd64 (checked in the header)
		if pc > size {
			return nil, fmt.Errorf("pc-value table at %#x runs to +%#x, past the function's %#x bytes", off, pc, size)
		}
		pcs = append(pcs, pc)
	}
}

// uvarint32 reads a runtime-style varint (at most 5 bytes).
func uvarint32(p []byte) (v uint32, n int, ok bool) {
	var shift uint
	for n < len(p) && n < 5 {
		b := p[n]
		n++
		v |= uint32(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, n, true
		}
		shift += 7
	}
	return 0, 0, false
}
