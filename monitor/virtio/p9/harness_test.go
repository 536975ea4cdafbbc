package p9_test

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	hp9 "github.com/hugelgupf/p9/p9"

	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
	"brique.dev/brique/monitor/virtio/p9/localfs"
	"brique.dev/brique/monitor/virtio/p9/server"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// testMsize is the msize the tests negotiate.
const testMsize = 64 << 10

// canaryText is in a file next to (outside) every test volume.
const canaryText = "outside the volume\n"

// rig is a virtio-9p device on a bus, driven through its registers and
// request queue by virtiotest's driver, with package server and localfs
// serving a temporary directory at the other end of a socket pair (what
// brique-9pd does, in-process).
type rig struct {
	t       testing.TB
	outside string // a directory holding the volume and a canary
	dir     string // the volume
	dev     *p9.Device
	bus     *virtio.Bus
	tr      *virtio.Transport
	mem     *virtiotest.Memory
	drv     *virtiotest.Driver
	q       *virtiotest.DriverQueue
	irq     chan struct{}
	served  chan error
	srvSock *p9.Socket

	outsideState map[string]string // seal

	slots   chan *reqSlot
	mu      sync.Mutex
	closed  bool         // no more requests: the queue is gone
	conns   []*chainConn // closed with the rig
	waiting map[uint16]*reqSlot
	stop    chan struct{} // the rig is closing
	cstop   chan struct{} // the collector must stop (close, restart)
	done    chan struct{} // the collector stopped
	errs    []error
}

// reqSlot is guest memory for one request and its reply.
type reqSlot struct {
	t, r  uint64 // guest addresses, testMsize bytes each
	reply chan []byte
}

type rigOptions struct {
	readOnly bool
	attacher func(hp9.Attacher) hp9.Attacher // wraps localfs
	noServer bool                            // the test serves the socket itself
	memory   int                             // guest RAM (default 64 MiB)
	poll     time.Duration                   // Config.Poll
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	outside := t.TempDir()
	dir := filepath.Join(outside, "vol")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "canary"), []byte(canaryText), 0o644); err != nil {
		t.Fatal(err)
	}
	// The guest may have removed permissions: give them back so that the
	// directory can be removed (this runs before TempDir's cleanup).
	t.Cleanup(func() {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	r := &rig{t: t, outside: outside, dir: dir, irq: make(chan struct{}, 1), served: make(chan error, 1),
		waiting: map[uint16]*reqSlot{}, stop: make(chan struct{}), done: make(chan struct{})}
	mine, theirs, err := p9.SocketPair(p9.DefaultMaxMessage)
	if err != nil {
		t.Fatal(err)
	}
	r.srvSock = theirs
	if o.noServer {
		close(r.served)
	} else {
		fs, err := localfs.Open(dir, o.readOnly)
		if err != nil {
			t.Fatal(err)
		}
		var a hp9.Attacher = fs
		if o.attacher != nil {
			a = o.attacher(fs)
		}
		go func() {
			defer fs.Close()
			r.served <- server.Serve(theirs, a, server.Options{Logf: t.Logf})
		}()
	}
	r.dev, err = p9.New(p9.Config{Tag: "vol0", Backend: mine, Poll: o.poll, OnError: func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if o.memory == 0 {
		o.memory = 64 << 20
	}
	r.mem = virtiotest.NewMemory(t, o.memory)
	r.bus = virtio.NewBus(r.mem.Memory, nil)
	r.tr, err = r.bus.Add(r.dev)
	if err != nil {
		t.Fatal(err)
	}
	// The bus's wakeup channel is the interrupt.
	go func() {
		for {
			select {
			case <-r.bus.Wake():
				select {
				case r.irq <- struct{}{}:
				default:
				}
			case <-r.stop:
				return
			}
		}
	}()
	r.seal()
	r.start()
	t.Cleanup(r.close)
	return r
}

// start initializes the driver and starts collecting used buffers.
func (r *rig) start() {
	r.drv = virtiotest.Init(r.t, r.tr, r.mem, p9.FeatureMountTag|virtio.TransportFeatures, p9.QueueSize)
	r.q = r.drv.Queues[0]
	r.slots = make(chan *reqSlot, 32)
	for range 32 {
		r.slots <- &reqSlot{t: r.mem.Alloc(testMsize, 8), r: r.mem.Alloc(testMsize, 8), reply: make(chan []byte, 1)}
	}
	r.done = make(chan struct{})
	r.cstop = make(chan struct{})
	go r.collect(r.cstop, r.done)
}

// restart resets the device the way a driver does (status 0) and
// initializes it again with a new queue. Requests of the old driver are
// never answered.
func (r *rig) restart() {
	close(r.cstop)
	<-r.done
	r.mu.Lock()
	r.waiting = map[uint16]*reqSlot{}
	r.mu.Unlock()
	r.drv.W(virtio.RegStatus, 0)
	r.start()
}

func (r *rig) close() {
	select {
	case <-r.stop:
		return
	default:
	}
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.mu.Unlock()
	// Clients (and their finalizers, which clunk) see the end.
	for _, c := range conns {
		c.Close()
	}
	close(r.stop)
	close(r.cstop)
	<-r.done
	r.bus.Close()
	r.srvSock.Close()
	select {
	case err := <-r.served:
		if err != nil {
			r.t.Errorf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Errorf("the server did not stop")
	}
	r.checkCanary()
}

// seal records everything outside the volume (under r.outside):
// checkCanary then checks that none of it changed. newRig seals the
// canary; a test that puts more outside seals again.
func (r *rig) seal() {
	r.t.Helper()
	r.outsideState = r.outsideTree()
}

// outsideTree describes every file under r.outside but the volume: type,
// permissions, size, content or link target.
func (r *rig) outsideTree() map[string]string {
	r.t.Helper()
	tree := map[string]string{}
	err := filepath.Walk(r.outside, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == r.dir {
			return filepath.SkipDir
		}
		d := fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10)
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			d += " " + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			d += " -> " + l
		}
		tree[p] = d
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return tree
}

// checkCanary fails the test if anything outside the volume changed.
func (r *rig) checkCanary() {
	r.t.Helper()
	now := r.outsideTree()
	for p, d := range r.outsideState {
		if now[p] != d {
			r.t.Errorf("outside the volume, %s changed: %q, was %q", p, now[p], d)
		}
	}
	for p := range now {
		if _, ok := r.outsideState[p]; !ok {
			r.t.Errorf("outside the volume, %s appeared", p)
		}
	}
}

// collect hands used buffers to their waiters.
func (r *rig) collect(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		for {
			// (Under r.mu: GetUsed frees the descriptors, which send
			// may reuse at once for another request.)
			r.mu.Lock()
			head, n, ok := r.q.GetUsed()
			s := r.waiting[head]
			if ok {
				delete(r.waiting, head)
			}
			r.mu.Unlock()
			if !ok {
				break
			}
			if s == nil {
				r.t.Errorf("used buffer %d (%d bytes) that nobody waits for; waiting %v; errs %v", head, n, keys(r.waiting), r.errorsSeen())
				continue
			}
			s.reply <- append([]byte(nil), r.mem.B(s.r, uint64(n))...)
		}
		r.q.SetUsedEvent(r.q.LastUsed())
		select {
		case <-stop:
			return
		case <-r.irq:
		case <-tick.C:
		}
	}
}

// send makes a request of msg with rlen writable bytes available and
// returns a channel for the reply.
func (r *rig) send(msg []byte, rlen int) (<-chan []byte, func()) {
	var s *reqSlot
	select {
	case s = <-r.slots:
	case <-r.stop:
		return make(chan []byte), func() {}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return make(chan []byte), func() { r.slots <- s }
	}
	copy(r.mem.B(s.t, uint64(len(msg))), msg)
	bufs := []virtiotest.Buf{}
	if len(msg) > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: s.t, Len: uint32(len(msg))})
	}
	bufs = append(bufs, virtiotest.Buf{Addr: s.r, Len: uint32(rlen), Write: true})
	head := r.q.Add(bufs...)
	r.waiting[head] = s
	r.q.Kick()
	return s.reply, func() { r.slots <- s }
}

// sendSplit is send with the message cut at the offsets in cuts (one
// descriptor per piece), the reply buffer cut in two, all in an indirect
// table if indirect.
func (r *rig) sendSplit(msg []byte, cuts []int, rlen int, indirect bool) (<-chan []byte, func()) {
	s := <-r.slots
	r.mu.Lock()
	defer r.mu.Unlock()
	copy(r.mem.B(s.t, uint64(len(msg))), msg)
	var bufs []virtiotest.Buf
	prev := 0
	for _, c := range append(cuts, len(msg)) {
		if c > prev {
			bufs = append(bufs, virtiotest.Buf{Addr: s.t + uint64(prev), Len: uint32(c - prev)})
		}
		prev = c
	}
	half := rlen / 2
	bufs = append(bufs, virtiotest.Buf{Addr: s.r, Len: uint32(half), Write: true},
		virtiotest.Buf{Addr: s.r + uint64(half), Len: uint32(rlen - half), Write: true})
	var head uint16
	if indirect {
		head = r.q.AddIndirect(bufs...)
	} else {
		head = r.q.Add(bufs...)
	}
	r.waiting[head] = s
	r.q.Kick()
	return s.reply, func() { r.slots <- s }
}

// wait waits (at most 10 s) for a reply.
func (r *rig) wait(c <-chan []byte, what string) []byte {
	r.t.Helper()
	select {
	case b := <-c:
		return b
	case <-time.After(10 * time.Second):
		r.t.Fatalf("no reply to %s within 10 s", what)
		return nil
	}
}

// roundTrip sends msg and waits (at most 10 s) for its reply.
func (r *rig) roundTrip(msg []byte, rlen int) []byte {
	r.t.Helper()
	c, release := r.send(msg, rlen)
	defer release()
	select {
	case b := <-c:
		return b
	case <-time.After(10 * time.Second):
		r.t.Fatalf("no reply to a %d-byte request (type %d) within 10 s", len(msg), p9test.Type(msg))
		return nil
	}
}

// client returns a hugelgupf/p9 client whose messages go through the
// virtqueue.
func (r *rig) client() *hp9.Client {
	r.t.Helper()
	c, err := hp9.NewClient(r.conn(), hp9.WithMessageSize(testMsize))
	if err != nil {
		r.t.Fatalf("9P client: %v", err)
	}
	return c
}

// attach attaches a client to the volume's root.
func (r *rig) attach() hp9.File {
	r.t.Helper()
	root, err := r.client().Attach("")
	if err != nil {
		r.t.Fatalf("attach: %v", err)
	}
	return root
}

// conn is the byte stream a client talks: each message it writes becomes
// a descriptor chain, each reply comes back in the order it is used.
func (r *rig) conn() io.ReadWriteCloser {
	pr, pw := io.Pipe()
	c := &chainConn{r: r, pr: pr, pw: pw}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return c
}

type chainConn struct {
	r   *rig
	mu  sync.Mutex
	buf []byte
	pr  *io.PipeReader
	pw  *io.PipeWriter
}

func (c *chainConn) Read(p []byte) (int, error) { return c.pr.Read(p) }

func (c *chainConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for len(c.buf) >= 4 {
		size := int(binary.LittleEndian.Uint32(c.buf))
		if size > len(c.buf) {
			break
		}
		msg := append([]byte(nil), c.buf[:size]...)
		c.buf = c.buf[size:]
		reply, release := c.r.send(msg, testMsize)
		go func() {
			defer release()
			select {
			case b := <-reply:
				c.pw.Write(b)
			case <-c.r.stop:
			}
		}()
	}
	return len(p), nil
}

func (c *chainConn) Close() error {
	c.pw.CloseWithError(errors.New("closed"))
	return nil
}

// errorsSeen returns the device's diagnostics so far.
func (r *rig) errorsSeen() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func keys(m map[uint16]*reqSlot) []uint16 {
	var k []uint16
	for h := range m {
		k = append(k, h)
	}
	return k
}
