package server_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	hp9 "github.com/hugelgupf/p9/p9"

	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/hookfs"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
	"brique.dev/brique/monitor/virtio/p9/localfs"
	"brique.dev/brique/monitor/virtio/p9/server"
)

// conn is the monitor's end of a socket pair whose other end Serve
// answers, with a goroutine sorting replies by tag.
type conn struct {
	t       testing.TB
	sock    *p9.Socket
	mu      sync.Mutex
	replies map[uint16][][]byte
	arrived chan struct{}
	served  chan error
}

func serve(t testing.TB, a hp9.Attacher, opts server.Options) *conn {
	mine, theirs, err := p9.SocketPair(p9.DefaultMaxMessage)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{t: t, sock: mine, replies: map[uint16][][]byte{}, arrived: make(chan struct{}, 1), served: make(chan error, 1)}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	go func() { c.served <- server.Serve(theirs, a, opts) }()
	go func() {
		for {
			b := make([]byte, p9.DefaultMaxMessage+1)
			n, err := mine.ReadMessage(b)
			if err != nil {
				return
			}
			c.mu.Lock()
			if n >= p9.HeaderSize {
				tag := p9.Message(b[:n]).Tag()
				c.replies[tag] = append(c.replies[tag], b[:n])
			}
			c.mu.Unlock()
			select {
			case c.arrived <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		mine.Close()
		select {
		case err := <-c.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after the peer closed")
		}
	})
	return c
}

func (c *conn) send(m []byte) {
	c.t.Helper()
	if err := c.sock.WriteMessage(m); err != nil {
		c.t.Fatal(err)
	}
}

// reply waits (at most d) for a reply with tag.
func (c *conn) reply(tag uint16, d time.Duration) []byte {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		if r := c.replies[tag]; len(r) > 0 {
			c.replies[tag] = r[1:]
			c.mu.Unlock()
			return r[0]
		}
		c.mu.Unlock()
		select {
		case <-c.arrived:
		case <-time.After(time.Millisecond):
		case <-deadline:
			return nil
		}
	}
}

func (c *conn) must(tag uint16) []byte {
	c.t.Helper()
	b := c.reply(tag, 10*time.Second)
	if b == nil {
		c.t.Fatalf("no reply with tag %d", tag)
	}
	return b
}

func errnoOf(t *testing.T, b []byte) linux.Errno {
	t.Helper()
	if len(b) != p9.RlerrorSize || b[4] != p9.Rlerror {
		t.Fatalf("want an Rlerror, got % x", b)
	}
	return linux.Errno(binary.LittleEndian.Uint32(b[7:]))
}

func volume(t *testing.T) *localfs.Attacher {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	a, err := localfs.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestP9ServeChecks(t *testing.T) {
	c := serve(t, volume(t), server.Options{})
	c.send(p9test.Version(8192))
	if b := c.must(p9.NoTag); b[4] != p9.Rversion || binary.LittleEndian.Uint32(b[7:]) != 8192 {
		t.Fatalf("Rversion: % x", b)
	}
	c.send(p9test.Attach(1, 1))
	c.must(1)

	// size field and length disagree
	m := p9test.Msg(p9test.Tgetattr, 2, uint32(1), uint64(0x3fff))
	binary.LittleEndian.PutUint32(m, 100)
	c.send(m)
	if e := errnoOf(t, c.must(2)); e != linux.EINVAL {
		t.Errorf("size mismatch: %v", e)
	}
	// larger than msize
	c.send(p9test.Msg(p9test.Twalk, 3, uint32(1), uint32(2), uint16(1), string(make([]byte, 9000))))
	if e := errnoOf(t, c.must(3)); e != linux.EMSGSIZE {
		t.Errorf("larger than msize: %v", e)
	}
	// NOTAG on something else than Tversion
	c.send(p9test.Msg(p9test.Tgetattr, p9.NoTag, uint32(1), uint64(0x3fff)))
	if e := errnoOf(t, c.must(p9.NoTag)); e != linux.EINVAL {
		t.Errorf("NOTAG: %v", e)
	}
	// too short for a header: no reply, and no harm
	c.send([]byte{1, 2, 3})
	// too short for its type: the library cannot tag its error, the
	// adapter does
	c.send(p9test.Msg(p9test.Twalk, 4, uint32(1)))
	errnoOf(t, c.must(4))
	c.send(p9test.Msg(p9test.Tgetattr, 5, uint16(7)))
	errnoOf(t, c.must(5))
	// still serving
	c.send(p9test.Msg(p9test.Tgetattr, 6, uint32(1), uint64(0x3fff)))
	if b := c.must(6); b[4] != p9test.Tgetattr+1 {
		t.Errorf("Tgetattr: % x", b)
	}
	time.Sleep(20 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	for tag, r := range c.replies {
		if len(r) > 0 {
			t.Errorf("extra replies with tag %d: %d", tag, len(r))
		}
	}
}

// TestP9ServeInflight: at most MaxInflight requests are handled at once,
// the others wait in the socket; a request whose tag is in flight is
// dropped.
func TestP9ServeInflight(t *testing.T) {
	// FSync waits until release and counts how many wait at once.
	released := make(chan struct{})
	var now, highest atomic.Int32
	a := hookfs.OnFSync(volume(t), func() {
		n := now.Add(1)
		for {
			h := highest.Load()
			if n <= h || highest.CompareAndSwap(h, n) {
				break
			}
		}
		<-released
		now.Add(-1)
	})
	var once sync.Once
	release := func() { once.Do(func() { close(released) }) }
	t.Cleanup(release)
	c := serve(t, a, server.Options{MaxInflight: 3})
	c.send(p9test.Version(8192))
	c.must(p9.NoTag)
	c.send(p9test.Attach(1, 1))
	c.must(1)
	for i := range 5 {
		fid := uint32(10 + i)
		c.send(p9test.Msg(p9test.Twalk, 2, uint32(1), fid, uint16(1), "f"))
		c.must(2)
		c.send(p9test.Msg(p9test.Tlopen, 3, fid, uint32(0)))
		c.must(3)
	}
	// waitInflight waits until n fsyncs wait at once (generously: a
	// loaded machine may be slow to schedule the handlers).
	waitInflight := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for now.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d fsyncs at once after 10 s, want %d", now.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.send(p9test.Msg(p9test.Tfsync, 100, uint32(10)))
	waitInflight(1)
	c.send(p9test.Msg(p9test.Tgetattr, 100, uint32(1), uint64(0x3fff))) // tag 100 is in flight: dropped
	for i := 1; i < 5; i++ {
		c.send(p9test.Msg(p9test.Tfsync, uint16(100+i), uint32(10+i)))
	}
	waitInflight(3)
	// No more than MaxInflight start, however long they wait.
	for range 50 {
		if h := highest.Load(); h > 3 {
			t.Fatalf("%d fsyncs at once, want at most MaxInflight = 3", h)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if h := highest.Load(); h != 3 {
		t.Errorf("%d fsyncs at once, want MaxInflight = 3", h)
	}
	release()
	for i := range 5 {
		if r := c.must(uint16(100 + i)); r[4] != p9test.Tfsync+1 {
			t.Errorf("Tfsync %d: % x", i, r)
		}
	}
	if r := c.reply(100, 100*time.Millisecond); r != nil {
		t.Errorf("the duplicate tag got a reply: % x", r[:16])
	}
	c.send(p9test.Msg(p9test.Tgetattr, 7, uint32(1), uint64(0x3fff)))
	c.must(7)
}

// FuzzP9Serve sends messages straight to Serve (no device to check them
// first): it must never hang, and a request after them is answered.
//
//	go test ./monitor/virtio/p9/server -run '^$' -fuzz FuzzP9Serve -fuzztime 1m
func FuzzP9Serve(f *testing.F) {
	rec := func(b []byte, m []byte) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m)))
		return append(b, m...)
	}
	var seq []byte
	seq = rec(seq, p9test.Msg(p9test.Twalk, 1, uint32(1), uint32(2), uint16(1), "f"))
	seq = rec(seq, p9test.Msg(p9test.Tlopen, 2, uint32(2), uint32(2)))
	seq = rec(seq, p9test.Msg(p9test.Tfsync, 3, uint32(2)))
	seq = rec(seq, p9test.Version(4096))
	seq = rec(seq, p9test.Msg(p9test.Twalk, 4, uint32(1)))
	seq = rec(seq, []byte{9, 0, 0, 0, 110, 5, 0, 1})
	f.Add(seq)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := serve(t, volume(t), server.Options{Logf: func(string, ...any) {}})
		c.send(p9test.Version(p9.DefaultMaxMessage))
		c.must(p9.NoTag)
		c.send(p9test.Attach(1, 1))
		c.must(1)
		for k := 0; len(in) >= 2 && k < 32; k++ {
			n := min(int(binary.LittleEndian.Uint16(in)), len(in)-2)
			m := append([]byte(nil), in[2:2+n]...)
			in = in[2+n:]
			if len(m) >= p9.HeaderSize && p9.Message(m).Tag() == 9999 {
				p9.Message(m).SetTag(9998)
			}
			if len(m) > 0 {
				c.send(m)
			}
		}
		c.send(p9test.Msg(p9test.Tversion, 9999, uint32(p9.DefaultMaxMessage), "9P2000.L")) // tag 9999: an Rlerror
		if c.reply(9999, 10*time.Second) == nil {
			t.Fatalf("no reply after the fuzzed messages")
		}
	})
}

// BenchmarkP9ServeGetattr is one small request through the socket and the
// server, without the device.
func BenchmarkP9ServeGetattr(b *testing.B) {
	dir := b.TempDir()
	a, err := localfs.Open(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	mine, theirs, _ := p9.SocketPair(p9.DefaultMaxMessage)
	go server.Serve(theirs, a, server.Options{})
	defer mine.Close()
	buf := make([]byte, p9.DefaultMaxMessage+1)
	call := func(m []byte) {
		mine.WriteMessage(m)
		mine.ReadMessage(buf)
	}
	call(p9test.Version(8192))
	call(p9test.Attach(1, 1))
	m := p9test.Msg(p9test.Tgetattr, 2, uint32(1), uint64(0x3fff))
	for b.Loop() {
		call(m)
	}
}
