package image_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"

	"brique.dev/brique/image"
)

func TestSegments(t *testing.T) {
	_, img, _ := helloImage(t)
	im, err := image.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := im.Segments(1 << 32)
	if err != nil {
		t.Fatalf("Segments: %v", err)
	}
	if len(segs) != 3 {
		t.Fatalf("got %d segments, want 3 (text, rodata, data)", len(segs))
	}
	for i, s := range segs {
		t.Logf("segment paddr %#x vaddr %#x filesz %#x memsz %#x %v", s.Paddr, s.Vaddr, len(s.Data), s.Memsz, s.Flags)
		if uint64(len(s.Data)) > s.Memsz || !bytes.Equal(s.Data, im.ELF[s.Offset:s.Offset+uint64(len(s.Data))]) {
			t.Errorf("segment %d: bad data", i)
		}
		if i > 0 && segs[i-1].Paddr >= s.Paddr {
			t.Errorf("segments not sorted by Paddr")
		}
	}
	if segs[0].Flags != elf.PF_R|elf.PF_X || im.File.Entry < segs[0].Vaddr || im.File.Entry >= segs[0].Vaddr+segs[0].Memsz {
		t.Errorf("first segment %v does not hold the entry %#x", segs[0].Flags, im.File.Entry)
	}
	last := segs[len(segs)-1]
	if _, err := im.Segments(last.Paddr + last.Memsz - 1); !errors.Is(err, image.ErrSegments) {
		t.Errorf("Segments(limit one byte too small) = %v, want ErrSegments", err)
	}
	if _, err := im.Segments(last.Paddr + last.Memsz); err != nil {
		t.Errorf("Segments(exact limit) = %v", err)
	}
}

func TestSegmentsMalformed(t *testing.T) {
	_, img, _ := helloImage(t)
	good, err := image.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	// ELF64 program header fields.
	const (
		pType, pOffset, pVaddr, pPaddr, pFilesz, pMemsz, pAlign = 0, 8, 16, 24, 32, 40, 48
	)
	load := func(b []byte, k int) []byte { // k-th PT_LOAD header
		phoff, phnum := le.Uint64(b[32:]), int(le.Uint16(b[56:]))
		for i := range phnum {
			p := b[phoff+uint64(i)*56:]
			if elf.ProgType(le.Uint32(p[pType:])) == elf.PT_LOAD {
				if k == 0 {
					return p[:56]
				}
				k--
			}
		}
		t.Fatalf("no PT_LOAD %d", k)
		return nil
	}
	setAddr := func(p []byte, a uint64) {
		le.PutUint64(p[pVaddr:], a)
		le.PutUint64(p[pPaddr:], a)
	}
	tests := []struct {
		name  string
		edit  func(b []byte) []byte
		limit uint64
	}{
		{"filesz>memsz", func(b []byte) []byte {
			p := load(b, 2)
			le.PutUint64(p[pFilesz:], le.Uint64(p[pMemsz:])+1)
			return b
		}, 1 << 32},
		{"overlap", func(b []byte) []byte { setAddr(load(b, 1), le.Uint64(load(b, 0)[pVaddr:])+0x1000); return b }, 1 << 32},
		{"share page", func(b []byte) []byte {
			p0 := load(b, 0)
			end := le.Uint64(p0[pVaddr:]) + le.Uint64(p0[pMemsz:])
			setAddr(load(b, 1), end&^0xfff)
			return b
		}, 1 << 32},
		{"vaddr only overlap", func(b []byte) []byte {
			le.PutUint64(load(b, 1)[pVaddr:], le.Uint64(load(b, 0)[pVaddr:]))
			return b
		}, 1 << 32},
		{"offset beyond file", func(b []byte) []byte { le.PutUint64(load(b, 1)[pOffset:], uint64(len(b))); return b }, 1 << 32},
		{"file cut", func(b []byte) []byte { return b[:len(b)/2] }, 1 << 32},
		{"address overflow", func(b []byte) []byte { setAddr(load(b, 2), ^uint64(0)&^0xfff); return b }, ^uint64(0)},
		{"over limit", func(b []byte) []byte { return b }, 0x400000},
		{"misaligned", func(b []byte) []byte { setAddr(load(b, 1), le.Uint64(load(b, 1)[pVaddr:])+0x800); return b }, 1 << 32},
		{"bad align", func(b []byte) []byte { le.PutUint64(load(b, 1)[pAlign:], 0x1001); return b }, 1 << 32},
		{"entry not executable", func(b []byte) []byte { le.PutUint64(b[24:], le.Uint64(load(b, 1)[pVaddr:])); return b }, 1 << 32},
		{"no PT_LOAD", func(b []byte) []byte {
			for range 3 {
				le.PutUint32(load(b, 0)[pType:], uint32(elf.PT_NOTE))
			}
			return b
		}, 1 << 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(good.ELF))
			// Parse the edited headers from an intact copy, so that
			// "file cut" exercises Segments' own bounds checks.
			full := bytes.Clone(good.ELF)
			copy(full, b)
			f, err := elf.NewFile(bytes.NewReader(full))
			if err != nil {
				t.Fatal(err)
			}
			im := &image.Image{ELF: b, File: f}
			segs, err := im.Segments(tt.limit)
			if !errors.Is(err, image.ErrSegments) {
				t.Fatalf("Segments = %d segments, %v; want ErrSegments", len(segs), err)
			}
			t.Log(err)
		})
	}
	var nilImg *image.Image
	if _, err := nilImg.Segments(1 << 32); !errors.Is(err, image.ErrSegments) {
		t.Errorf("nil image: %v", err)
	}
}
