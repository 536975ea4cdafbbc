package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MMIO register offsets (virtio 1.2, 4.2.2 "MMIO Device Register Layout").
const (
	RegMagicValue        = 0x000
	RegVersion           = 0x004
	RegDeviceID          = 0x008
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegConfig            = 0x100

	MagicValue = 0x74726976 // "virt"
)

// Device status bits (2.1) and transport feature bits (6).
const (
	StatusAcknowledge = 1
	StatusDriver      = 2
	StatusDriverOK    = 4
	StatusFeaturesOK  = 8
	StatusFailed      = 128

	FeatureEventIdx = 1 << 29
	FeatureVersion1 = 1 << 32
)

// Descriptor flags (2.7.5).
const (
	descNext  = 1
	descWrite = 2
)

// Regs reads and writes a device's 32-bit registers.
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// DMA is a region of memory the device can reach: Mem[i] is at
// guest-physical address Phys+i. It must be zeroed and must not move
// (identity-mapped frames, or a test's fake guest memory).
type DMA struct {
	Mem  []byte
	Phys uint64
	next int
}

// Alloc returns the offset of n bytes aligned to align.
func (d *DMA) Alloc(n, align int) (int, error) {
	off := (d.next + align - 1) &^ (align - 1)
	if off+n > len(d.Mem) {
		return 0, fmt.Errorf("virtio: DMA region of %d bytes exhausted", len(d.Mem))
	}
	d.next = off + n
	return off, nil
}

// Device is one virtio-mmio device being driven.
type Device struct {
	Regs     Regs
	Features uint64 // negotiated
	DeviceID uint32
}

// ErrNoDevice means no virtio device answers at the window.
var ErrNoDevice = errors.New("virtio: no device")

// Init resets the device and negotiates features (3.1.1 steps 1-6): the
// device's features intersected with want, plus VIRTIO_F_VERSION_1.
func Init(regs Regs, want uint64) (*Device, error) {
	if regs.Read32(RegMagicValue) != MagicValue || regs.Read32(RegVersion) != 2 {
		return nil, ErrNoDevice
	}
	id := regs.Read32(RegDeviceID)
	if id == 0 {
		return nil, ErrNoDevice
	}
	regs.Write32(RegStatus, 0)
	regs.Write32(RegStatus, StatusAcknowledge)
	regs.Write32(RegStatus, StatusAcknowledge|StatusDriver)
	regs.Write32(RegDeviceFeaturesSel, 0)
	f := uint64(regs.Read32(RegDeviceFeatures))
	regs.Write32(RegDeviceFeaturesSel, 1)
	f |= uint64(regs.Read32(RegDeviceFeatures)) << 32
	if f&FeatureVersion1 == 0 {
		regs.Write32(RegStatus, StatusFailed)
		return nil, errors.New("virtio: legacy device (no VIRTIO_F_VERSION_1)")
	}
	f &= want | FeatureVersion1
	regs.Write32(RegDriverFeaturesSel, 0)
	regs.Write32(RegDriverFeatures, uint32(f))
	regs.Write32(RegDriverFeaturesSel, 1)
	regs.Write32(RegDriverFeatures, uint32(f>>32))
	regs.Write32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
	if regs.Read32(RegStatus)&StatusFeaturesOK == 0 {
		regs.Write32(RegStatus, StatusFailed)
		return nil, errors.New("virtio: device refused the features")
	}
	return &Device{Regs: regs, Features: f, DeviceID: id}, nil
}

// Ready finishes initialisation (DRIVER_OK) once the queues are set up.
func (d *Device) Ready() {
	d.Regs.Write32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
}

// Queue is a split virtqueue, driver side. It is not safe for concurrent
// use; a network driver owns its RX and TX queues from one goroutine each.
type Queue struct {
	dev   *Device
	index uint32
	size  uint16
	dma   *DMA
	desc  []byte // size*16
	avail []byte // 6 + size*2
	used  []byte // 6 + size*8

	free     []uint16 // free descriptor heads (each request uses one chain)
	availIdx uint16
	lastUsed uint16
	eventIdx bool
}

// Buffer is one part of a request: Off/Len within the DMA region, and
// whether the device writes it.
type Buffer struct {
	Off, Len int
	Write    bool
}

// SetupQueue sizes and registers queue index (4.2.3.2).
func (d *Device) SetupQueue(index uint32, size uint16, dma *DMA) (*Queue, error) {
	r := d.Regs
	r.Write32(RegQueueSel, index)
	max := r.Read32(RegQueueNumMax)
	if max == 0 {
		return nil, fmt.Errorf("virtio: queue %d does not exist", index)
	}
	if uint32(size) > max {
		size = uint16(max)
	}
	if size == 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("virtio: queue size %d is not a power of two", size)
	}
	q := &Queue{dev: d, index: index, size: size, dma: dma, eventIdx: d.Features&FeatureEventIdx != 0}
	do, err := dma.Alloc(16*int(size), 16)
	if err != nil {
		return nil, err
	}
	ao, err := dma.Alloc(6+2*int(size), 2)
	if err != nil {
		return nil, err
	}
	uo, err := dma.Alloc(6+8*int(size), 4)
	if err != nil {
		return nil, err
	}
	q.desc, q.avail, q.used = dma.Mem[do:do+16*int(size)], dma.Mem[ao:ao+6+2*int(size)], dma.Mem[uo:uo+6+8*int(size)]
	for i := int(size) - 1; i >= 0; i-- {
		q.free = append(q.free, uint16(i))
	}
	r.Write32(RegQueueNum, uint32(size))
	set := func(lo, hi uint32, off int) {
		pa := dma.Phys + uint64(off)
		r.Write32(lo, uint32(pa))
		r.Write32(hi, uint32(pa>>32))
	}
	set(RegQueueDescLow, RegQueueDescHigh, do)
	set(RegQueueDriverLow, RegQueueDriverHigh, ao)
	set(RegQueueDeviceLow, RegQueueDeviceHigh, uo)
	r.Write32(RegQueueReady, 1)
	return q, nil
}

// Size is the number of descriptors.
func (q *Queue) Size() int { return int(q.size) }

// Free is the number of descriptors available for Add.
func (q *Queue) Free() int { return len(q.free) }

// Add makes a request of bufs available to the device (not yet notified:
// see Kick). It returns the chain's head, which Used reports back.
func (q *Queue) Add(bufs ...Buffer) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > len(q.free) {
		return 0, errors.New("virtio: queue full")
	}
	ids := q.free[len(q.free)-len(bufs):]
	q.free = q.free[:len(q.free)-len(bufs)]
	le := binary.LittleEndian
	for i, b := range bufs {
		d := q.desc[16*int(ids[i]):]
		le.PutUint64(d[0:], q.dma.Phys+uint64(b.Off))
		le.PutUint32(d[8:], uint32(b.Len))
		var flags uint16
		if b.Write {
			flags |= descWrite
		}
		if i+1 < len(bufs) {
			flags |= descNext
			le.PutUint16(d[14:], ids[i+1])
		}
		le.PutUint16(d[12:], flags)
	}
	head := ids[0]
	le.PutUint16(q.avail[4+2*int(q.availIdx%q.size):], head)
	q.availIdx++
	// Publish the new index after the ring entry (x86 keeps store order;
	// the atomic store is also a full barrier for the notify check).
	storeWord(q.avail, uint32(q.availIdx)<<16)
	return head, nil
}

// Kick notifies the device if it asked to be (VIRTIO_F_EVENT_IDX: only when
// it has caught up with avail_event; otherwise always).
func (q *Queue) Kick(before uint16) {
	if q.eventIdx {
		ev := binary.LittleEndian.Uint16(q.used[4+8*int(q.size):])
		// vring_need_event: (new - event - 1) < (new - old)
		if uint16(q.availIdx-ev-1) >= uint16(q.availIdx-before) {
			return
		}
	}
	q.dev.Regs.Write32(RegQueueNotify, q.index)
}

// AvailIdx is the driver's avail index (pass it to Kick as "before").
func (q *Queue) AvailIdx() uint16 { return q.availIdx }

// Used returns the next completed request: its head and the bytes the
// device wrote. The chain's descriptors are freed.
func (q *Queue) Used() (head uint16, n uint32, ok bool) {
	idx := uint16(loadWord(q.used) >> 16)
	if idx == q.lastUsed {
		return 0, 0, false
	}
	le := binary.LittleEndian
	e := q.used[4+8*int(q.lastUsed%q.size):]
	id, n := le.Uint32(e[0:]), le.Uint32(e[4:])
	q.lastUsed++
	// A broken device's id beyond the ring frees nothing and reaches the
	// caller as one no request has (callers check it against their
	// tables).
	head = uint16(min(id, 0xFFFF))
	for id := head; id < q.size; {
		q.free = append(q.free, id)
		d := q.desc[16*int(id):]
		if le.Uint16(d[12:])&descNext == 0 || len(q.free) > int(q.size) {
			break
		}
		id = le.Uint16(d[14:])
	}
	if q.eventIdx {
		// Ask to be interrupted at the next completion.
		le.PutUint16(q.avail[4+2*int(q.size):], q.lastUsed)
	}
	return head, n, true
}

// UsedIdx is the device's used index (for a wait on progress).
func (q *Queue) UsedIdx() uint16 {
	return uint16(loadWord(q.used) >> 16)
}
