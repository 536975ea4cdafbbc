package vol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"brique.dev/brique/guest/virtio"
)

// 9P header fields the transport reads (intro(5) of the 9P manual: size[4]
// type[1] tag[2], little-endian; Rversion is type 101, msize[4] follows).
const (
	p9HeaderSize = 7
	p9Rversion   = 101
)

// transport carries 9P messages over a virtio-9p request queue, as Linux's
// net/9p/trans_virtio.c and QEMU's virtio-9p define it (the virtio
// specification reserves device ID 9 without describing it): each
// T-message is one chain, a device-readable buffer holding it, then a
// device-writable buffer for the R-message. It is the io.ReadWriteCloser
// that hugelgupf/p9's client talks through: Write takes the byte stream of
// T-messages (the client writes each in a few pieces) and sends every
// complete message; Read hands back the R-messages in the order the device
// completes them (not necessarily the order of the requests: the client
// matches them by tag).
//
// Each request holds a slot: two DMA buffers of msize bytes. Safe for
// concurrent use.
type transport struct {
	mu    sync.Mutex
	q     *virtio.Queue
	dma   *virtio.DMA
	size  int      // bytes per buffer: the msize the client may use
	slots []tslot  // request buffers
	free  []int    // free slots
	heads []int    // chain head -> slot
	wait  waitFunc // blocks until the used index is no longer idx

	// The message being written: its slot (-1: none yet), its size and
	// how much of it has arrived; hdr gathers the first bytes until the
	// size field is known.
	cur          int
	curSize, got int
	hdr          []byte

	// Replies not read yet, oldest first; off is how much of the first
	// was read.
	replies []reply
	off     int

	msize  uint32 // from the last Rversion
	closed bool
	err    error // the device misbehaved: every call fails
}

type tslot struct{ t, r int } // offsets of the T and R buffers in dma

// reply is an R-message: in its slot's R buffer, or copied out (data)
// when its slot was needed for a request.
type reply struct {
	slot int
	n    int
	data []byte
}

// waitFunc blocks until q's used index differs from idx (or a spurious
// wake-up: the caller checks again).
type waitFunc func(q *virtio.Queue, idx uint16)

// errTransport is wrapped by the errors of a broken transport.
var errTransport = errors.New("virtio-9p transport")

// newTransport uses queue q (set up, device ready) with slots requests of
// size bytes each direction, buffers taken from dma.
func newTransport(q *virtio.Queue, dma *virtio.DMA, slots, size int, wait waitFunc) (*transport, error) {
	if q.Size() < 2 {
		return nil, fmt.Errorf("%w: queue of %d descriptors, want 2 per request", errTransport, q.Size())
	}
	slots = min(slots, q.Size()/2)
	t := &transport{q: q, dma: dma, size: size, wait: wait, cur: -1, heads: make([]int, q.Size())}
	for i := 0; i < slots; i++ {
		to, err := dma.Alloc(size, 8)
		if err != nil {
			return nil, err
		}
		ro, err := dma.Alloc(size, 8)
		if err != nil {
			return nil, err
		}
		t.slots = append(t.slots, tslot{to, ro})
		t.free = append(t.free, i)
	}
	return t, nil
}

// Write implements io.Writer: it takes any part of the stream of
// T-messages and sends each message once it is complete.
func (t *transport) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return 0, t.err
	}
	if t.closed {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	for len(p) > 0 {
		if t.cur < 0 {
			k := min(4-len(t.hdr), len(p))
			t.hdr = append(t.hdr, p[:k]...)
			p = p[k:]
			if len(t.hdr) < 4 {
				break
			}
			size := int(binary.LittleEndian.Uint32(t.hdr))
			if size < p9HeaderSize || size > t.size {
				t.hdr = t.hdr[:0]
				return 0, fmt.Errorf("%w: a %d-byte message does not fit the %d-byte buffers", errTransport, size, t.size)
			}
			s, err := t.takeSlot()
			if err != nil {
				return 0, err
			}
			t.cur, t.curSize, t.got = s, size, copy(t.dma.Mem[t.slots[s].t:], t.hdr)
			t.hdr = t.hdr[:0]
		}
		sl := t.slots[t.cur]
		k := copy(t.dma.Mem[sl.t+t.got:sl.t+t.curSize], p)
		t.got += k
		p = p[k:]
		if t.got == t.curSize {
			if err := t.submit(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// takeSlot returns a free slot, collecting completed requests (and waiting
// for one) if there is none. t.mu is held (released while waiting).
func (t *transport) takeSlot() (int, error) {
	for len(t.free) == 0 {
		if t.spill() {
			continue
		}
		// Every slot waits for the device.
		t.reapOrWait()
		if t.err != nil {
			return 0, t.err
		}
	}
	s := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	return s, nil
}

// spill copies the unread replies out of their slots, freeing them; it
// reports whether it freed any.
func (t *transport) spill() bool {
	freed := false
	for i := range t.replies {
		r := &t.replies[i]
		if r.slot < 0 {
			continue
		}
		o := t.slots[r.slot].r
		r.data = append([]byte(nil), t.dma.Mem[o:o+r.n]...)
		t.free = append(t.free, r.slot)
		r.slot = -1
		freed = true
	}
	return freed
}

// submit makes the message in slot t.cur available to the device.
func (t *transport) submit() error {
	s := t.cur
	t.cur = -1
	sl := t.slots[s]
	before := t.q.AvailIdx()
	head, err := t.q.Add(virtio.Buffer{Off: sl.t, Len: t.curSize}, virtio.Buffer{Off: sl.r, Len: t.size, Write: true})
	if err != nil {
		// Cannot happen: two descriptors per slot, at most Size/2 slots.
		t.free = append(t.free, s)
		return fmt.Errorf("%w: %v", errTransport, err)
	}
	t.heads[head] = s
	t.q.Kick(before)
	return nil
}

// reap moves the completed requests to t.replies.
func (t *transport) reap() {
	for {
		head, n, ok := t.q.Used()
		if !ok {
			return
		}
		if int(head) >= len(t.heads) {
			t.err = fmt.Errorf("%w: the device completed descriptor %d of %d", errTransport, head, len(t.heads))
			return
		}
		s := t.heads[head]
		if int(n) < p9HeaderSize || int(n) > t.size {
			t.err = fmt.Errorf("%w: the device wrote a %d-byte reply", errTransport, n)
			return
		}
		o := t.slots[s].r
		m := t.dma.Mem[o : o+int(n)]
		if size := binary.LittleEndian.Uint32(m); size != n {
			t.err = fmt.Errorf("%w: a %d-byte reply says it has %d bytes", errTransport, n, size)
			return
		}
		if m[4] == p9Rversion && n >= p9HeaderSize+4 {
			t.msize = binary.LittleEndian.Uint32(m[p9HeaderSize:])
		}
		t.replies = append(t.replies, reply{slot: s, n: int(n)})
	}
}

// Read implements io.Reader: the bytes of the completed R-messages.
func (t *transport) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if len(t.replies) > 0 {
			r := &t.replies[0]
			src := r.data
			if r.slot >= 0 {
				o := t.slots[r.slot].r
				src = t.dma.Mem[o : o+r.n]
			}
			k := copy(p, src[t.off:])
			t.off += k
			if t.off == r.n {
				if r.slot >= 0 {
					t.free = append(t.free, r.slot)
				}
				t.replies[0] = reply{}
				t.replies = t.replies[1:]
				t.off = 0
			}
			return k, nil
		}
		if t.err != nil {
			return 0, t.err
		}
		if t.closed {
			return 0, io.EOF
		}
		t.reapOrWait()
	}
}

// reapOrWait collects the completed requests or, if there are none, waits
// for the device to complete one. t.mu is held (released while waiting).
func (t *transport) reapOrWait() {
	// The index is read before looking: a completion published after
	// reap looked moves it, and the wait returns at once (reading it
	// after reap would wait for that completion forever).
	idx := t.q.UsedIdx()
	if t.reap(); len(t.replies) > 0 || t.err != nil {
		return
	}
	t.mu.Unlock()
	t.wait(t.q, idx)
	t.mu.Lock()
}

// Close implements io.Closer: reads end (requests in flight stay with the
// device).
func (t *transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// negotiated is the msize of the last Rversion (0: none yet).
func (t *transport) negotiated() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.msize
}
