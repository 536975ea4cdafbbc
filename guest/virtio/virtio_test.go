package virtio

import (
	"bytes"
	"testing"
	"time"

	mvirtio "brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// transportRegs drives the monitor's device model directly.
type transportRegs struct{ t *mvirtio.Transport }

func (r transportRegs) Read32(off uint32) uint32     { return uint32(r.t.Read(uint64(off), 4)) }
func (r transportRegs) Write32(off uint32, v uint32) { r.t.Write(uint64(off), 4, uint64(v)) }

// TestDriverAgainstDeviceModel runs this driver against Brique's device
// model (monitor/virtio) over shared fake guest memory: a device that
// upper-cases what it reads from queue 0 into the writable buffer.
func TestDriverAgainstDeviceModel(t *testing.T) {
	mem := virtiotest.NewMemory(t, 1<<20)
	stub := &virtiotest.Stub{ID: 42, Feat: 0, Sizes: []uint16{8}}
	tr := mvirtio.NewTransport(stub, mem.Memory, mvirtio.TransportConfig{})
	dev, err := Init(transportRegs{tr}, FeatureEventIdx)
	if err != nil {
		t.Fatal(err)
	}
	if dev.DeviceID != 42 || dev.Features&FeatureEventIdx == 0 || dev.Features&FeatureVersion1 == 0 {
		t.Fatalf("negotiated id %d features %#x", dev.DeviceID, dev.Features)
	}
	base := mem.Alloc(1<<16, 4096)
	dma := &DMA{Mem: mem.B(base, 1<<16), Phys: base}
	q, err := dev.SetupQueue(0, 8, dma)
	if err != nil {
		t.Fatal(err)
	}
	dev.Ready()
	act := stub.Activation()
	if act == nil {
		t.Fatal("device not activated after DRIVER_OK")
	}
	dq := act.Queues[0]
	for round := 0; round < 20; round++ { // wraps the 8-entry rings
		in, _ := dma.Alloc(16, 8)
		out, _ := dma.Alloc(16, 8)
		msg := []byte("hello, device!")
		copy(dma.Mem[in:], msg)
		before := q.AvailIdx()
		head, err := q.Add(Buffer{Off: in, Len: len(msg)}, Buffer{Off: out, Len: 16, Write: true})
		if err != nil {
			t.Fatal(err)
		}
		q.Kick(before)
		c, ok := dq.Pop()
		if !ok {
			t.Fatalf("round %d: the device sees no request", round)
		}
		got := bytes.ToUpper(bytes.Join(c.Readable, nil))
		n := 0
		for _, w := range c.Writable {
			n += copy(w, got[n:])
		}
		dq.Push(c, n)
		deadline := time.Now().Add(time.Second)
		var uh uint16
		var un uint32
		for {
			if uh, un, ok = q.Used(); ok || time.Now().After(deadline) {
				break
			}
		}
		if !ok || uh != head || int(un) != len(msg) || string(dma.Mem[out:out+int(un)]) != "HELLO, DEVICE!" {
			t.Fatalf("round %d: used %v head %d (want %d) n %d %q", round, ok, uh, head, un, dma.Mem[out:out+int(un)])
		}
		if q.Free() != q.Size() {
			t.Fatalf("round %d: %d of %d descriptors free after completion", round, q.Free(), q.Size())
		}
	}
}

func TestNoDevice(t *testing.T) {
	mem := virtiotest.NewMemory(t, 1<<16)
	tr := mvirtio.NewTransport(&virtiotest.Stub{ID: 0, Sizes: []uint16{8}}, mem.Memory, mvirtio.TransportConfig{})
	if _, err := Init(transportRegs{tr}, 0); err != ErrNoDevice {
		t.Fatalf("Init on device id 0: %v, want ErrNoDevice", err)
	}
}
