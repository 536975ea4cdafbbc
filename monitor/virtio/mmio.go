package virtio

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
)

// Device is a virtio device behind a Transport.
//
// The transport calls Activate once the driver has negotiated features,
// set up the queues and set DRIVER_OK, and Reset when the driver resets
// the device (writes 0 to Status) or the monitor shuts it down. Reset must
// return only once the device no longer touches the queues or guest
// memory. Both are called with the transport's lock held, from the vCPU
// thread: they must not block on the guest. Reset may be called for a
// device that is not active (it then has nothing to do); a device whose
// Activate fails must leave nothing running.
type Device interface {
	// DeviceID is the virtio device type (DeviceIDNet, ...).
	DeviceID() uint32
	// Features are the device-specific feature bits the device offers
	// (the transport adds TransportFeatures).
	Features() uint64
	// QueueMaxSizes has one entry per virtqueue: its QueueNumMax.
	QueueMaxSizes() []uint16
	// ReadConfig fills data from the device configuration space at
	// offset off. Bytes past the end of the space read as 0 (data comes
	// zeroed).
	ReadConfig(off uint64, data []byte)
	// WriteConfig stores data at offset off of the configuration space
	// (ignored for read-only fields).
	WriteConfig(off uint64, data []byte)
	// Activate starts the device with the negotiated features.
	Activate(a Activation) error
	// Reset stops the device (synchronously) and forgets the driver's
	// state.
	Reset()
}

// Activation is what a device gets when the driver sets DRIVER_OK.
type Activation struct {
	Features uint64      // negotiated features
	Memory   GuestMemory // guest RAM
	Queues   []*Queue    // one per QueueMaxSizes entry; check Ready()
	// Interrupt tells the driver that used buffers are available: call it
	// after Push when Queue.NeedNotify is true. It never blocks.
	Interrupt func()
}

// Transport is the device side of virtio over MMIO, version 2 (virtio 1.2,
// section 4.2): the register window of one device. The monitor calls Read
// and Write (or Access) for each KVM_EXIT_MMIO inside the window, with the
// offset from the window's base.
type Transport struct {
	mu  sync.Mutex
	dev Device
	mem GuestMemory

	offered        uint64
	status         uint32
	devFeaturesSel uint32
	drvFeaturesSel uint32
	driverFeatures uint64
	queueSel       uint32
	queues         []*Queue
	active         bool
	configGen      atomic.Uint32

	intStatus  atomic.Uint32
	needsReset atomic.Bool
	irq        func()      // the monitor's wakeup, never nil
	onError    func(error) // diagnostics, never nil
}

// TransportConfig configures NewTransport.
type TransportConfig struct {
	// Interrupt is called (from any goroutine, without blocking) when the
	// device raises an interrupt: used buffers or a configuration change.
	// The monitor ends a HypercallHalt with abi.EventDevice. Bus sets it.
	Interrupt func()
	// OnError receives driver errors (bad queue setup, broken queues): a
	// monitor shows them with --debug. Optional.
	OnError func(error)
}

// NewTransport returns the register window of dev over guest memory mem.
func NewTransport(dev Device, mem GuestMemory, cfg TransportConfig) *Transport {
	t := &Transport{dev: dev, mem: mem, irq: cfg.Interrupt, onError: cfg.OnError}
	if t.irq == nil {
		t.irq = func() {}
	}
	if t.onError == nil {
		t.onError = func(error) {}
	}
	t.offered = dev.Features() | TransportFeatures
	for i, n := range dev.QueueMaxSizes() {
		if n > MaxQueueSize {
			n = MaxQueueSize
		}
		t.queues = append(t.queues, newQueue(i, n, t.queueFailed))
	}
	return t
}

// Device returns the device behind the transport.
func (t *Transport) Device() Device { return t.dev }

// Status is the device status register (for tests and diagnostics).
func (t *Transport) Status() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statusLocked()
}

// Features returns the negotiated features (valid once FEATURES_OK is set).
func (t *Transport) Features() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.driverFeatures
}

func (t *Transport) statusLocked() uint32 {
	s := t.status
	if t.needsReset.Load() {
		s |= StatusDeviceNeedsReset
	}
	return s
}

// Interrupt raises the used-buffer interrupt (what Activation.Interrupt
// does).
func (t *Transport) Interrupt() {
	t.intStatus.Or(InterruptUsedBuffer)
	t.irq()
}

// ConfigChanged tells the driver that the configuration space changed
// (bumps ConfigGeneration and raises the configuration interrupt). It may
// be called from any goroutine.
func (t *Transport) ConfigChanged() {
	t.configGen.Add(1)
	t.intStatus.Or(InterruptConfigChanged)
	t.irq()
}

func (t *Transport) queueFailed(q *Queue, err error) {
	t.onError(err)
	if t.needsReset.CompareAndSwap(false, true) {
		t.intStatus.Or(InterruptConfigChanged)
		t.irq()
	}
}

// Access serves one MMIO access at offset off of the window: for a read it
// fills data (1, 2, 4 or 8 bytes, little-endian), for a write it consumes
// it. This is what the monitor calls with kvm_run.mmio's data[:len].
func (t *Transport) Access(off uint64, data []byte, write bool) {
	size := len(data)
	if size == 0 || size > 8 {
		return
	}
	if write {
		var b [8]byte
		copy(b[:], data)
		t.Write(off, size, binary.LittleEndian.Uint64(b[:]))
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], t.Read(off, size))
	copy(data, b[:size])
}

// Read returns the value of a size-byte read at offset off. Control
// registers need aligned 32-bit reads (anything else reads 0);
// configuration space reads may be 1, 2, 4 or 8 bytes.
func (t *Transport) Read(off uint64, size int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if off >= RegConfig {
		if size != 1 && size != 2 && size != 4 && size != 8 {
			return 0
		}
		var b [8]byte
		t.dev.ReadConfig(off-RegConfig, b[:size])
		return binary.LittleEndian.Uint64(b[:])
	}
	if size != 4 || off%4 != 0 {
		t.onError(fmt.Errorf("virtio: %d-byte read of register %#x (need aligned 32-bit accesses)", size, off))
		return 0
	}
	var v uint32
	switch off {
	case RegMagicValue:
		v = MagicValue
	case RegVersion:
		v = Version
	case RegDeviceID:
		v = t.dev.DeviceID()
	case RegVendorID:
		v = VendorID
	case RegDeviceFeatures:
		switch t.devFeaturesSel {
		case 0:
			v = uint32(t.offered)
		case 1:
			v = uint32(t.offered >> 32)
		}
	case RegQueueNumMax:
		if q := t.selected(); q != nil {
			v = uint32(q.maxSize)
		}
	case RegQueueReady:
		if q := t.selected(); q != nil && q.ready {
			v = 1
		}
	case RegInterruptStatus:
		v = t.intStatus.Load()
	case RegStatus:
		v = t.statusLocked()
	case RegSHMLenLow, RegSHMLenHigh:
		v = ^uint32(0) // no shared memory regions: length -1
	case RegConfigGeneration:
		v = t.configGen.Load()
	}
	return uint64(v)
}

func (t *Transport) selected() *Queue {
	if uint64(t.queueSel) < uint64(len(t.queues)) {
		return t.queues[t.queueSel]
	}
	return nil
}

// Write performs a size-byte write of value at offset off.
func (t *Transport) Write(off uint64, size int, value uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if off >= RegConfig {
		if size != 1 && size != 2 && size != 4 && size != 8 {
			return
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], value)
		t.dev.WriteConfig(off-RegConfig, b[:size])
		return
	}
	if size != 4 || off%4 != 0 {
		t.onError(fmt.Errorf("virtio: %d-byte write of register %#x (need aligned 32-bit accesses)", size, off))
		return
	}
	v := uint32(value)
	switch off {
	case RegDeviceFeaturesSel:
		t.devFeaturesSel = v
	case RegDriverFeaturesSel:
		t.drvFeaturesSel = v
	case RegDriverFeatures:
		if t.status&StatusFeaturesOK != 0 || t.status&StatusDriver == 0 {
			t.onError(fmt.Errorf("virtio: driver features written in status %#x", t.status))
			return
		}
		switch t.drvFeaturesSel {
		case 0:
			t.driverFeatures = t.driverFeatures&^0xFFFFFFFF | uint64(v)
		case 1:
			t.driverFeatures = t.driverFeatures&0xFFFFFFFF | uint64(v)<<32
		}
	case RegQueueSel:
		t.queueSel = v
	case RegQueueNum, RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh, RegQueueReady:
		t.writeQueue(off, v)
	case RegQueueNotify:
		if t.active && uint64(v) < uint64(len(t.queues)) {
			t.queues[v].notify()
		}
	case RegInterruptACK:
		t.intStatus.And(^v)
	case RegStatus:
		t.writeStatus(v)
	}
}

func (t *Transport) writeQueue(off uint64, v uint32) {
	q := t.selected()
	if q == nil {
		t.onError(fmt.Errorf("virtio: register %#x written for queue %d, which does not exist", off, t.queueSel))
		return
	}
	if t.active || t.status&StatusFeaturesOK == 0 {
		t.onError(fmt.Errorf("virtio: queue %d register %#x written in status %#x", q.index, off, t.status))
		return
	}
	if off == RegQueueReady {
		switch {
		case v == 0:
			q.ready = false
		case !q.ready:
			if err := q.setup(t.mem); err != nil {
				t.onError(err)
				return
			}
			q.ready = true
		}
		return
	}
	if q.ready {
		t.onError(fmt.Errorf("virtio: queue %d register %#x written while the queue is ready", q.index, off))
		return
	}
	lo := func(a *uint64) { *a = *a&^0xFFFFFFFF | uint64(v) }
	hi := func(a *uint64) { *a = *a&0xFFFFFFFF | uint64(v)<<32 }
	switch off {
	case RegQueueNum:
		if v > 0xFFFF {
			v = 0 // rejected when the queue is made ready
		}
		q.size = uint16(v)
	case RegQueueDescLow:
		lo(&q.descAddr)
	case RegQueueDescHigh:
		hi(&q.descAddr)
	case RegQueueDriverLow:
		lo(&q.availAddr)
	case RegQueueDriverHigh:
		hi(&q.availAddr)
	case RegQueueDeviceLow:
		lo(&q.usedAddr)
	case RegQueueDeviceHigh:
		hi(&q.usedAddr)
	}
}

// writeStatus runs the device status state machine (section 3.1.1).
func (t *Transport) writeStatus(v uint32) {
	if v == 0 {
		t.resetLocked()
		return
	}
	old := t.status
	if old&^v&^StatusDeviceNeedsReset != 0 {
		t.onError(fmt.Errorf("virtio: the driver cleared status bits (%#x -> %#x) without a reset", old, v))
		return
	}
	set := v &^ old
	v &^= StatusDeviceNeedsReset // owned by the device
	if set&StatusFeaturesOK != 0 {
		if err := t.checkFeatures(); err != nil {
			// FEATURES_OK stays clear: the driver re-reads the status and
			// gives up (section 3.1.1 step 6).
			t.onError(err)
			v &^= StatusFeaturesOK
		}
	}
	if set&StatusDriverOK != 0 {
		if v&StatusFeaturesOK == 0 {
			t.onError(fmt.Errorf("virtio: DRIVER_OK set without FEATURES_OK (status %#x)", v))
			v &^= StatusDriverOK
		} else if !t.active {
			t.status = v
			t.activateLocked()
			return
		}
	}
	t.status = v
}

func (t *Transport) checkFeatures() error {
	f := t.driverFeatures
	if extra := f &^ t.offered; extra != 0 {
		return fmt.Errorf("virtio: the driver accepted features %#x that the device did not offer", extra)
	}
	if f&FeatureVersion1 == 0 {
		return fmt.Errorf("virtio: legacy driver (VIRTIO_F_VERSION_1 not accepted): not supported")
	}
	return nil
}

func (t *Transport) activateLocked() {
	for _, q := range t.queues {
		if q.ready {
			q.activate(t.driverFeatures)
		}
	}
	err := t.dev.Activate(Activation{
		Features:  t.driverFeatures,
		Memory:    t.mem,
		Queues:    t.queues,
		Interrupt: t.Interrupt,
	})
	if err != nil {
		t.onError(fmt.Errorf("virtio: activating device %d: %w", t.dev.DeviceID(), err))
		t.needsReset.Store(true)
		t.intStatus.Or(InterruptConfigChanged)
		t.irq()
		return
	}
	t.active = true
}

func (t *Transport) resetLocked() {
	if t.active || t.status&StatusDriverOK != 0 {
		t.dev.Reset()
	}
	t.active = false
	for _, q := range t.queues {
		q.reset()
	}
	t.status, t.devFeaturesSel, t.drvFeaturesSel, t.driverFeatures, t.queueSel = 0, 0, 0, 0, 0
	t.intStatus.Store(0)
	t.needsReset.Store(false)
}

// Reset resets the device as if the driver wrote 0 to Status: the device's
// goroutines are stopped when it returns. The monitor calls it (through
// Bus.Close) before unmapping guest memory.
func (t *Transport) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetLocked()
}
