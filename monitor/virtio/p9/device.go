package p9

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio"
)

// FeatureMountTag is VIRTIO_9P_MOUNT_TAG (Linux
// include/uapi/linux/virtio_9p.h): the configuration space holds the
// mount tag.
const FeatureMountTag = 1 << 0

// Configuration space (struct virtio_9p_config): le16 tag_len, then
// tag_len bytes of tag (no NUL).
const (
	ConfigTagLen = 0
	ConfigTag    = 2
	// MaxTagLen is the longest mount tag (QEMU's limit, MAX_TAG_LEN-1).
	MaxTagLen = 31
)

// Queue and request limits.
const (
	// QueueSize is QueueNumMax of the request queue (QEMU's MAX_REQ).
	QueueSize = 128
	// Slots is how many requests can wait for the server at once,
	// counting those of a previous driver that the server has not
	// answered yet. The tag the server sees is the slot number.
	Slots = 2 * QueueSize
	// DefaultMaxMessage caps msize (Config.MaxMessage).
	DefaultMaxMessage = 256 << 10
	// MinMessage is the smallest msize cap accepted: room for a path
	// component and a directory entry.
	MinMessage = 8 << 10
	// DefaultPoll: see Config.Poll.
	DefaultPoll = 50 * time.Microsecond

	// flushNone is the oldtag given to the server for a Tflush whose
	// request is not in flight: no slot has it, so the server answers
	// at once.
	flushNone = NoTag - 1
)

// Backend carries 9P messages between the device and the server.
type Backend interface {
	// WriteMessage sends one T-message.
	WriteMessage(msg []byte) error
	// ReadMessage blocks until an R-message arrives and copies it into
	// buf (truncated if longer). After Close it returns an error.
	ReadMessage(buf []byte) (int, error)
	// Close releases the backend and unblocks ReadMessage.
	Close() error
}

// Config configures a 9P device.
type Config struct {
	// Tag is the mount tag the guest mounts by (1 to MaxTagLen bytes).
	Tag string
	// Backend reaches the 9P server. Required; Close closes it.
	Backend Backend
	// MaxMessage caps the msize the driver may negotiate
	// (DefaultMaxMessage if 0): the device rewrites a larger Tversion
	// msize to it. It must fit the backend's messages.
	MaxMessage int
	// Poll is how long the device keeps polling after its last work
	// before it sleeps (DefaultPoll if 0, none if negative).
	Poll time.Duration
	// OnError receives diagnostics about driver mistakes and backend
	// failures (optional; shown with --debug).
	OnError func(error)
}

// Errors the device reports through OnError.
var (
	ErrRequest = errors.New("virtio-9p: bad request")
	ErrServer  = errors.New("virtio-9p: server")
)

// Device is a virtio 9P transport device (device ID 9, as Linux's
// net/9p/trans_virtio.c and QEMU's virtio-9p drive it): a
// virtio.Device to put on a virtio.Bus.
type Device struct {
	cfg    Config
	config []byte
	maxMsg uint32
	poll   time.Duration
	msize  atomic.Uint32 // negotiated (from the last Rversion), capped by maxMsg

	// mu guards the slots, the generation and the replies channel's
	// producers; the run goroutine is the only consumer.
	mu      sync.Mutex
	slots   [Slots]slot
	chains  [Slots]virtio.Chain // slot i's chain, owned by the run goroutine
	free    []uint16
	gen     uint64 // generation of the active driver; 0: none
	lastGen uint64
	dead    error // the backend failed: every request gets EIO
	replies chan reply

	lifeMu  sync.Mutex // Activate, Reset, Close
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool
	recvEnd chan struct{}

	bufs    sync.Pool // *[]byte of maxMsg+1 for replies
	scratch []byte    // one request (run goroutine)
}

// slot states.
const (
	slotFree    = iota
	slotPopped  // the run goroutine holds the chain, not sent yet
	slotSent    // waiting for the server's reply
	slotReplied // reply queued in d.replies
)

type slot struct {
	state    uint8
	gen      uint64 // driver generation that sent it
	guestTag uint16
}

// reply is an R-message for slot, or a local error if buf is nil.
type reply struct {
	slot  uint16
	buf   *[]byte
	n     int
	errno uint32
}

// New returns a 9P device for cfg and starts reading replies from its
// backend.
func New(cfg Config) (*Device, error) {
	if cfg.Backend == nil {
		return nil, errors.New("virtio-9p: no backend")
	}
	if len(cfg.Tag) == 0 || len(cfg.Tag) > MaxTagLen {
		return nil, fmt.Errorf("virtio-9p: mount tag %q must be 1 to %d bytes", cfg.Tag, MaxTagLen)
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxMessage < MinMessage || cfg.MaxMessage > 4<<20 {
		return nil, fmt.Errorf("virtio-9p: maximum message size %d out of range [%d, %d]", cfg.MaxMessage, MinMessage, 4<<20)
	}
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	d := &Device{cfg: cfg, maxMsg: uint32(cfg.MaxMessage), poll: cfg.Poll}
	if d.poll == 0 {
		d.poll = DefaultPoll
	}
	d.config = make([]byte, ConfigTag+len(cfg.Tag))
	d.config[ConfigTagLen] = byte(len(cfg.Tag))
	copy(d.config[ConfigTag:], cfg.Tag)
	d.free = make([]uint16, 0, Slots)
	for i := Slots - 1; i >= 0; i-- {
		d.free = append(d.free, uint16(i))
	}
	d.replies = make(chan reply, Slots) // at most one per slot: never full
	d.msize.Store(d.maxMsg)
	d.bufs.New = func() any {
		b := make([]byte, d.maxMsg+1) // +1: a longer reply shows as truncated
		return &b
	}
	d.recvEnd = make(chan struct{})
	go d.receive()
	return d, nil
}

// Tag is the mount tag.
func (d *Device) Tag() string { return d.cfg.Tag }

// DeviceID implements virtio.Device.
func (d *Device) DeviceID() uint32 { return virtio.DeviceID9P }

// Features implements virtio.Device.
func (d *Device) Features() uint64 { return FeatureMountTag }

// QueueMaxSizes implements virtio.Device: one request queue.
func (d *Device) QueueMaxSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(d.config)) {
		copy(data, d.config[off:])
	}
}

// WriteConfig implements virtio.Device: the configuration is read-only.
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Device: it starts the request goroutine.
func (d *Device) Activate(a virtio.Activation) error {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	if d.closed {
		return errors.New("virtio-9p: device closed")
	}
	if d.stop != nil {
		return errors.New("virtio-9p: already active")
	}
	if len(a.Queues) != 1 {
		return fmt.Errorf("virtio-9p: %d queues", len(a.Queues))
	}
	d.mu.Lock()
	d.lastGen++
	d.gen = d.lastGen
	d.mu.Unlock()
	d.msize.Store(d.maxMsg) // until the new driver's Tversion
	d.stop = make(chan struct{})
	if q := a.Queues[0]; q.Ready() {
		d.wg.Add(1)
		go d.run(q, a.Interrupt, d.stop)
	}
	return nil
}

// Reset implements virtio.Device: it stops the request goroutine. The
// server keeps working on the requests it has; their replies are
// dropped.
func (d *Device) Reset() {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	d.resetLocked()
}

func (d *Device) resetLocked() {
	if d.stop != nil {
		close(d.stop)
		d.wg.Wait()
		d.stop = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen = 0
	for {
		select {
		case r := <-d.replies:
			d.putBuf(r.buf)
			d.freeLocked(r.slot)
			continue
		default:
		}
		break
	}
	for i := range d.slots {
		switch s := &d.slots[i]; s.state {
		case slotPopped, slotReplied: // cannot happen: the run goroutine finished them
			d.freeLocked(uint16(i))
		case slotSent:
			// The server answers later; receive drops the reply.
		}
		clearChain(&d.chains[i])
	}
}

// Close stops the device and closes its backend.
func (d *Device) Close() error {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.resetLocked()
	err := d.cfg.Backend.Close()
	<-d.recvEnd
	return err
}

func clearChain(c *virtio.Chain) {
	clear(c.Readable)
	clear(c.Writable)
	*c = virtio.Chain{Readable: c.Readable[:0], Writable: c.Writable[:0]}
}

func (d *Device) getBuf() *[]byte { return d.bufs.Get().(*[]byte) }

func (d *Device) putBuf(b *[]byte) {
	if b != nil {
		d.bufs.Put(b)
	}
}

// freeLocked returns slot i to the free list.
func (d *Device) freeLocked(i uint16) {
	d.slots[i] = slot{}
	d.free = append(d.free, i)
}

// receive reads the server's replies and hands those of the active
// driver to the run goroutine. It runs from New to Close.
func (d *Device) receive() {
	defer close(d.recvEnd)
	for {
		b := d.getBuf()
		n, err := d.cfg.Backend.ReadMessage(*b)
		if err != nil {
			d.putBuf(b)
			if !errors.Is(err, os.ErrClosed) {
				d.backendFailed(err)
			}
			return
		}
		d.deliver(b, n)
	}
}

// deliver routes one reply to its slot.
func (d *Device) deliver(b *[]byte, n int) {
	m := Message((*b)[:n])
	if n < HeaderSize {
		d.putBuf(b)
		d.cfg.OnError(fmt.Errorf("%w sent a %d-byte message", ErrServer, n))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := m.Tag()
	if i >= Slots || d.slots[i].state != slotSent {
		d.putBuf(b)
		d.cfg.OnError(fmt.Errorf("%w replied with tag %d, which is not waiting", ErrServer, i))
		return
	}
	s := &d.slots[i]
	if s.gen != d.gen {
		// For a driver that has been reset since.
		d.putBuf(b)
		d.freeLocked(i)
		return
	}
	r := reply{slot: i, buf: b, n: n}
	if m.Size() != uint32(n) {
		d.putBuf(b)
		d.cfg.OnError(fmt.Errorf("%w: %d-byte reply says it has %d bytes", ErrServer, n, m.Size()))
		r = reply{slot: i, errno: uint32(unix.EIO)}
	} else if m.Type() == Rversion && m.Has(OffMsize, 4) && m.U32(OffMsize) != 0 {
		// (0 comes with version "unknown": nothing was negotiated.)
		d.msize.Store(min(m.U32(OffMsize), d.maxMsg))
	}
	s.state = slotReplied
	d.replies <- r // never blocks: one entry per slot at most
}

// backendFailed answers every request of the active driver that waits for
// the server with EIO, and makes later requests fail at once.
func (d *Device) backendFailed(err error) {
	d.cfg.OnError(fmt.Errorf("%w: %v: the volume no longer responds", ErrServer, err))
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = err
	for i := range d.slots {
		s := &d.slots[i]
		if s.state != slotSent {
			continue
		}
		if s.gen != d.gen {
			d.freeLocked(uint16(i))
			continue
		}
		s.state = slotReplied
		d.replies <- reply{slot: uint16(i), errno: uint32(unix.EIO)}
	}
}

// run serves the request queue: it forwards requests to the server and
// completes their chains with the replies.
func (d *Device) run(q *virtio.Queue, irq func(), stop <-chan struct{}) {
	defer d.wg.Done()
	defer d.abandon()
	var pending []reply
	for {
		n := d.work(q, pending)
		pending = pending[:0]
		q.Flush()
		if n.used > 0 && q.NeedNotify() {
			irq()
		}
		if n.used+n.sent > 0 {
			continue
		}
		r, ok := d.wait(q, stop)
		if !ok {
			return
		}
		if r != nil {
			pending = append(pending, *r)
		}
	}
}

type progress struct{ used, sent int }

// work completes the chains whose replies arrived and forwards the
// available requests (as many as there are free slots).
func (d *Device) work(q *virtio.Queue, pending []reply) progress {
	var p progress
	for _, r := range pending {
		d.complete(q, r)
		p.used++
	}
	for {
		select {
		case r := <-d.replies:
			d.complete(q, r)
			p.used++
			continue
		default:
		}
		break
	}
	for p.sent < QueueSize {
		i, ok := d.take()
		if !ok {
			break
		}
		if !q.PopInto(&d.chains[i]) {
			d.mu.Lock()
			d.freeLocked(i)
			d.mu.Unlock()
			break
		}
		if d.request(q, i) {
			p.used++
		} else {
			p.sent++
		}
	}
	return p
}

// take reserves a free slot.
func (d *Device) take() (uint16, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.free) == 0 {
		return 0, false
	}
	i := d.free[len(d.free)-1]
	d.free = d.free[:len(d.free)-1]
	d.slots[i] = slot{state: slotPopped, gen: d.gen}
	return i, true
}

// idle reports whether no request of the active driver waits for the
// server.
func (d *Device) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.slots {
		if s := &d.slots[i]; s.state == slotSent && s.gen == d.gen {
			return false
		}
	}
	return true
}

func (d *Device) hasFree() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.free) > 0
}

// wait sleeps until there is work: a reply (returned), or a request the
// device has a slot for. When the server has no request of this driver,
// it first polls the queue for d.poll (the driver's next request comes
// without a notification, which costs it a VM exit); while the server
// works it does not spin, which would take a CPU from the server. Then
// it asks the driver to notify the queue. It returns false when stop is
// closed.
func (d *Device) wait(q *virtio.Queue, stop <-chan struct{}) (*reply, bool) {
	ready := func() bool { return len(d.replies) > 0 || (q.Pending() && d.hasFree()) }
	if d.poll > 0 && d.idle() {
		deadline := time.Now().Add(d.poll)
		for time.Now().Before(deadline) {
			if ready() {
				return nil, true
			}
			runtime.Gosched()
			select {
			case <-stop:
				return nil, false
			default:
			}
		}
	}
	for {
		kick := q.Kicked()
		if d.hasFree() {
			if q.EnableNotify() {
				q.DisableNotify()
				return nil, true
			}
		} else {
			kick = nil // no slot: only a reply can help
		}
		select {
		case <-stop:
			return nil, false
		case r := <-d.replies:
			q.DisableNotify()
			return &r, true
		case <-kick:
			q.DisableNotify()
			if ready() {
				return nil, true
			}
		}
	}
}

// abandon runs when the driver goes away: requests the run goroutine
// popped or completed but did not push are given back to the free list.
// (Chains in flight stay owned by their slots until the server answers.)
func (d *Device) abandon() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.slots {
		if d.slots[i].state == slotPopped {
			d.freeLocked(uint16(i))
		}
	}
}

// request validates the chain of slot i and forwards its T-message to the
// server. It reports whether it answered the chain itself (an error).
func (d *Device) request(q *virtio.Queue, i uint16) (answered bool) {
	c := &d.chains[i]
	fail := func(tag uint16, errno unix.Errno, format string, args ...any) bool {
		d.cfg.OnError(fmt.Errorf("%w: %s", ErrRequest, fmt.Sprintf(format, args...)))
		d.answer(q, i, tag, uint32(errno))
		return true
	}
	if c.WritableLen() < RlerrorSize {
		d.cfg.OnError(fmt.Errorf("%w: %d writable bytes, not enough for a reply", ErrRequest, c.WritableLen()))
		q.Fill(c, 0)
		d.release(i)
		return true
	}
	var hdr [OffCount + 4]byte
	k := c.Gather(hdr[:], 0)
	if k < HeaderSize {
		return fail(NoTag, unix.EINVAL, "%d readable bytes, shorter than a 9P header", k)
	}
	m := Message(hdr[:k])
	size, typ, tag := m.Size(), m.Type(), m.Tag()
	msize := d.msize.Load()
	switch {
	case size < HeaderSize || int64(size) > int64(c.ReadableLen()):
		return fail(tag, unix.EINVAL, "size field %d with %d readable bytes", size, c.ReadableLen())
	case size > msize:
		return fail(tag, unix.EMSGSIZE, "%d-byte message, msize is %d", size, msize)
	case tag == NoTag && typ != Tversion:
		return fail(tag, unix.EINVAL, "type %d with tag NOTAG (only Tversion may use it)", typ)
	}
	m = m[:min(k, int(size))]
	switch typ {
	case Tversion:
		if m.Has(OffMsize, 4) && m.U32(OffMsize) > d.maxMsg {
			m.PutU32(OffMsize, d.maxMsg)
		}
	case Tflush:
		if m.Has(OffOldTag, 2) {
			m.PutU16(OffOldTag, d.inFlight(m.U16(OffOldTag)))
		}
	case Tread, Treaddir:
		// The reply must fit the chain (and msize): clamp count.
		if m.Has(OffCount, 4) {
			limit := max(min(c.WritableLen(), int(msize))-IOHeaderSize, 0)
			if int64(m.U32(OffCount)) > int64(limit) {
				m.PutU32(OffCount, uint32(limit))
			}
		}
	}
	m.SetTag(i)
	if cap(d.scratch) < int(d.maxMsg) {
		d.scratch = make([]byte, d.maxMsg)
	}
	msg := d.scratch[:size]
	copy(msg, m)
	c.Gather(msg[len(m):], len(m))

	// The server's death and the slot's state change under one lock: a
	// request sent after backendFailed answered the others would never
	// be answered.
	d.mu.Lock()
	if d.dead != nil {
		d.mu.Unlock()
		return fail(tag, unix.EIO, "the server is gone")
	}
	s := &d.slots[i]
	s.state, s.guestTag = slotSent, tag
	d.mu.Unlock()
	if err := d.cfg.Backend.WriteMessage(msg); err != nil {
		d.cfg.OnError(fmt.Errorf("%w: sending a request: %v", ErrServer, err))
		d.mu.Lock()
		mine := s.state == slotSent // not answered by backendFailed
		if mine {
			s.state = slotPopped
		}
		d.mu.Unlock()
		if mine {
			d.answer(q, i, tag, uint32(unix.EIO))
			return true
		}
	}
	return false
}

// inFlight is the slot of the active driver's request with guest tag
// tag, or flushNone.
func (d *Device) inFlight(tag uint16) uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.slots {
		if s := &d.slots[i]; s.state == slotSent && s.gen == d.gen && s.guestTag == tag {
			return uint16(i)
		}
	}
	return flushNone
}

// answer completes slot i's chain with an Rlerror.
func (d *Device) answer(q *virtio.Queue, i, tag uint16, errno uint32) {
	c := &d.chains[i]
	var b [RlerrorSize]byte
	msg := AppendRlerror(b[:0], tag, errno)
	n := c.Scatter(msg, 0)
	q.Fill(c, n)
	d.release(i)
}

// complete copies a reply into its chain, with the driver's tag back.
func (d *Device) complete(q *virtio.Queue, r reply) {
	d.mu.Lock()
	tag := d.slots[r.slot].guestTag
	d.mu.Unlock()
	if r.buf == nil {
		d.answer(q, r.slot, tag, r.errno)
		return
	}
	defer d.putBuf(r.buf)
	c := &d.chains[r.slot]
	m := Message((*r.buf)[:r.n])
	if r.n > c.WritableLen() {
		d.cfg.OnError(fmt.Errorf("%w: %d-byte reply (type %d) does not fit the %d writable bytes", ErrRequest, r.n, m.Type(), c.WritableLen()))
		d.answer(q, r.slot, tag, uint32(unix.EMSGSIZE))
		return
	}
	m.SetTag(tag)
	c.Scatter(m, 0)
	q.Fill(c, r.n)
	d.release(r.slot)
}

// release frees slot i after its chain was filled.
func (d *Device) release(i uint16) {
	clearChain(&d.chains[i])
	d.mu.Lock()
	defer d.mu.Unlock()
	d.freeLocked(i)
}

var _ io.Closer = (*Device)(nil)
