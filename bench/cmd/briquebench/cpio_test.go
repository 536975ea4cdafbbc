package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// readNewc parses a newc archive independently of writeCpio, checking the
// alignment rules on the way.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("member at offset %d is not 4-byte aligned", off)
		}
		if off+110 > len(b) {
			t.Fatalf("truncated header at %d (archive %d bytes)", off, len(b))
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		e := cpioEntry{Inode: field(0), Mode: field(1), Mtime: field(5), RdevMajor: field(9), RdevMinor: field(10)}
		size, namesize := int(field(6)), int(field(11))
		if field(12) != 0 {
			t.Errorf("check field is %d, want 0", field(12))
		}
		name := b[off+110 : off+110+namesize]
		if name[namesize-1] != 0 {
			t.Fatalf("name at %d is not NUL-terminated", off)
		}
		e.Name = string(name[:namesize-1])
		off += 110 + namesize
		for off%4 != 0 {
			if b[off] != 0 {
				t.Fatalf("non-zero name padding at %d", off)
			}
			off++
		}
		if size > 0 {
			e.Data = b[off : off+size]
		}
		off += size
		for off%4 != 0 {
			if b[off] != 0 {
				t.Fatalf("non-zero data padding at %d", off)
			}
			off++
		}
		if e.Name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, e)
	}
}

func TestWriteCpio(t *testing.T) {
	// Names and sizes chosen to exercise every padding remainder.
	in := []cpioEntry{
		{Name: "dev", Mode: cpioDir | 0o755},
		{Name: "dev/console", Mode: cpioChar | 0o600, RdevMajor: 5, RdevMinor: 1},
		{Name: "init", Mode: cpioReg | 0o755, Data: []byte("abcde")},
		{Name: "a", Mode: cpioReg | 0o644, Data: []byte("xy"), Mtime: 12345},
		{Name: "bb", Mode: cpioReg | 0o644, Data: []byte("123")},
		{Name: "ccc", Mode: cpioReg | 0o644, Data: []byte("1234")},
		{Name: "empty", Mode: cpioReg | 0o644},
	}
	var buf bytes.Buffer
	if err := writeCpio(&buf, in); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	got := readNewc(t, buf.Bytes())
	if len(got) != len(in) {
		t.Fatalf("read %d members, wrote %d", len(got), len(in))
	}
	for i, w := range in {
		g := got[i]
		if g.Name != w.Name || g.Mode != w.Mode || !bytes.Equal(g.Data, w.Data) || g.RdevMajor != w.RdevMajor || g.RdevMinor != w.RdevMinor || g.Mtime != w.Mtime {
			t.Errorf("member %d: got %+v, want %+v", i, g, w)
		}
		if g.Inode != uint32(i+1) {
			t.Errorf("member %d: inode %d, want %d", i, g.Inode, i+1)
		}
	}
	// The first header, byte for byte.
	want := "070701" + fmt.Sprintf("%08x", 1) + "000041ed" + "00000000" + "00000000" + "00000002" + "00000000" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "dev\x00"
	if got := buf.String()[:len(want)]; got != want {
		t.Errorf("first header:\n got %q\nwant %q", got, want)
	}
}

func TestWriteCpioRejects(t *testing.T) {
	for _, e := range []cpioEntry{
		{Name: "", Mode: cpioReg},
		{Name: "/init", Mode: cpioReg},
		{Name: "dev", Mode: cpioDir, Data: []byte("x")},
	} {
		if err := writeCpio(&bytes.Buffer{}, []cpioEntry{e}); err == nil {
			t.Errorf("writeCpio accepted %+v", e)
		}
	}
}

func TestWriteInitramfs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("\x7fELF fake static binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initramfs.cpio")
	if err := writeInitramfs(out, bin); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := readNewc(t, b)
	if len(got) != 3 || got[0].Name != "dev" || got[1].Name != "dev/console" || got[2].Name != "init" {
		t.Fatalf("members %+v, want dev, dev/console, init", got)
	}
	if got[1].Mode != cpioChar|0o600 || got[1].RdevMajor != 5 || got[1].RdevMinor != 1 {
		t.Errorf("dev/console = %+v, want a character device 5,1", got[1])
	}
	if got[2].Mode != cpioReg|0o755 || string(got[2].Data) != "\x7fELF fake static binary" {
		t.Errorf("init = %+v", got[2])
	}
}
