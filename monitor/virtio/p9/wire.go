package p9

import "encoding/binary"

// The few 9P2000.L fields the transport reads or rewrites. Everything else
// in a message is decoded by the server (github.com/hugelgupf/p9, in
// brique-9pd). Sources: intro(5) of the 9P2000 manual (the header: all
// integers little-endian), Linux include/net/9p/9p.h (enum p9_msg_t, the
// type numbers of 9P2000.L) and the 9P2000.L message layouts of
// github.com/chaos/diod (protocol.md).
const (
	// HeaderSize is size[4] type[1] tag[2], the start of every message;
	// size counts the whole message, header included.
	HeaderSize = 7
	// NoTag is P9_NOTAG, the tag of Tversion.
	NoTag = 0xFFFF

	Rlerror  = 7   // size[4] Rlerror tag[2] ecode[4]
	Treaddir = 40  // size[4] Treaddir tag[2] fid[4] offset[8] count[4]
	Rreaddir = 41  // size[4] Rreaddir tag[2] count[4] data[count]
	Tversion = 100 // size[4] Tversion tag[2] msize[4] version[s]
	Rversion = 101 // size[4] Rversion tag[2] msize[4] version[s]
	Tflush   = 108 // size[4] Tflush tag[2] oldtag[2]
	Tread    = 116 // size[4] Tread tag[2] fid[4] offset[8] count[4]
	Rread    = 117 // size[4] Rread tag[2] count[4] data[count]

	offSize = 0
	offType = 4
	offTag  = 5

	// OffMsize is msize[4] in Tversion and Rversion.
	OffMsize = 7
	// OffOldTag is oldtag[2] in Tflush.
	OffOldTag = 7
	// OffCount is count[4] in Tread and Treaddir.
	OffCount = 19
	// IOHeaderSize is what Rread and Rreaddir put before their data
	// (size, type, tag, count): a reply to a read of count bytes is at
	// most IOHeaderSize+count long.
	IOHeaderSize = 11
	// RlerrorSize is the length of an Rlerror.
	RlerrorSize = 11
)

// Message is a 9P message (or its first bytes) with accessors for the
// header. The accessors need len(m) >= HeaderSize.
type Message []byte

// Size is the message's size field.
func (m Message) Size() uint32 { return binary.LittleEndian.Uint32(m[offSize:]) }

// Type is the message type.
func (m Message) Type() uint8 { return m[offType] }

// Tag is the message's tag.
func (m Message) Tag() uint16 { return binary.LittleEndian.Uint16(m[offTag:]) }

// SetTag replaces the tag.
func (m Message) SetTag(tag uint16) { binary.LittleEndian.PutUint16(m[offTag:], tag) }

// Has reports whether the message holds the n-byte field at off: both
// its size field and its length cover it.
func (m Message) Has(off, n int) bool {
	return len(m) >= HeaderSize && len(m) >= off+n && int64(m.Size()) >= int64(off+n)
}

// U16 and U32 read the field at off, PutU16 and PutU32 write it; check
// Has first.
func (m Message) U16(off int) uint16       { return binary.LittleEndian.Uint16(m[off:]) }
func (m Message) U32(off int) uint32       { return binary.LittleEndian.Uint32(m[off:]) }
func (m Message) PutU16(off int, v uint16) { binary.LittleEndian.PutUint16(m[off:], v) }
func (m Message) PutU32(off int, v uint32) { binary.LittleEndian.PutUint32(m[off:], v) }

// AppendRlerror appends an Rlerror with tag and Linux error number errno
// to b.
func AppendRlerror(b []byte, tag uint16, errno uint32) []byte {
	var m [RlerrorSize]byte
	binary.LittleEndian.PutUint32(m[offSize:], RlerrorSize)
	m[offType] = Rlerror
	binary.LittleEndian.PutUint16(m[offTag:], tag)
	binary.LittleEndian.PutUint32(m[HeaderSize:], errno)
	return append(b, m[:]...)
}
