package image

import (
	"io"
	"os"
	"syscall"
)

// mapFile maps the image read-only instead of reading it into the heap:
// the bytes then live in the page cache, shared by every VM running the
// same image, and do not count in a monitor's private memory. It falls back
// to one exact-size read where mapping is not possible.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
		return b, nil
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}
