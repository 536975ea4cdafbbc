package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// parseELF parses data as an ELF file and checks that it is something
// Brique can run: ELF64, little-endian, x86-64, ET_EXEC, statically linked,
// with every program header and section inside the file.
func parseELF(op, path string, data []byte) (*elf.File, error) {
	if !bytes.HasPrefix(data, elfMagic) {
		return nil, newErr(op, path, ErrNotELF, "not an ELF file (random bytes?): expected a Go executable for linux/amd64", nil)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, newErr(op, path, ErrMalformed, "ELF headers are damaged; rebuild the image", err)
	}
	if err := checkKind(op, path, f); err != nil {
		return nil, err
	}
	if err := checkExtents(op, path, f, uint64(len(data))); err != nil {
		return nil, err
	}
	return f, nil
}

// checkKind enforces ELF64 / little-endian / x86-64 / ET_EXEC / static.
func checkKind(op, path string, f *elf.File) error {
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 {
		return newErr(op, path, ErrWrongArch,
			fmt.Sprintf("ELF file for %v/%v/%v, but Brique runs only 64-bit little-endian x86-64 (GOARCH=amd64): rebuild with `brique build`",
				f.Class, f.Data, f.Machine), nil)
	}
	if f.Type != elf.ET_EXEC {
		msg := fmt.Sprintf("ELF type %v, but Brique needs a static executable (ET_EXEC)", f.Type)
		if f.Type == elf.ET_DYN {
			msg += ": this is a PIE or shared object; build with CGO_ENABLED=0 and without -buildmode=pie (`brique build` does this)"
		}
		return newErr(op, path, ErrWrongArch, msg, nil)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return newErr(op, path, ErrDynamic,
				"dynamically linked executable (has PT_INTERP): a Brique guest has no dynamic loader; build with CGO_ENABLED=0 (`brique build` does this)", nil)
		}
	}
	return nil
}

// checkExtents verifies that program headers and section contents lie
// inside the file, so later slicing cannot go out of range.
func checkExtents(op, path string, f *elf.File, size uint64) error {
	for i, p := range f.Progs {
		if end, ok := addU64(p.Off, p.Filesz); !ok || end > size {
			return newErr(op, path, ErrMalformed,
				fmt.Sprintf("program header %d (%v) claims file bytes [%#x, +%#x) beyond the %d-byte file; the image is truncated or corrupt", i, p.Type, p.Off, p.Filesz, size), nil)
		}
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if end, ok := addU64(s.Offset, s.Size); !ok || end > size {
			return newErr(op, path, ErrMalformed,
				fmt.Sprintf("section %q claims file bytes [%#x, +%#x) beyond the %d-byte file; the image is truncated or corrupt", s.Name, s.Offset, s.Size, size), nil)
		}
	}
	return nil
}

// elfExtent returns the end offset of the last byte described by the ELF
// headers (segments, sections, header tables). Bytes after it are not part
// of the ELF file proper. f must have passed checkExtents.
func elfExtent(f *elf.File, data []byte) uint64 {
	var end uint64
	grow := func(off, n uint64) {
		if e, ok := addU64(off, n); ok && e > end {
			end = e
		}
	}
	for _, p := range f.Progs {
		grow(p.Off, p.Filesz)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			grow(s.Offset, s.Size)
		}
	}
	if len(data) >= 64 { // ELF64 header: e_phoff@32, e_shoff@40, sizes@54..
		le := binary.LittleEndian
		phoff, shoff := le.Uint64(data[32:]), le.Uint64(data[40:])
		phentsize, phnum := uint64(le.Uint16(data[54:])), uint64(le.Uint16(data[56:]))
		shentsize, shnum := uint64(le.Uint16(data[58:])), uint64(le.Uint16(data[60:]))
		grow(phoff, phentsize*phnum)
		grow(shoff, shentsize*shnum)
		grow(0, 64)
	}
	return end
}

func addU64(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s >= a
}
