package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// cpioEntry is one member of a cpio archive in the "newc" format (the one
// the Linux kernel unpacks as an initramfs).
type cpioEntry struct {
	Name         string // without a leading slash: "init", "dev/console"
	Mode         uint32 // file type and permission bits, as in stat(2)
	Data         []byte // regular files only
	RdevMajor    uint32 // device nodes only
	RdevMinor    uint32
	Mtime, Inode uint32 // Inode 0: numbered in order
}

// File type bits of cpio modes (they are the stat(2) S_IF* values).
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

// writeCpio writes entries and the TRAILER!!! member as a newc archive:
// each member is a 110-byte ASCII header ("070701" and 13 eight-digit hex
// fields), the NUL-terminated name padded to a multiple of 4 bytes counting
// the header, then the data padded to a multiple of 4 bytes.
func writeCpio(w io.Writer, entries []cpioEntry) error {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	member := func(e cpioEntry, ino uint32) error {
		if e.Name == "" || e.Name[0] == '/' {
			return fmt.Errorf("cpio: bad member name %q", e.Name)
		}
		if e.Mode&0o170000 != cpioReg && len(e.Data) > 0 {
			return fmt.Errorf("cpio: %s: only regular files have data", e.Name)
		}
		if uint64(len(e.Data)) > 0xffffffff {
			return fmt.Errorf("cpio: %s: too large for newc", e.Name)
		}
		nlink := uint32(1)
		if e.Mode&0o170000 == cpioDir {
			nlink = 2
		}
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, e.Mode, 0, 0, nlink, e.Mtime, len(e.Data), 0, 0, e.RdevMajor, e.RdevMinor, len(e.Name)+1, 0)
		b.WriteString(e.Name)
		b.WriteByte(0)
		pad()
		b.Write(e.Data)
		pad()
		return nil
	}
	for i, e := range entries {
		ino := e.Inode
		if ino == 0 {
			ino = uint32(i + 1)
		}
		if err := member(e, ino); err != nil {
			return err
		}
	}
	if err := member(cpioEntry{Name: "TRAILER!!!"}, 0); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeInitramfs writes an initramfs whose /init is the program at binary:
// the directory /dev with the /dev/console node (5, 1), so that the kernel
// can give init a console as stdin/stdout/stderr before running it (an
// initramfs gets no devtmpfs), and /init itself. Nothing else: no modules,
// no shell, no libraries (the program is static).
func writeInitramfs(path, binary string) error {
	data, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = writeCpio(f, []cpioEntry{
		{Name: "dev", Mode: cpioDir | 0o755},
		{Name: "dev/console", Mode: cpioChar | 0o600, RdevMajor: 5, RdevMinor: 1},
		{Name: "init", Mode: cpioReg | 0o755, Data: data},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
