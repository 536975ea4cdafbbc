package p9_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

// fuzzRecord appends one request of the fuzz input format: rlen[2] n[2]
// message[n]. rlen is the size of the reply buffer.
func fuzzRecord(b []byte, rlen uint16, m []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, rlen)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m)))
	return append(b, m...)
}

// FuzzP9 sends whatever requests the fuzzer makes up, after a Tversion
// and a Tattach of fid 1, to a device served by package server and
// localfs on a scratch directory (a file f, a directory d, a symlink l
// to the canary outside). Every request must be answered within 10 s,
// nothing may panic, and nothing outside the directory may change.
//
//	go test ./monitor/virtio/p9 -run '^$' -fuzz FuzzP9 -fuzztime 1m
func FuzzP9(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(fuzzBody)
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	var seq []byte
	add := func(m []byte) { seq = fuzzRecord(seq, 4096, m) }
	add(p9test.Msg(p9test.Twalk, 1, uint32(1), uint32(2), uint16(1), "f"))
	add(p9test.Msg(p9test.Tlopen, 2, uint32(2), uint32(2)))
	add(p9test.Msg(p9test.Twrite, 3, uint32(2), uint64(0), uint32(5), []byte("hello")))
	add(p9test.Msg(p9test.Tread, 4, uint32(2), uint64(0), uint32(100)))
	add(p9test.Msg(p9test.Tfsync, 5, uint32(2)))
	add(p9test.Msg(p9test.Twalk, 6, uint32(1), uint32(3), uint16(0)))
	add(p9test.Msg(p9test.Tlcreate, 7, uint32(3), "new", uint32(2), uint32(0o644), uint32(0)))
	add(p9test.Msg(p9test.Tmkdir, 8, uint32(1), "dd", uint32(0o755), uint32(0)))
	add(p9test.Msg(p9test.Tsymlink, 9, uint32(1), "s", "../canary", uint32(0)))
	add(p9test.Msg(p9test.Twalk, 10, uint32(1), uint32(4), uint16(1), "l"))
	add(p9test.Msg(p9test.Treadlink, 11, uint32(4)))
	add(p9test.Msg(p9test.Twalk, 12, uint32(1), uint32(5), uint16(1), "d"))
	add(p9test.Msg(p9test.Trenameat, 13, uint32(1), "f", uint32(5), "g"))
	add(p9test.Msg(p9test.Tlink, 14, uint32(5), uint32(2), "h"))
	add(p9test.Msg(p9test.Tsetattr, 15, uint32(2), uint32(0x9), uint32(0o600), uint32(0), uint32(0), uint64(3), uint64(0), uint64(0), uint64(0), uint64(0)))
	add(p9test.Msg(p9test.Tunlinkat, 16, uint32(1), "dd", uint32(0x200)))
	add(p9test.Msg(p9test.Twalk, 17, uint32(1), uint32(6), uint16(0)))
	add(p9test.Msg(p9test.Tlopen, 18, uint32(6), uint32(0)))
	add(p9test.Msg(p9test.Treaddir, 19, uint32(6), uint64(0), uint32(4000)))
	add(p9test.Msg(p9test.Tstatfs, 20, uint32(1)))
	add(p9test.Msg(p9test.Tflush, 21, uint16(4)))
	add(p9test.Msg(p9test.Tremove, 22, uint32(4)))
	add(p9test.Msg(p9test.Tclunk, 23, uint32(2)))
	seeds = append(seeds, seq)
	// Escapes and garbage.
	seq = nil
	add(p9test.Msg(p9test.Twalk, 1, uint32(1), uint32(2), uint16(1), ".."))
	add(p9test.Msg(p9test.Twalk, 2, uint32(1), uint32(2), uint16(2), "l", "x"))
	add(p9test.Msg(p9test.Tlcreate, 3, uint32(1), "../escaped", uint32(2), uint32(0o644), uint32(0)))
	add(p9test.Msg(p9test.Trenameat, 4, uint32(1), "f", uint32(1), "../f"))
	add(p9test.Msg(p9test.Twalk, 5, uint32(1), uint32(2)))
	add(p9test.Version(100))
	add(p9test.Msg(p9test.Twalk, 6, uint32(1), uint32(2), uint16(1), "f"))
	add([]byte{0xff, 0xff, 0xff, 0xff, 110, 0, 0})
	add(nil)
	seeds = append(seeds, seq, []byte{})
	return seeds
}

func fuzzBody(t *testing.T, in []byte) {
	{
		r := newRig(t, rigOptions{memory: 8 << 20})
		os.WriteFile(filepath.Join(r.dir, "f"), []byte("file"), 0o644)
		os.Mkdir(filepath.Join(r.dir, "d"), 0o755)
		os.Symlink("../canary", filepath.Join(r.dir, "l"))
		r.handshake(t)
		type sent struct {
			c       <-chan []byte
			release func()
			n       int
		}
		var all []sent
		// At most 24 in flight: the rig has 32 request buffers.
		for len(in) >= 4 && len(all) < 24 {
			rlen := int(binary.LittleEndian.Uint16(in)) % (testMsize + 1)
			n := min(int(binary.LittleEndian.Uint16(in[2:])), len(in)-4, testMsize)
			m := in[4 : 4+n]
			in = in[4+n:]
			c, release := r.send(m, rlen)
			all = append(all, sent{c, release, n})
		}
		for i, s := range all {
			b := r.wait(s.c, "a fuzzed request")
			if len(b) > 0 && (len(b) < p9.HeaderSize || p9.Message(b).Size() != uint32(len(b))) {
				t.Errorf("request %d: malformed reply % x", i, b[:min(len(b), 16)])
			}
			s.release()
		}
		// Still serving.
		r.roundTrip(p9test.Msg(p9test.Tgetattr, 99, uint32(1), uint64(0x3fff)), 4096)
	}
}
