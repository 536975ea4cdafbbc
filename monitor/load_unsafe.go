package monitor

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"brique.dev/brique/image"
)

// loadSegments puts the image's PT_LOAD segments into guest RAM. A segment
// that starts on a page boundary in both the file and memory is mapped
// from the image file (MAP_PRIVATE|MAP_FIXED over that part of raw)
// rather than copied: the guest reads the host's page cache, shared with
// every other instance of the image, and its writes go to private copies.
// Copying faulted in every page of the image before the guest ran: ~6-20
// ms for the 9 MiB HTTP server on kvm-pvm (measured 2026-11-27, monitor
// set-up with --stats). Other segments, and every segment when src is nil
// or a mapping fails, are copied. It returns the mapped ranges of raw.
func loadSegments(raw []byte, segs []image.Segment, src *os.File) (mapped [][2]uint64) {
	const page = 4096
	for _, s := range segs {
		n := uint64(len(s.Data))
		if src != nil && n > 0 && s.Paddr%page == 0 && s.Offset%page == 0 {
			size := (n + page - 1) &^ (page - 1)
			if s.Paddr+size > uint64(len(raw)) {
				copy(raw[s.Paddr:], s.Data)
				continue
			}
			_, err := unix.MmapPtr(int(src.Fd()), int64(s.Offset), unsafe.Pointer(&raw[s.Paddr]), uintptr(size),
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
			if err == nil {
				// The last page holds file bytes past the segment:
				// they are the start of its zero-filled part.
				clear(raw[s.Paddr+n : s.Paddr+size])
				mapped = append(mapped, [2]uint64{s.Paddr, s.Paddr + size})
				continue
			}
		}
		copy(raw[s.Paddr:], s.Data)
	}
	return mapped
}
