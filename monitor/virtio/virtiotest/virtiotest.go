// Package virtiotest has test helpers for virtio devices: guest memory
// outside the Go heap (as the monitor's is, so the race detector ignores
// the device/driver sharing, like it cannot see a real guest), a stub
// device, and a minimal split-virtqueue driver that talks to a
// virtio.Transport through its registers.
package virtiotest

import (
	"encoding/binary"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio"
)

// Memory is fake guest RAM with a bump allocator.
type Memory struct {
	virtio.Memory
	mu   sync.Mutex
	next uint64
}

// NewMemory maps size bytes of anonymous memory (unmapped at the end of
// the test). Allocation starts at 0x1000.
func NewMemory(tb testing.TB, size int) *Memory {
	tb.Helper()
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Munmap(b) })
	return &Memory{Memory: virtio.Memory(b), next: 0x1000}
}

// Alloc returns the address of n zeroed bytes aligned to align.
func (m *Memory) Alloc(n, align uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := (m.next + align - 1) &^ (align - 1)
	if a+n > uint64(len(m.Memory)) {
		panic("virtiotest: out of fake guest memory")
	}
	m.next = a + n
	clear(m.Memory[a : a+n])
	return a
}

// B returns the n bytes at gpa (panics if out of range: test bug).
func (m *Memory) B(gpa, n uint64) []byte { return m.Memory[gpa : gpa+n] }

// Stub is a Device that records what the transport does.
type Stub struct {
	ID          uint32
	Feat        uint64
	Sizes       []uint16
	Config      []byte
	ActivateErr error

	mu      sync.Mutex
	Act     *virtio.Activation
	Resets  int
	Written []byte // last WriteConfig data
}

func (s *Stub) DeviceID() uint32        { return s.ID }
func (s *Stub) Features() uint64        { return s.Feat }
func (s *Stub) QueueMaxSizes() []uint16 { return s.Sizes }
func (s *Stub) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(s.Config)) {
		copy(data, s.Config[off:])
	}
}
func (s *Stub) WriteConfig(off uint64, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Written = append([]byte(nil), data...)
}
func (s *Stub) Activate(a virtio.Activation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ActivateErr != nil {
		return s.ActivateErr
	}
	s.Act = &a
	return nil
}
func (s *Stub) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Act = nil
	s.Resets++
}

// Activation returns the last activation (nil if none or reset).
func (s *Stub) Activation() *virtio.Activation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Act
}

// Driver is a minimal virtio-mmio driver for tests.
type Driver struct {
	T        *virtio.Transport
	Mem      *Memory
	Features uint64
	Queues   []*DriverQueue
}

// R reads a register.
func (d *Driver) R(reg uint64) uint32 { return uint32(d.T.Read(reg, 4)) }

// W writes a register.
func (d *Driver) W(reg uint64, v uint32) { d.T.Write(reg, 4, uint64(v)) }

// DeviceFeatures reads the 64 offered feature bits.
func (d *Driver) DeviceFeatures() uint64 {
	d.W(virtio.RegDeviceFeaturesSel, 0)
	lo := d.R(virtio.RegDeviceFeatures)
	d.W(virtio.RegDeviceFeaturesSel, 1)
	hi := d.R(virtio.RegDeviceFeatures)
	return uint64(hi)<<32 | uint64(lo)
}

// SetupQueue allocates the rings of queue i with size entries and
// programs them (without QueueReady).
func (d *Driver) SetupQueue(i int, size uint16) *DriverQueue {
	q := &DriverQueue{d: d, Index: i, Size: size}
	q.Desc = d.Mem.Alloc(virtio.DescTableSize(size), 4096)
	q.Avail = d.Mem.Alloc(virtio.AvailRingSize(size), 2)
	q.Used = d.Mem.Alloc(virtio.UsedRingSize(size), 4096)
	q.free = make([]uint16, 0, size)
	for k := int(size) - 1; k >= 0; k-- {
		q.free = append(q.free, uint16(k))
	}
	q.chains = map[uint16][]uint16{}
	d.W(virtio.RegQueueSel, uint32(i))
	d.W(virtio.RegQueueNum, uint32(size))
	d.W(virtio.RegQueueDescLow, uint32(q.Desc))
	d.W(virtio.RegQueueDescHigh, uint32(q.Desc>>32))
	d.W(virtio.RegQueueDriverLow, uint32(q.Avail))
	d.W(virtio.RegQueueDriverHigh, uint32(q.Avail>>32))
	d.W(virtio.RegQueueDeviceLow, uint32(q.Used))
	d.W(virtio.RegQueueDeviceHigh, uint32(q.Used>>32))
	return q
}

// Init runs the initialization sequence (section 3.1.1): reset,
// ACKNOWLEDGE, DRIVER, features (want & offered), FEATURES_OK, queues of
// the given sizes, DRIVER_OK. It fails the test if the device refuses.
func Init(tb testing.TB, t *virtio.Transport, mem *Memory, want uint64, sizes ...uint16) *Driver {
	tb.Helper()
	d := &Driver{T: t, Mem: mem}
	if d.R(virtio.RegMagicValue) != virtio.MagicValue || d.R(virtio.RegVersion) != 2 {
		tb.Fatalf("not a virtio-mmio v2 device")
	}
	d.W(virtio.RegStatus, 0)
	d.W(virtio.RegStatus, virtio.StatusAcknowledge)
	d.W(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Features = d.DeviceFeatures() & want
	d.W(virtio.RegDriverFeaturesSel, 0)
	d.W(virtio.RegDriverFeatures, uint32(d.Features))
	d.W(virtio.RegDriverFeaturesSel, 1)
	d.W(virtio.RegDriverFeatures, uint32(d.Features>>32))
	st := uint32(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	d.W(virtio.RegStatus, st)
	if d.R(virtio.RegStatus)&virtio.StatusFeaturesOK == 0 {
		tb.Fatalf("device refused features %#x", d.Features)
	}
	for i, n := range sizes {
		d.W(virtio.RegQueueSel, uint32(i))
		if max := d.R(virtio.RegQueueNumMax); uint32(n) > max {
			tb.Fatalf("queue %d: size %d > max %d", i, n, max)
		}
		q := d.SetupQueue(i, n)
		d.W(virtio.RegQueueReady, 1)
		if d.R(virtio.RegQueueReady) != 1 {
			tb.Fatalf("queue %d not ready", i)
		}
		d.Queues = append(d.Queues, q)
	}
	d.W(virtio.RegStatus, st|virtio.StatusDriverOK)
	if s := d.R(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
		tb.Fatalf("device needs reset after DRIVER_OK (status %#x)", s)
	}
	return d
}

// Buf is one buffer of a chain the driver adds.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool // device-writable
}

// DriverQueue is the driver side of one split virtqueue.
type DriverQueue struct {
	d                 *Driver
	Index             int
	Size              uint16
	Desc, Avail, Used uint64

	mu       sync.Mutex
	free     []uint16
	chains   map[uint16][]uint16
	availIdx uint16
	kickedAt uint16 // avail idx at the last Kick
	lastUsed uint16
}

func (q *DriverQueue) mem() *Memory { return q.d.Mem }

func (q *DriverQueue) putDesc(i uint16, addr uint64, n uint32, flags, next uint16) {
	b := q.mem().B(q.Desc+16*uint64(i), 16)
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// Add writes a chain of direct descriptors and makes it available; it
// returns the head index.
func (q *DriverQueue) Add(bufs ...Buf) uint16 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(bufs) == 0 || len(bufs) > len(q.free) {
		panic("virtiotest: no free descriptors")
	}
	idx := make([]uint16, len(bufs))
	for k := range bufs {
		idx[k] = q.free[len(q.free)-1]
		q.free = q.free[:len(q.free)-1]
	}
	for k, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= virtio.DescFlagWrite
		}
		if k+1 < len(bufs) {
			flags |= virtio.DescFlagNext
			next = idx[k+1]
		}
		q.putDesc(idx[k], b.Addr, b.Len, flags, next)
	}
	q.chains[idx[0]] = idx
	q.publish(idx[0])
	return idx[0]
}

// AddIndirect puts bufs in a new indirect table referenced by one
// descriptor and makes it available.
func (q *DriverQueue) AddIndirect(bufs ...Buf) uint16 {
	q.mu.Lock()
	defer q.mu.Unlock()
	table := q.mem().Alloc(16*uint64(len(bufs)), 16)
	for k, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= virtio.DescFlagWrite
		}
		if k+1 < len(bufs) {
			flags |= virtio.DescFlagNext
			next = uint16(k + 1)
		}
		e := q.mem().B(table+16*uint64(k), 16)
		binary.LittleEndian.PutUint64(e[0:], b.Addr)
		binary.LittleEndian.PutUint32(e[8:], b.Len)
		binary.LittleEndian.PutUint16(e[12:], flags)
		binary.LittleEndian.PutUint16(e[14:], next)
	}
	h := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	q.putDesc(h, table, uint32(16*len(bufs)), virtio.DescFlagIndirect, 0)
	q.chains[h] = []uint16{h}
	q.publish(h)
	return h
}

// AddRaw makes head available without writing any descriptor (for
// hand-built garbage).
func (q *DriverQueue) AddRaw(head uint16) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.publish(head)
}

func (q *DriverQueue) publish(head uint16) {
	ring := q.mem().B(q.Avail, virtio.AvailRingSize(q.Size))
	binary.LittleEndian.PutUint16(ring[4+2*uint64(q.availIdx%q.Size):], head)
	q.availIdx++
	binary.LittleEndian.PutUint16(ring[2:], q.availIdx)
}

// SetAvailIdx overwrites the available index (garbage tests).
func (q *DriverQueue) SetAvailIdx(v uint16) {
	binary.LittleEndian.PutUint16(q.mem().B(q.Avail+2, 2), v)
}

// NeedKick reports whether the device asked to be notified of the buffers
// added since the last Kick (avail_event with EVENT_IDX, the
// VIRTQ_USED_F_NO_NOTIFY flag otherwise).
func (q *DriverQueue) NeedKick() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.d.Features&virtio.FeatureEventIdx != 0 {
		ev := q.AvailEvent()
		return q.availIdx-ev-1 < q.availIdx-q.kickedAt
	}
	return q.UsedFlags()&virtio.UsedFlagNoNotify == 0
}

// Kick notifies the device (QueueNotify) unconditionally.
func (q *DriverQueue) Kick() {
	q.mu.Lock()
	q.kickedAt = q.availIdx
	q.mu.Unlock()
	q.d.W(virtio.RegQueueNotify, uint32(q.Index))
}

// KickIfNeeded kicks if NeedKick and reports whether it did.
func (q *DriverQueue) KickIfNeeded() bool {
	if q.NeedKick() {
		q.Kick()
		return true
	}
	q.mu.Lock()
	q.kickedAt = q.availIdx
	q.mu.Unlock()
	return false
}

// UsedIdx is the device's used index.
func (q *DriverQueue) UsedIdx() uint16 {
	return binary.LittleEndian.Uint16(q.mem().B(q.Used+2, 2))
}

// UsedFlags is the device's used ring flags.
func (q *DriverQueue) UsedFlags() uint16 {
	return binary.LittleEndian.Uint16(q.mem().B(q.Used, 2))
}

// AvailEvent is the device's avail_event.
func (q *DriverQueue) AvailEvent() uint16 {
	return binary.LittleEndian.Uint16(q.mem().B(q.Used+4+8*uint64(q.Size), 2))
}

// SetUsedEvent writes used_event (interrupt me when the used index passes
// v).
func (q *DriverQueue) SetUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(q.mem().B(q.Avail+4+2*uint64(q.Size), 2), v)
}

// SetNoInterrupt sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *DriverQueue) SetNoInterrupt(on bool) {
	var v uint16
	if on {
		v = virtio.AvailFlagNoInterrupt
	}
	binary.LittleEndian.PutUint16(q.mem().B(q.Avail, 2), v)
}

// GetUsed returns the next used element, freeing its descriptors.
func (q *DriverQueue) GetUsed() (id uint16, n uint32, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.UsedIdx() == q.lastUsed {
		return 0, 0, false
	}
	e := q.mem().B(q.Used+4+8*uint64(q.lastUsed%q.Size), 8)
	q.lastUsed++
	id32 := binary.LittleEndian.Uint32(e[0:])
	n = binary.LittleEndian.Uint32(e[4:])
	id = uint16(id32)
	if c, found := q.chains[id]; found {
		q.free = append(q.free, c...)
		delete(q.chains, id)
	}
	return id, n, true
}

// LastUsed is how many used elements GetUsed consumed.
func (q *DriverQueue) LastUsed() uint16 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lastUsed
}
