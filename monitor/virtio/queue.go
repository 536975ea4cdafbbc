package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Queue is the device side of one split virtqueue (virtio 1.2, section 2.7).
//
// The driver configures it through the transport registers; once the device
// is activated, exactly one goroutine of the device (the queue's owner) may
// call Pop, Push and the notification methods. Everything read from guest
// memory is validated: ring indexes are taken modulo the queue size, a
// chain is at most the queue size long (a descriptor loop ends there),
// every buffer must lie inside guest memory, and a driver that breaks the
// rules marks the queue broken (Err): it then yields nothing until the
// driver resets the device, and the transport reports
// StatusDeviceNeedsReset. Nothing the guest writes makes these methods
// panic or loop without bound.
type Queue struct {
	index   int
	maxSize uint16

	// Configuration written by the driver through the transport.
	size                          uint16
	descAddr, availAddr, usedAddr uint64
	ready                         bool

	// Runtime state, set up by the transport when the queue is made
	// ready and owned by the device goroutine after activation.
	mem                GuestMemory
	desc, avail, used  []byte // views of the three ring areas
	eventIdx, indirect bool
	lastAvail          uint16 // next available ring entry to consume
	seenAvail          uint16 // available index PopInto last read
	usedIdx            uint16 // used index including Fill-ed entries
	published          uint16 // used index the driver can see
	signalled          uint16 // used index at the last NeedNotify
	broken             atomic.Pointer[error]
	fence              atomic.Uint32

	kick   chan struct{}
	onKick atomic.Pointer[func()]
	onFail func(q *Queue, err error)
}

func newQueue(index int, maxSize uint16, onFail func(*Queue, error)) *Queue {
	return &Queue{index: index, maxSize: maxSize, kick: make(chan struct{}, 1), onFail: onFail}
}

// Index is the queue's number (its position in Device.QueueMaxSizes).
func (q *Queue) Index() int { return q.index }

// Size is the number of entries the driver chose (a power of 2).
func (q *Queue) Size() uint16 { return q.size }

// Ready reports whether the driver enabled the queue (QueueReady = 1).
func (q *Queue) Ready() bool { return q.ready }

// EventIdx reports whether VIRTIO_F_EVENT_IDX governs notifications.
func (q *Queue) EventIdx() bool { return q.eventIdx }

// Err is the error that broke the queue, or nil.
func (q *Queue) Err() error {
	if p := q.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Kicked receives a value when the driver notifies the queue (writes its
// index to QueueNotify). A stale value is possible: re-check Pending.
func (q *Queue) Kicked() <-chan struct{} { return q.kick }

// OnKick makes every driver notification also call f (nil: none), from
// the goroutine handling the MMIO exit: a device that sleeps outside Go's
// scheduler (in ppoll) rings its own doorbell there.
func (q *Queue) OnKick(f func()) {
	if f == nil {
		q.onKick.Store(nil)
		return
	}
	q.onKick.Store(&f)
}

// notify records a driver notification (QueueNotify).
func (q *Queue) notify() {
	if f := q.onKick.Load(); f != nil {
		(*f)()
	}
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// reset forgets the driver's configuration (device reset).
func (q *Queue) reset() {
	*q = Queue{index: q.index, maxSize: q.maxSize, kick: q.kick, onFail: q.onFail}
	// (onKick is dropped with the rest: the device sets it again when the
	// driver activates it.)
	select {
	case <-q.kick:
	default:
	}
}

// setup validates the driver's configuration and maps the ring areas.
func (q *Queue) setup(mem GuestMemory) error {
	n := q.size
	switch {
	case n == 0 || n&(n-1) != 0:
		return fmt.Errorf("queue %d: size %d is not a power of 2", q.index, n)
	case n > q.maxSize:
		return fmt.Errorf("queue %d: size %d is larger than QueueNumMax %d", q.index, n, q.maxSize)
	case q.descAddr%DescAlign != 0 || q.availAddr%AvailAlign != 0 || q.usedAddr%UsedAlign != 0:
		return fmt.Errorf("queue %d: misaligned rings (desc %#x, driver %#x, device %#x)", q.index, q.descAddr, q.availAddr, q.usedAddr)
	}
	var err error
	if q.desc, err = mem.Slice(q.descAddr, DescTableSize(n)); err != nil {
		return fmt.Errorf("queue %d: descriptor table: %w", q.index, err)
	}
	if q.avail, err = mem.Slice(q.availAddr, AvailRingSize(n)); err != nil {
		return fmt.Errorf("queue %d: driver area: %w", q.index, err)
	}
	if q.used, err = mem.Slice(q.usedAddr, UsedRingSize(n)); err != nil {
		return fmt.Errorf("queue %d: device area: %w", q.index, err)
	}
	q.mem = mem
	return nil
}

// activate applies the negotiated features before the device starts.
func (q *Queue) activate(features uint64) {
	q.eventIdx = features&FeatureEventIdx != 0
	q.indirect = features&FeatureIndirectDesc != 0
	q.lastAvail, q.usedIdx, q.published, q.signalled = 0, 0, 0, 0
}

// mb is a full memory barrier (LOCK XADD): it orders the device's ring
// accesses against the driver's on the other CPU, and keeps the compiler
// from moving loads and stores across it.
func (q *Queue) mb() { q.fence.Add(1) }

func le16(b []byte) uint16        { return binary.LittleEndian.Uint16(b) }
func put16(b []byte, v uint16)    { binary.LittleEndian.PutUint16(b, v) }
func put32(b []byte, v uint32)    { binary.LittleEndian.PutUint32(b, v) }
func (q *Queue) usable() bool     { return q.ready && q.mem != nil && q.broken.Load() == nil }
func (q *Queue) availIdx() uint16 { return le16(q.avail[2:4]) }

// fail marks the queue broken.
func (q *Queue) fail(err error) {
	if q.broken.CompareAndSwap(nil, &err) && q.onFail != nil {
		q.onFail(q, err)
	}
}

// Pending reports whether the driver has made buffers available that Pop
// has not taken yet.
func (q *Queue) Pending() bool {
	if !q.usable() {
		return false
	}
	idx := q.availIdx()
	q.mb()
	return idx != q.lastAvail
}

// Chain is one descriptor chain the driver made available: its
// device-readable buffers (data for the device) followed by its
// device-writable buffers (room for the device's answer), as views of
// guest memory. The guest can change their contents at any time.
type Chain struct {
	Head     uint16   // index of the first descriptor: the used ring's id
	Readable [][]byte // device-readable buffers, in order
	Writable [][]byte // device-writable buffers, in order

	readLen, writeLen int
}

// ReadableLen is the total size of the readable buffers.
func (c *Chain) ReadableLen() int { return c.readLen }

// WritableLen is the total size of the writable buffers.
func (c *Chain) WritableLen() int { return c.writeLen }

// Gather copies the readable bytes from offset off on into dst and returns
// how many it copied.
func (c *Chain) Gather(dst []byte, off int) int {
	return copyBufs(c.Readable, off, dst, false)
}

// Scatter copies src into the writable buffers from offset off on and
// returns how many bytes it copied.
func (c *Chain) Scatter(src []byte, off int) int {
	return copyBufs(c.Writable, off, src, true)
}

// ReadableFrom appends to dst the readable buffers from offset off on (the
// first possibly shortened) and returns the result.
func (c *Chain) ReadableFrom(off int, dst [][]byte) [][]byte {
	for _, b := range c.Readable {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		dst = append(dst, b[off:])
		off = 0
	}
	return dst
}

func copyBufs(bufs [][]byte, off int, p []byte, toBufs bool) int {
	n := 0
	for _, b := range bufs {
		if len(p) == 0 {
			break
		}
		if off >= len(b) {
			off -= len(b)
			continue
		}
		var k int
		if toBufs {
			k = copy(b[off:], p)
		} else {
			k = copy(p, b[off:])
		}
		off = 0
		n += k
		p = p[k:]
	}
	return n
}

func (c *Chain) reset(head uint16) {
	clear(c.Readable)
	clear(c.Writable)
	c.Head, c.Readable, c.Writable, c.readLen, c.writeLen = head, c.Readable[:0], c.Writable[:0], 0, 0
}

// Errors that break a queue.
var (
	ErrAvailIndex = errors.New("virtio: the driver moved the available index by more than the queue size")
	ErrChain      = errors.New("virtio: bad descriptor chain")
)

// maxIndirect bounds an indirect descriptor table (entries).
const maxIndirect = MaxQueueSize

// Pop takes the next available descriptor chain. It returns false when
// there is none (or the queue is broken).
func (q *Queue) Pop() (*Chain, bool) {
	c := new(Chain)
	if !q.PopInto(c) {
		return nil, false
	}
	return c, true
}

// PopInto is Pop reusing c (and its slices) to avoid allocating.
func (q *Queue) PopInto(c *Chain) bool {
	if !q.usable() {
		return false
	}
	idx := q.availIdx()
	q.mb() // read the ring entries after the index
	q.seenAvail = idx
	pending := idx - q.lastAvail
	if pending == 0 {
		return false
	}
	if pending > q.size {
		q.fail(fmt.Errorf("%w: queue %d: from %d to %d (size %d)", ErrAvailIndex, q.index, q.lastAvail, idx, q.size))
		return false
	}
	slot := uint64(q.lastAvail & (q.size - 1))
	head := le16(q.avail[4+2*slot:])
	if err := q.walk(head, c); err != nil {
		q.fail(fmt.Errorf("%w: queue %d, head %d: %v", ErrChain, q.index, head, err))
		return false
	}
	q.lastAvail++
	return true
}

// Unpop gives back the last n chains Pop returned, which the device has
// not pushed: Pop will return them again.
func (q *Queue) Unpop(n int) {
	q.lastAvail -= uint16(n)
}

// walk follows the chain starting at head into c.
func (q *Queue) walk(head uint16, c *Chain) error {
	c.reset(head)
	table, tableLen := q.desc, uint32(q.size)
	limit := uint32(q.size) // descriptors allowed in the current table
	idx := uint32(head)
	indirect := false
	for count := uint32(0); ; count++ {
		if idx >= tableLen {
			return fmt.Errorf("descriptor index %d out of range (table of %d)", idx, tableLen)
		}
		if count >= limit {
			return fmt.Errorf("chain longer than %d descriptors (a loop?)", limit)
		}
		d := table[DescSize*idx : DescSize*idx+DescSize]
		addr := binary.LittleEndian.Uint64(d[0:8])
		length := binary.LittleEndian.Uint32(d[8:12])
		flags := le16(d[12:14])
		next := le16(d[14:16])
		if flags&DescFlagIndirect != 0 {
			switch {
			case !q.indirect:
				return errors.New("indirect descriptor but VIRTIO_F_INDIRECT_DESC was not negotiated")
			case indirect:
				return errors.New("indirect descriptor inside an indirect table")
			case flags&DescFlagNext != 0:
				return errors.New("indirect descriptor with VIRTQ_DESC_F_NEXT")
			case length == 0 || length%DescSize != 0 || length/DescSize > maxIndirect:
				return fmt.Errorf("indirect table of %d bytes", length)
			}
			t, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return err
			}
			table, tableLen, limit = t, length/DescSize, length/DescSize
			idx, count, indirect = 0, ^uint32(0), true // count becomes 0 on continue
			continue
		}
		if length > 0 {
			b, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return err
			}
			if flags&DescFlagWrite != 0 {
				c.Writable = append(c.Writable, b)
				c.writeLen += int(length)
			} else {
				if len(c.Writable) > 0 {
					return errors.New("device-readable descriptor after a device-writable one")
				}
				c.Readable = append(c.Readable, b)
				c.readLen += int(length)
			}
		}
		if flags&DescFlagNext == 0 {
			return nil
		}
		idx = uint32(next)
	}
}

// Fill puts c in the used ring with written bytes (clamped to its writable
// size) without showing it to the driver yet: Flush publishes every filled
// chain at once (all the buffers of one mergeable packet, for example).
func (q *Queue) Fill(c *Chain, written int) {
	if !q.usable() {
		return
	}
	if written < 0 {
		written = 0
	}
	if written > c.writeLen {
		written = c.writeLen
	}
	slot := uint64(q.usedIdx & (q.size - 1))
	e := q.used[4+UsedElemSize*slot:]
	put32(e[0:4], uint32(c.Head))
	put32(e[4:8], uint32(written))
	q.usedIdx++
}

// Flush makes the filled chains visible to the driver (updates the used
// index).
func (q *Queue) Flush() {
	if !q.usable() || q.usedIdx == q.published {
		return
	}
	q.mb() // the entries before the index
	put16(q.used[2:4], q.usedIdx)
	q.published = q.usedIdx
}

// Push is Fill then Flush.
func (q *Queue) Push(c *Chain, written int) {
	q.Fill(c, written)
	q.Flush()
}

// NeedNotify reports whether the driver asked to be told about the used
// buffers published since the last call: with VIRTIO_F_EVENT_IDX, whether
// the used index passed used_event (section 2.7.10); without, whether
// anything was published and VIRTQ_AVAIL_F_NO_INTERRUPT is clear.
func (q *Queue) NeedNotify() bool {
	if !q.usable() {
		return false
	}
	q.mb() // the used index store before the driver's fields are read
	newIdx, old := q.published, q.signalled
	q.signalled = newIdx
	if q.eventIdx {
		ev := le16(q.avail[4+2*uint64(q.size):])
		return newIdx-ev-1 < newIdx-old
	}
	return newIdx != old && le16(q.avail[0:2])&AvailFlagNoInterrupt == 0
}

// EnableNotify asks the driver to notify the queue when it makes buffers
// available (writes avail_event with VIRTIO_F_EVENT_IDX, clears
// VIRTQ_USED_F_NO_NOTIFY otherwise). It reports whether buffers are
// already pending, in which case the device should process them instead
// of sleeping.
func (q *Queue) EnableNotify() bool {
	if !q.usable() {
		return false
	}
	q.enableNotify(q.lastAvail)
	return q.availIdx() != q.lastAvail
}

// EnableNotifyMore is EnableNotify for more buffers than the last Pop saw
// (see WaitMore).
func (q *Queue) EnableNotifyMore() bool {
	if !q.usable() {
		return false
	}
	q.enableNotify(q.seenAvail)
	return q.availIdx() != q.seenAvail
}

// enableNotify asks for a notification when the driver publishes
// available entry mark, then orders that store before the caller's
// re-reading of the available index.
func (q *Queue) enableNotify(mark uint16) {
	if q.eventIdx {
		put16(q.used[4+UsedElemSize*uint64(q.size):], mark)
	} else {
		put16(q.used[0:2], 0)
	}
	q.mb()
}

// DisableNotify tells the driver that the device is polling and needs no
// notifications (VIRTQ_USED_F_NO_NOTIFY; with VIRTIO_F_EVENT_IDX the
// driver notifies only once after EnableNotify anyway).
func (q *Queue) DisableNotify() {
	if !q.usable() || q.eventIdx {
		return
	}
	put16(q.used[0:2], UsedFlagNoNotify)
}

// Wait blocks until buffers are available (true) or stop is closed
// (false). It first polls for up to poll (the device stays awake while the
// driver is busy, and the driver does not need to notify it), then enables
// notifications and sleeps until the driver kicks the queue.
func (q *Queue) Wait(stop <-chan struct{}, poll time.Duration) bool {
	return q.wait(stop, poll, false)
}

// WaitMore is Wait for more buffers than the last Pop saw: a device that
// gave chains back with Unpop because they were too small for a packet
// (mergeable receive buffers) waits for the driver to add more.
func (q *Queue) WaitMore(stop <-chan struct{}, poll time.Duration) bool {
	return q.wait(stop, poll, true)
}

func (q *Queue) wait(stop <-chan struct{}, poll time.Duration, more bool) bool {
	mark := q.lastAvail
	if more {
		mark = q.seenAvail
	}
	ready := func() bool {
		if !q.usable() {
			return false
		}
		idx := q.availIdx()
		q.mb()
		return idx != mark
	}
	if ready() {
		return true
	}
	if poll > 0 {
		deadline := time.Now().Add(poll)
		for time.Now().Before(deadline) {
			runtime.Gosched()
			if ready() {
				return true
			}
			select {
			case <-stop:
				return false
			default:
			}
		}
	}
	for {
		if q.usable() {
			q.enableNotify(mark)
			if ready() {
				q.DisableNotify()
				return true
			}
		}
		select {
		case <-stop:
			return false
		case <-q.kick:
		}
		q.DisableNotify()
		if ready() {
			return true
		}
	}
}
