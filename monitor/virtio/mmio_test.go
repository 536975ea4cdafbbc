package virtio_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"brique.dev/brique/abi"
	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

const devFeatureA = 1 << 5 // a device-specific feature bit for the stub

func newStub() *virtiotest.Stub {
	return &virtiotest.Stub{ID: virtio.DeviceIDNet, Feat: devFeatureA, Sizes: []uint16{8, 16}, Config: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
}

type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) n() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs)
}

func newTransport(t *testing.T, dev virtio.Device) (*virtio.Transport, *virtiotest.Memory, *atomic.Int32, *errLog) {
	mem := virtiotest.NewMemory(t, 1<<20)
	var irqs atomic.Int32
	log := &errLog{}
	tr := virtio.NewTransport(dev, mem, virtio.TransportConfig{Interrupt: func() { irqs.Add(1) }, OnError: log.add})
	return tr, mem, &irqs, log
}

func TestIdentityRegisters(t *testing.T) {
	dev := newStub()
	tr, mem, _, log := newTransport(t, dev)
	d := &virtiotest.Driver{T: tr, Mem: mem}
	for _, c := range []struct {
		reg  uint64
		want uint32
	}{
		{virtio.RegMagicValue, 0x74726976},
		{virtio.RegVersion, 2},
		{virtio.RegDeviceID, virtio.DeviceIDNet},
		{virtio.RegVendorID, virtio.VendorID},
		{virtio.RegSHMLenLow, 0xFFFFFFFF},
		{virtio.RegSHMLenHigh, 0xFFFFFFFF},
		{virtio.RegConfigGeneration, 0},
		{virtio.RegStatus, 0},
		{virtio.RegQueueReady, 0},
	} {
		if got := d.R(c.reg); got != c.want {
			t.Errorf("register %#x = %#x, want %#x", c.reg, got, c.want)
		}
	}
	if got, want := d.DeviceFeatures(), uint64(devFeatureA)|virtio.TransportFeatures; got != want {
		t.Errorf("device features %#x, want %#x", got, want)
	}
	d.W(virtio.RegDeviceFeaturesSel, 7)
	if got := d.R(virtio.RegDeviceFeatures); got != 0 {
		t.Errorf("feature bank 7 = %#x, want 0", got)
	}
	for i, want := range []uint32{8, 16, 0, 0} {
		d.W(virtio.RegQueueSel, uint32(i))
		if got := d.R(virtio.RegQueueNumMax); got != want {
			t.Errorf("queue %d: QueueNumMax %d, want %d", i, got, want)
		}
	}
	// Configuration space: 1, 2, 4 and 8-byte reads, past the end reads 0.
	if got := tr.Read(virtio.RegConfig+1, 1); got != 2 {
		t.Errorf("config byte 1 = %d", got)
	}
	if got := tr.Read(virtio.RegConfig+2, 2); got != 0x0403 {
		t.Errorf("config u16 at 2 = %#x", got)
	}
	if got := tr.Read(virtio.RegConfig+4, 4); got != 0x08070605 {
		t.Errorf("config u32 at 4 = %#x", got)
	}
	if got := tr.Read(virtio.RegConfig, 8); got != 0x0807060504030201 {
		t.Errorf("config u64 at 0 = %#x", got)
	}
	if got := tr.Read(virtio.RegConfig+8, 4); got != 0x0a09 {
		t.Errorf("config u32 at 8 = %#x (past the end must read 0)", got)
	}
	if got := tr.Read(virtio.RegConfig+0x80, 4); got != 0 {
		t.Errorf("config far past the end = %#x", got)
	}
	tr.Write(virtio.RegConfig+3, 2, 0xBEEF)
	if string(dev.Written) != "\xef\xbe" {
		t.Errorf("config write passed %x", dev.Written)
	}
	// Control registers need aligned 32-bit accesses.
	before := log.n()
	if got := tr.Read(virtio.RegMagicValue, 2); got != 0 {
		t.Errorf("16-bit read of MagicValue = %#x, want 0", got)
	}
	if got := tr.Read(virtio.RegMagicValue+1, 4); got != 0 {
		t.Errorf("misaligned read = %#x, want 0", got)
	}
	tr.Write(virtio.RegStatus, 1, virtio.StatusAcknowledge)
	if d.R(virtio.RegStatus) != 0 {
		t.Errorf("a 1-byte write changed Status")
	}
	if log.n() != before+3 {
		t.Errorf("bad accesses reported %d errors, want 3", log.n()-before)
	}
	// Access (the KVM form) round-trips little-endian bytes.
	b := make([]byte, 4)
	tr.Access(virtio.RegMagicValue, b, false)
	if string(b) != "virt" {
		t.Errorf("Access read %q", b)
	}
}

func TestFeatureNegotiation(t *testing.T) {
	for _, c := range []struct {
		name   string
		accept uint64
		ok     bool
	}{
		{"all offered", devFeatureA | virtio.TransportFeatures, true},
		{"version 1 only", virtio.FeatureVersion1, true},
		{"legacy driver", devFeatureA, false},
		{"not offered", virtio.FeatureVersion1 | virtio.FeatureRingPacked, false},
		{"not offered low", virtio.FeatureVersion1 | 1<<7, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, mem, _, log := newTransport(t, newStub())
			d := &virtiotest.Driver{T: tr, Mem: mem}
			d.W(virtio.RegStatus, virtio.StatusAcknowledge)
			d.W(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
			d.W(virtio.RegDriverFeaturesSel, 0)
			d.W(virtio.RegDriverFeatures, uint32(c.accept))
			d.W(virtio.RegDriverFeaturesSel, 1)
			d.W(virtio.RegDriverFeatures, uint32(c.accept>>32))
			d.W(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
			got := d.R(virtio.RegStatus)&virtio.StatusFeaturesOK != 0
			if got != c.ok {
				t.Fatalf("FEATURES_OK = %v, want %v (errors %v)", got, c.ok, log.errs)
			}
			if !c.ok {
				return
			}
			if tr.Features() != c.accept {
				t.Errorf("negotiated %#x, want %#x", tr.Features(), c.accept)
			}
			// Features are frozen after FEATURES_OK.
			d.W(virtio.RegDriverFeaturesSel, 0)
			d.W(virtio.RegDriverFeatures, 0)
			if tr.Features() != c.accept {
				t.Errorf("features changed after FEATURES_OK: %#x", tr.Features())
			}
		})
	}
}

func TestStatusStateMachine(t *testing.T) {
	dev := newStub()
	tr, mem, _, log := newTransport(t, dev)
	d := &virtiotest.Driver{T: tr, Mem: mem}
	ad := uint32(virtio.StatusAcknowledge | virtio.StatusDriver)

	// DRIVER_OK before FEATURES_OK is refused.
	d.W(virtio.RegStatus, ad)
	d.W(virtio.RegStatus, ad|virtio.StatusDriverOK)
	if s := d.R(virtio.RegStatus); s != ad {
		t.Fatalf("status %#x after DRIVER_OK without FEATURES_OK, want %#x", s, ad)
	}
	if dev.Activation() != nil {
		t.Fatal("device activated without FEATURES_OK")
	}
	// Clearing a bit without a reset is ignored.
	d.W(virtio.RegStatus, virtio.StatusAcknowledge)
	if s := d.R(virtio.RegStatus); s != ad {
		t.Fatalf("status %#x after clearing DRIVER, want %#x", s, ad)
	}
	d.W(virtio.RegStatus, 0)

	// Full initialization activates the device with its queues.
	drv := virtiotest.Init(t, tr, mem, ^uint64(0), 8, 16)
	a := dev.Activation()
	if a == nil {
		t.Fatal("not activated after DRIVER_OK")
	}
	if len(a.Queues) != 2 || !a.Queues[0].Ready() || a.Queues[0].Size() != 8 || a.Queues[1].Size() != 16 {
		t.Fatalf("activation queues wrong")
	}
	if a.Features != drv.Features || a.Features&virtio.FeatureEventIdx == 0 || !a.Queues[0].EventIdx() {
		t.Errorf("activation features %#x, driver %#x", a.Features, drv.Features)
	}
	// Queue registers are read-only while the device runs.
	n := log.n()
	d.W(virtio.RegQueueSel, 0)
	d.W(virtio.RegQueueNum, 4)
	d.W(virtio.RegQueueReady, 0)
	if a.Queues[0].Size() != 8 || !a.Queues[0].Ready() || log.n() != n+2 {
		t.Errorf("queue registers changed while DRIVER_OK")
	}

	// Reset: the device is stopped, everything is forgotten.
	d.W(virtio.RegStatus, 0)
	if dev.Activation() != nil || dev.Resets != 1 {
		t.Fatalf("reset: activation %v, resets %d", dev.Activation(), dev.Resets)
	}
	if s := d.R(virtio.RegStatus); s != 0 {
		t.Errorf("status %#x after reset", s)
	}
	d.W(virtio.RegQueueSel, 0)
	if d.R(virtio.RegQueueReady) != 0 || tr.Features() != 0 {
		t.Errorf("queue or features survived the reset")
	}
	// And the device can be initialized again.
	virtiotest.Init(t, tr, mem, virtio.FeatureVersion1, 4)
	if a := dev.Activation(); a == nil || a.Queues[1].Ready() || a.Features != virtio.FeatureVersion1 {
		t.Fatalf("second activation wrong")
	}
}

func TestActivateFailure(t *testing.T) {
	dev := newStub()
	dev.ActivateErr = errors.New("no backend")
	tr, mem, irqs, _ := newTransport(t, dev)
	d := &virtiotest.Driver{T: tr, Mem: mem}
	st := uint32(virtio.StatusAcknowledge | virtio.StatusDriver)
	d.W(virtio.RegStatus, st)
	d.W(virtio.RegDriverFeaturesSel, 1)
	d.W(virtio.RegDriverFeatures, 1) // VERSION_1
	st |= virtio.StatusFeaturesOK
	d.W(virtio.RegStatus, st)
	d.W(virtio.RegStatus, st|virtio.StatusDriverOK)
	if s := d.R(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %#x: want DEVICE_NEEDS_RESET", s)
	}
	if d.R(virtio.RegInterruptStatus)&virtio.InterruptConfigChanged == 0 || irqs.Load() == 0 {
		t.Errorf("no configuration interrupt")
	}
	d.W(virtio.RegStatus, 0)
	if s := d.R(virtio.RegStatus); s != 0 {
		t.Errorf("status %#x after reset", s)
	}
}

func TestQueueSetupValidation(t *testing.T) {
	cases := []struct {
		name              string
		size              uint32
		desc, avail, used uint64
	}{
		{"size not a power of 2", 6, 0x1000, 0x2000, 0x3000},
		{"size zero", 0, 0x1000, 0x2000, 0x3000},
		{"size above max", 16, 0x1000, 0x2000, 0x3000},
		{"size above 16 bits", 1 << 16, 0x1000, 0x2000, 0x3000},
		{"descriptor table misaligned", 8, 0x1008, 0x2000, 0x3000},
		{"available ring misaligned", 8, 0x1000, 0x2001, 0x3000},
		{"used ring misaligned", 8, 0x1000, 0x2000, 0x3002},
		{"descriptor table outside memory", 8, 1<<20 - 64, 0x2000, 0x3000},
		{"used ring outside memory", 8, 0x1000, 0x2000, 1<<20 - 8},
		{"address overflow", 8, 0xFFFFFFFFFFFFFFF0, 0x2000, 0x3000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, mem, _, log := newTransport(t, newStub())
			d := &virtiotest.Driver{T: tr, Mem: mem}
			st := uint32(virtio.StatusAcknowledge | virtio.StatusDriver)
			d.W(virtio.RegStatus, st)
			d.W(virtio.RegDriverFeaturesSel, 1)
			d.W(virtio.RegDriverFeatures, 1)
			d.W(virtio.RegStatus, st|virtio.StatusFeaturesOK)
			d.W(virtio.RegQueueSel, 0)
			d.W(virtio.RegQueueNum, c.size)
			d.W(virtio.RegQueueDescLow, uint32(c.desc))
			d.W(virtio.RegQueueDescHigh, uint32(c.desc>>32))
			d.W(virtio.RegQueueDriverLow, uint32(c.avail))
			d.W(virtio.RegQueueDeviceLow, uint32(c.used))
			d.W(virtio.RegQueueReady, 1)
			if d.R(virtio.RegQueueReady) != 0 {
				t.Fatal("bad queue accepted")
			}
			if log.n() == 0 {
				t.Error("no error reported")
			}
		})
	}
	// Queue registers before FEATURES_OK, and of a queue that does not
	// exist, are ignored.
	tr, mem, _, log := newTransport(t, newStub())
	d := &virtiotest.Driver{T: tr, Mem: mem}
	d.W(virtio.RegQueueSel, 0)
	d.W(virtio.RegQueueReady, 1)
	d.W(virtio.RegQueueSel, 5)
	d.W(virtio.RegQueueNum, 4)
	d.W(virtio.RegQueueNotify, 5)
	if d.R(virtio.RegQueueReady) != 0 || log.n() != 2 {
		t.Errorf("ready %d, %d errors", d.R(virtio.RegQueueReady), log.n())
	}
}

func TestInterruptStatus(t *testing.T) {
	tr, mem, irqs, _ := newTransport(t, newStub())
	d := &virtiotest.Driver{T: tr, Mem: mem}
	tr.Interrupt()
	if d.R(virtio.RegInterruptStatus) != virtio.InterruptUsedBuffer || irqs.Load() != 1 {
		t.Fatalf("interrupt status %#x, %d callbacks", d.R(virtio.RegInterruptStatus), irqs.Load())
	}
	tr.ConfigChanged()
	if d.R(virtio.RegInterruptStatus) != 3 || d.R(virtio.RegConfigGeneration) != 1 {
		t.Fatalf("after config change: status %#x generation %d", d.R(virtio.RegInterruptStatus), d.R(virtio.RegConfigGeneration))
	}
	d.W(virtio.RegInterruptACK, virtio.InterruptUsedBuffer)
	if d.R(virtio.RegInterruptStatus) != virtio.InterruptConfigChanged {
		t.Fatalf("ACK did not clear bit 0")
	}
}

func TestBus(t *testing.T) {
	mem := virtiotest.NewMemory(t, 1<<20)
	bus := virtio.NewBus(mem, nil)
	s0, s1 := newStub(), newStub()
	s1.ID = virtio.DeviceIDEntropy
	if _, err := bus.Add(s0); err != nil {
		t.Fatal(err)
	}
	t1, err := bus.Add(s1)
	if err != nil {
		t.Fatal(err)
	}
	read := func(gpa uint64) (uint32, bool) {
		b := make([]byte, 4)
		ok := bus.HandleMMIO(gpa, b, false)
		return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, ok
	}
	if v, ok := read(abi.VirtioMMIOBase + virtio.RegMagicValue); !ok || v != virtio.MagicValue {
		t.Errorf("device 0 magic %#x %v", v, ok)
	}
	if v, ok := read(virtio.WindowAddr(1) + virtio.RegDeviceID); !ok || v != virtio.DeviceIDEntropy {
		t.Errorf("device 1 id %d %v", v, ok)
	}
	// An empty slot reads as zero ("no device"), as a driver probing for
	// devices expects.
	if v, ok := read(virtio.WindowAddr(2) + virtio.RegMagicValue); !ok || v != 0 {
		t.Errorf("empty slot: %#x %v, want 0 true", v, ok)
	}
	for _, gpa := range []uint64{
		virtio.WindowAddr(0) + abi.VirtioMMIOSize,     // past the window
		virtio.WindowAddr(0) + abi.VirtioMMIOSize - 2, // straddles the end
		abi.VirtioMMIOBase - 4,                        // below
		virtio.WindowAddr(abi.VirtioMaxDevices),       // above
		abi.HypercallBase,                             // hypercalls
	} {
		if _, ok := read(gpa); ok {
			t.Errorf("access at %#x handled", gpa)
		}
	}
	b := []byte{virtio.StatusAcknowledge, 0, 0, 0}
	if !bus.HandleMMIO(virtio.WindowAddr(1)+virtio.RegStatus, b, true) || t1.Status() != virtio.StatusAcknowledge {
		t.Errorf("status write through the bus: %#x", t1.Status())
	}
	want := "virtio_mmio.device=0x200@0xd0010000:5 virtio_mmio.device=0x200@0xd0011000:6"
	if got := bus.Cmdline(); got != want {
		t.Errorf("Cmdline() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(virtio.Cmdline(4096, 0xd0000000, 5), "virtio_mmio.device=0x1000@0xd0000000:5") {
		t.Errorf("Cmdline: %s", virtio.Cmdline(4096, 0xd0000000, 5))
	}
	t1.Interrupt()
	t1.Interrupt()
	select {
	case <-bus.Wake():
	default:
		t.Fatal("no wakeup after an interrupt")
	}
	select {
	case <-bus.Wake():
		t.Fatal("two wakeups queued")
	default:
	}
	for i := 2; i < abi.VirtioMaxDevices; i++ {
		if _, err := bus.Add(newStub()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bus.Add(newStub()); err == nil {
		t.Error("more than VirtioMaxDevices devices accepted")
	}
	virtiotest.Init(t, bus.Devices()[0], mem, ^uint64(0), 8)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if s0.Resets != 1 || s0.Activation() != nil {
		t.Errorf("Close did not reset the devices")
	}
}
