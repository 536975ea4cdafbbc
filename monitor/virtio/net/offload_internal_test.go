package net

import (
	"encoding/binary"
	"testing"
)

// FuzzOffloadHeader: whatever header a guest writes, the check accepts
// only headers whose checksum field and segmentation parameters lie
// inside the frame, as the host kernel needs them.
func FuzzOffloadHeader(f *testing.F) {
	f.Add([]byte{1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0}, uint16(9000))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 54, 0, 16, 0, 0, 0}, uint16(60))
	f.Add(make([]byte, HeaderSize), uint16(14))
	f.Fuzz(func(t *testing.T, h []byte, n uint16) {
		if len(h) < HeaderSize {
			return
		}
		h = h[:HeaderSize]
		if !validOffloadHeader(h, int(n)) {
			return
		}
		le := binary.LittleEndian
		switch h[HeaderFlags] {
		case 0:
		case HeaderFNeedsCsum:
			start, off := int(le.Uint16(h[HeaderCsumStart:])), int(le.Uint16(h[HeaderCsumOffset:]))
			if start < 14 || start+off+2 > int(n) {
				t.Fatalf("accepted a checksum field at %d+%d outside a %d-byte frame", start, off, n)
			}
		default:
			t.Fatalf("accepted flags %#x", h[HeaderFlags])
		}
		switch h[HeaderGSOType] {
		case GSONone:
		case GSOTCPv4, GSOTCPv6:
			hl, size := int(le.Uint16(h[HeaderHdrLen:])), int(le.Uint16(h[HeaderGSOSize:]))
			if h[HeaderFlags] != HeaderFNeedsCsum || size == 0 || hl <= 14 || hl >= int(n) {
				t.Fatalf("accepted segmentation with flags %#x, size %d, header length %d in a %d-byte frame", h[HeaderFlags], size, hl, n)
			}
		default:
			t.Fatalf("accepted GSO type %#x", h[HeaderGSOType])
		}
	})
}
