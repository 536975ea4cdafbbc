// Package p9test builds 9P2000.L messages for the tests of
// monitor/virtio/p9 and the packages under it, and for their test
// programs (testdata/seccompchild).
//
// It works on bytes only: it imports neither the 9P library nor package
// net, because the seccomp child, like the monitor, must link neither
// (TestP9Deps). Only tests and test programs import it.
package p9test

import (
	"encoding/binary"

	"brique.dev/brique/monitor/virtio/p9"
)

// 9P2000.L message types the tests send (Linux include/net/9p/9p.h, enum
// p9_msg_t; those the device reads come from package p9); the reply to
// type T is T+1, or an Rlerror.
const (
	Rlerror   = p9.Rlerror
	Tstatfs   = 8
	Tlopen    = 12
	Tlcreate  = 14
	Tsymlink  = 16
	Treadlink = 22
	Tgetattr  = 24
	Tsetattr  = 26
	Treaddir  = p9.Treaddir
	Tfsync    = 50
	Tlink     = 70
	Tmkdir    = 72
	Trenameat = 74
	Tunlinkat = 76
	Tversion  = p9.Tversion
	Tattach   = 104
	Tflush    = p9.Tflush
	Twalk     = 110
	Tread     = p9.Tread
	Twrite    = 118
	Tclunk    = 120
	Tremove   = 122
)

// NoFid is P9_NOFID, the afid of an attach without authentication.
const NoFid = 0xFFFFFFFF

// Msg builds a 9P message: size[4] (computed), type[1], tag[2], then the
// fields in order: a uint8, uint16, uint32 or uint64 as that many
// little-endian bytes, a string as s[2] (length, then the bytes), a
// []byte as it is. Any other field type panics.
func Msg(typ uint8, tag uint16, fields ...any) []byte {
	b := []byte{0, 0, 0, 0, typ, byte(tag), byte(tag >> 8)}
	for _, f := range fields {
		switch v := f.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic("p9test.Msg: field type")
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// Version is the Tversion that opens a session: "9P2000.L" with msize,
// tag p9.NoTag.
func Version(msize uint32) []byte {
	return Msg(Tversion, p9.NoTag, msize, "9P2000.L")
}

// Attach is the Tattach of fid to the root: no authentication (afid
// NoFid), empty user and tree names, uid 0.
func Attach(tag uint16, fid uint32) []byte {
	return Msg(Tattach, tag, fid, uint32(NoFid), "", "", uint32(0))
}

// Type is the type of message b, or -1 if b is too short to have one.
func Type(b []byte) int {
	if len(b) < 5 {
		return -1
	}
	return int(b[4])
}
