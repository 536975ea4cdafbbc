package p9_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	hp9 "github.com/hugelgupf/p9/p9"

	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

// TestP9Garbage sends what a broken or hostile driver could: every
// request gets an error reply (or, with no room for one, an empty used
// buffer), and the device keeps serving.
func TestP9Garbage(t *testing.T) {
	r := newRig(t, rigOptions{})
	os.WriteFile(filepath.Join(r.dir, "f"), make([]byte, 100000), 0o644)
	r.handshake(t)

	withSize := func(b []byte, size uint32) []byte {
		binary.LittleEndian.PutUint32(b, size)
		return b
	}
	for _, c := range []struct {
		name  string
		msg   []byte
		tag   uint16
		errno linux.Errno
	}{
		{"no readable bytes", nil, p9.NoTag, linux.EINVAL},
		{"3 bytes", []byte{3, 0, 0}, p9.NoTag, linux.EINVAL},
		{"size below the header", withSize(p9test.Msg(p9test.Tgetattr, 5, uint32(1), uint64(0x3fff)), 6), 5, linux.EINVAL},
		{"size above the chain", withSize(p9test.Msg(p9test.Tgetattr, 6, uint32(1), uint64(0x3fff)), 5000), 6, linux.EINVAL},
		{"size zero", withSize(p9test.Msg(p9test.Tgetattr, 7, uint32(1), uint64(0x3fff)), 0), 7, linux.EINVAL},
		{"unknown type", p9test.Msg(99, 8, uint32(1)), 8, 0},
		{"R-message type", p9test.Msg(p9test.Rlerror, 9, uint32(1)), 9, 0},
		{"NOTAG on Tgetattr", p9test.Msg(p9test.Tgetattr, p9.NoTag, uint32(1), uint64(0x3fff)), p9.NoTag, linux.EINVAL},
		{"bogus fid", p9test.Msg(p9test.Tgetattr, 10, uint32(999), uint64(0x3fff)), 10, linux.EBADF},
		{"truncated Twalk", p9test.Msg(p9test.Twalk, 11, uint32(1)), 11, 0},
		{"Twalk with a string past the end", p9test.Msg(p9test.Twalk, 12, uint32(1), uint32(2), uint16(1), uint16(500), "ab"), 12, 0},
		{"truncated Tgetattr", p9test.Msg(p9test.Tgetattr, 13, uint16(1)), 13, 0},
		{"Tattach of an unknown fid tree", p9test.Msg(p9test.Tattach, 14, uint32(1), uint32(0xFFFFFFFF), "", "../..", uint32(0)), 14, 0},
		{"Tflush of nothing", p9test.Msg(p9test.Tflush, 15, uint16(4242)), 15, 0},
	} {
		b := r.roundTrip(c.msg, 4096)
		if c.name == "Tflush of nothing" {
			if p9test.Type(b) != p9test.Tflush+1 || p9.Message(b).Tag() != 15 {
				t.Errorf("%s: reply % x, want an Rflush", c.name, b)
			}
			continue
		}
		errno := rerror(t, b, c.tag)
		if c.errno != 0 && errno != c.errno {
			t.Errorf("%s: errno %v, want %v", c.name, errno, c.errno)
		}
	}

	// No room for any reply: the chain comes back empty.
	c, release := r.send(p9test.Msg(p9test.Tgetattr, 20, uint32(1), uint64(0x3fff)), 5)
	if b := r.wait(c, "a chain without room for a reply"); len(b) != 0 {
		t.Errorf("a 5-byte reply buffer got %d bytes", len(b))
	}
	release()

	// A read larger than the reply buffer is cut to fit it.
	r.roundTrip(p9test.Msg(p9test.Twalk, 21, uint32(1), uint32(2), uint16(1), "f"), 4096)
	r.roundTrip(p9test.Msg(p9test.Tlopen, 22, uint32(2), uint32(0)), 4096)
	b := r.roundTrip(p9test.Msg(p9test.Tread, 23, uint32(2), uint64(0), uint32(1<<20)), 4096)
	if p9test.Type(b) != p9test.Tread+1 || len(b) > 4096 || p9.Message(b).Size() != uint32(len(b)) {
		t.Errorf("Tread of 1 MiB into 4 KiB: type %d, %d bytes", p9test.Type(b), len(b))
	}
	if n := binary.LittleEndian.Uint32(b[7:]); int(n) != len(b)-11 || n == 0 {
		t.Errorf("Rread count %d in a %d-byte reply", n, len(b))
	}

	// Messages and replies cut across descriptors, direct and indirect.
	for _, indirect := range []bool{false, true} {
		m := p9test.Msg(p9test.Twalk, 24, uint32(1), uint32(3), uint16(1), "f")
		c, release := r.sendSplit(m, []int{1, 5, 8, 16}, 64, indirect)
		if b := r.wait(c, "a split Twalk"); p9test.Type(b) != p9test.Twalk+1 {
			t.Errorf("split Twalk (indirect %v): % x", indirect, b)
		}
		release()
		r.roundTrip(p9test.Msg(p9test.Tclunk, 25, uint32(3)), 64)
	}

	// The same tag twice in flight: both are answered (the device gives
	// the server tags of its own).
	c1, rel1 := r.send(p9test.Msg(p9test.Tgetattr, 30, uint32(1), uint64(0x3fff)), 4096)
	c2, rel2 := r.send(p9test.Msg(p9test.Tgetattr, 30, uint32(1), uint64(0x3fff)), 4096)
	for _, c := range []<-chan []byte{c1, c2} {
		if b := r.wait(c, "a duplicate tag"); p9test.Type(b) != p9test.Tgetattr+1 || p9.Message(b).Tag() != 30 {
			t.Errorf("duplicate tag: reply % x", b[:min(len(b), 16)])
		}
	}
	rel1()
	rel2()

	// A huge msize is capped.
	b = r.roundTrip(p9test.Version(1<<30), 4096)
	if p9test.Type(b) != p9test.Tversion+1 || binary.LittleEndian.Uint32(b[7:]) > p9.DefaultMaxMessage {
		t.Errorf("Tversion of 1 GiB: % x", b)
	}
	// A message larger than the negotiated msize is refused.
	r.roundTrip(p9test.Version(8192), 4096)
	big := p9test.Msg(p9test.Twalk, 31, uint32(1), uint32(2), uint16(1), string(make([]byte, 9000)))
	if e := rerror(t, r.roundTrip(big, 4096), 31); e != linux.EMSGSIZE {
		t.Errorf("a 9 KiB message with msize 8 KiB: %v", e)
	}
	// A bogus version is "unknown" and changes nothing.
	r.roundTrip(p9test.Version(0), 4096)
	r.roundTrip(p9test.Msg(p9test.Tversion, p9.NoTag, uint32(testMsize), "bogus"), 4096)

	// Still serving.
	r.handshake(t)
	if b := r.roundTrip(p9test.Msg(p9test.Tgetattr, 40, uint32(1), uint64(0x3fff)), 4096); p9test.Type(b) != p9test.Tgetattr+1 {
		t.Errorf("Tgetattr after the garbage: % x", b)
	}
	if s := r.drv.R(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
		t.Errorf("status %#x: the device gave up", s)
	}
}

// TestP9Reset: the driver resets the device while the server works on a
// request; the new driver is served, the old reply is dropped.
func TestP9Reset(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	r := newRig(t, rigOptions{attacher: func(a hp9.Attacher) hp9.Attacher { return slowSync(a, entered, release) }})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the rig's cleanup
	os.WriteFile(filepath.Join(r.dir, "f"), []byte("x"), 0o644)
	r.handshake(t)
	r.roundTrip(p9test.Msg(p9test.Twalk, 1, uint32(1), uint32(2), uint16(1), "f"), 4096)
	r.roundTrip(p9test.Msg(p9test.Tlopen, 2, uint32(2), uint32(2)), 4096)
	r.send(p9test.Msg(p9test.Tfsync, 3, uint32(2), uint32(0)), 4096) // blocks
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Tfsync did not reach the file system")
	}
	r.restart()
	r.handshake(t)
	// Tag 3 again, and more requests than the queue holds.
	for i := range 3 * p9.QueueSize {
		if b := r.roundTrip(p9test.Msg(p9test.Tgetattr, 3, uint32(1), uint64(0x3fff)), 4096); p9test.Type(b) != p9test.Tgetattr+1 {
			t.Fatalf("request %d after the reset: % x", i, b)
		}
	}
	unblock() // the old Tfsync's reply comes and is dropped
	time.Sleep(50 * time.Millisecond)
	if b := r.roundTrip(p9test.Msg(p9test.Tgetattr, 3, uint32(1), uint64(0x3fff)), 4096); p9test.Type(b) != p9test.Tgetattr+1 {
		t.Fatalf("after the old reply: % x", b)
	}
}

// TestP9ServerGone: when the server dies, the requests it had and the
// later ones fail with EIO instead of hanging.
func TestP9ServerGone(t *testing.T) {
	r := newRig(t, rigOptions{noServer: true})
	c, release := r.send(p9test.Msg(p9test.Tgetattr, 7, uint32(1), uint64(0x3fff)), 4096)
	defer release()
	buf := make([]byte, 1<<16)
	if _, err := r.srvSock.ReadMessage(buf); err != nil {
		t.Fatal(err)
	}
	r.srvSock.Close()
	if e := rerror(t, r.wait(c, "a request in flight when the server died"), 7); e != linux.EIO {
		t.Errorf("in flight: %v, want EIO", e)
	}
	if e := rerror(t, r.roundTrip(p9test.Msg(p9test.Tgetattr, 8, uint32(1), uint64(0x3fff)), 4096), 8); e != linux.EIO {
		t.Errorf("after: %v, want EIO", e)
	}
}
