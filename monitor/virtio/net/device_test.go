package net_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	stdnet "net"
	"sync"
	"testing"
	"time"

	"brique.dev/brique/monitor/virtio"
	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// pipeBackend is a Backend whose frames come from and go to channels.
type pipeBackend struct {
	in     chan []byte // to the guest
	out    chan []byte // from the guest
	closed chan struct{}
	once   sync.Once
}

func newPipe() *pipeBackend {
	return &pipeBackend{in: make(chan []byte, 4096), out: make(chan []byte, 4096), closed: make(chan struct{})}
}

func (p *pipeBackend) ReadPacket(buf []byte) (int, error) {
	select {
	case f := <-p.in:
		if len(f) > len(buf) {
			return len(buf), nil
		}
		return copy(buf, f), nil
	case <-p.closed:
		return 0, stdnet.ErrClosed
	}
}

func (p *pipeBackend) WritePacket(frame [][]byte) error {
	b := bytes.Join(frame, nil)
	select {
	case p.out <- b:
		return nil
	case <-p.closed:
		return stdnet.ErrClosed
	}
}

func (p *pipeBackend) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// netDriver is a test virtio-net driver.
type netDriver struct {
	t      *testing.T
	bus    *virtio.Bus
	dev    *vnet.Device
	d      *virtiotest.Driver
	mem    *virtiotest.Memory
	rx, tx *virtiotest.DriverQueue
	mrg    bool
	bufs   map[uint16]virtiotest.Buf
}

func startNet(t *testing.T, cfg vnet.Config, want uint64) *netDriver {
	t.Helper()
	mem := virtiotest.NewMemory(t, 16<<20)
	bus := virtio.NewBus(mem, func(err error) { t.Logf("virtio: %v", err) })
	if p, ok := cfg.Backend.(*pipeBackend); ok && ioLoopMode {
		cfg.Backend = newPollPipe(t, p)
	}
	dev, err := vnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bus.Add(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	n := &netDriver{t: t, bus: bus, dev: dev, mem: mem, bufs: map[uint16]virtiotest.Buf{}}
	n.init(tr, want)
	return n
}

func (n *netDriver) init(tr *virtio.Transport, want uint64) {
	n.d = virtiotest.Init(n.t, tr, n.mem, want|virtio.FeatureVersion1, 256, 256)
	n.rx, n.tx = n.d.Queues[vnet.RXQueue], n.d.Queues[vnet.TXQueue]
	n.mrg = n.d.Features&vnet.FeatureMrgRxbuf != 0
	n.bufs = map[uint16]virtiotest.Buf{}
}

// post adds count receive buffers of size bytes.
func (n *netDriver) post(count int, size uint32) {
	for i := 0; i < count; i++ {
		b := virtiotest.Buf{Addr: n.mem.Alloc(uint64(size), 64), Len: size, Write: true}
		n.bufs[n.rx.Add(b)] = b
	}
	n.rx.KickIfNeeded()
}

// wait blocks until the device interrupts (the driver asked for it with
// used_event or by leaving VIRTQ_AVAIL_F_NO_INTERRUPT clear).
func (n *netDriver) wait(what string) {
	n.t.Helper()
	select {
	case <-n.bus.Wake():
	case <-time.After(5 * time.Second):
		n.t.Fatalf("%s: no interrupt within 5 s", what)
	}
}

// recv returns the next received frame and its header.
func (n *netDriver) recv() (hdr, frame []byte) {
	n.t.Helper()
	var stream []byte
	want := 1
	for got := 0; got < want; {
		n.rx.SetUsedEvent(n.rx.LastUsed())
		id, l, ok := n.rx.GetUsed()
		if !ok {
			n.wait("receive")
			continue
		}
		b := n.bufs[id]
		delete(n.bufs, id)
		if l > b.Len {
			n.t.Fatalf("used length %d > buffer %d", l, b.Len)
		}
		stream = append(stream, n.mem.B(b.Addr, uint64(l))...)
		if got == 0 {
			if len(stream) < vnet.HeaderSize {
				n.t.Fatalf("first buffer has %d bytes", len(stream))
			}
			want = int(binary.LittleEndian.Uint16(stream[vnet.HeaderNumBuffers:]))
			if !n.mrg && want != 1 {
				n.t.Fatalf("num_buffers %d without MRG_RXBUF", want)
			}
			if want < 1 {
				n.t.Fatalf("num_buffers %d", want)
			}
		}
		got++
	}
	return stream[:vnet.HeaderSize], stream[vnet.HeaderSize:]
}

// send queues frame for transmission, the header and frame laid out in
// one of several ways.
func (n *netDriver) send(frame []byte, layout int) uint16 {
	hdr := make([]byte, vnet.HeaderSize)
	put := func(b []byte) virtiotest.Buf {
		a := n.mem.Alloc(uint64(len(b)), 8)
		copy(n.mem.B(a, uint64(len(b))), b)
		return virtiotest.Buf{Addr: a, Len: uint32(len(b))}
	}
	var head uint16
	switch layout % 4 {
	case 0: // header and frame in one buffer
		head = n.tx.Add(put(append(hdr, frame...)))
	case 1: // header, then frame
		head = n.tx.Add(put(hdr), put(frame))
	case 2: // header split, frame in three pieces
		k := len(frame) / 3
		head = n.tx.Add(put(hdr[:5]), put(append(hdr[5:], frame[:k]...)), put(frame[k:2*k]), put(frame[2*k:]))
	case 3: // indirect (if negotiated)
		bufs := []virtiotest.Buf{put(hdr), put(frame)}
		if n.d.Features&virtio.FeatureIndirectDesc != 0 {
			head = n.tx.AddIndirect(bufs...)
		} else {
			head = n.tx.Add(bufs...)
		}
	}
	n.tx.KickIfNeeded()
	return head
}

// txDone waits until the device has used every transmit buffer.
func (n *netDriver) txDone(count int) {
	n.t.Helper()
	for got := 0; got < count; {
		n.tx.SetUsedEvent(n.tx.LastUsed())
		if _, _, ok := n.tx.GetUsed(); ok {
			got++
			continue
		}
		n.wait("transmit completion")
	}
}

func testFrame(i, size int) []byte {
	f := ethernet(broadcast, stdnet.HardwareAddr{2, 0, 0, 0, 0, 1}, 0x88b5, make([]byte, size-14))
	binary.BigEndian.PutUint32(f[14:], uint32(i))
	for k := 18; k < len(f); k++ {
		f[k] = byte(k + i)
	}
	return f
}

func TestNetConfigSpace(t *testing.T) {
	mac := stdnet.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	n := startNet(t, vnet.Config{Backend: newPipe(), MAC: mac, MTU: 9000}, ^uint64(0))
	want := uint64(vnet.FeatureMAC|vnet.FeatureMTU|vnet.FeatureStatus|vnet.FeatureMrgRxbuf) | virtio.TransportFeatures
	if got := n.d.DeviceFeatures(); got != want {
		t.Errorf("features %#x, want %#x", got, want)
	}
	if n.d.R(virtio.RegDeviceID) != virtio.DeviceIDNet {
		t.Error("not a network device")
	}
	cfg := make([]byte, vnet.ConfigSize)
	for i := range cfg {
		cfg[i] = byte(n.d.T.Read(virtio.RegConfig+uint64(i), 1))
	}
	if !bytes.Equal(cfg[:6], mac) {
		t.Errorf("config MAC %x", cfg[:6])
	}
	if s := binary.LittleEndian.Uint16(cfg[vnet.ConfigStatus:]); s != vnet.StatusLinkUp {
		t.Errorf("status %d", s)
	}
	if m := n.d.T.Read(virtio.RegConfig+vnet.ConfigMTU, 2); m != 9000 {
		t.Errorf("MTU %d", m)
	}
	if p := n.d.T.Read(virtio.RegConfig+vnet.ConfigMaxVirtqueuePairs, 2); p != 1 {
		t.Errorf("max_virtqueue_pairs %d", p)
	}
	// NoMergeable drops the feature.
	n2 := startNet(t, vnet.Config{Backend: newPipe(), NoMergeable: true}, ^uint64(0))
	if n2.d.DeviceFeatures()&vnet.FeatureMrgRxbuf != 0 || n2.mrg {
		t.Error("MRG_RXBUF offered with NoMergeable")
	}
	if m := n2.dev.MAC(); len(m) != 6 || m[0]&3 != 2 {
		t.Errorf("default MAC %v is not locally administered unicast", m)
	}
	if _, err := vnet.New(vnet.Config{}); err == nil {
		t.Error("New without a backend succeeded")
	}
	if _, err := vnet.New(vnet.Config{Backend: newPipe(), MTU: 20}); err == nil {
		t.Error("MTU 20 accepted")
	}
}

func variants() []struct {
	name string
	want uint64
} {
	return []struct {
		name string
		want uint64
	}{
		{"event-idx+mergeable+indirect", ^uint64(0)},
		{"event-idx", ^uint64(0) &^ (vnet.FeatureMrgRxbuf | virtio.FeatureIndirectDesc)},
		{"plain", virtio.FeatureVersion1 | vnet.FeatureMAC},
		{"mergeable", virtio.FeatureVersion1 | vnet.FeatureMrgRxbuf},
	}
}

func TestNetTransmit(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			p := newPipe()
			n := startNet(t, vnet.Config{Backend: p}, v.want)
			for i := 0; i < 40; i++ {
				f := testFrame(i, 60+i*37)
				n.send(f, i)
				select {
				case got := <-p.out:
					if !bytes.Equal(got, f) {
						t.Fatalf("frame %d: sent %d bytes, backend got %d", i, len(f), len(got))
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("frame %d not sent", i)
				}
				n.txDone(1)
			}
			// A runt (no room for an Ethernet header) is dropped, and
			// its buffer still comes back.
			n.send(make([]byte, 10), 1)
			n.txDone(1)
			if s := n.dev.Stats(); s.TXDropped != 1 || s.TXPackets != 40 {
				t.Errorf("stats %+v", s)
			}
			select {
			case f := <-p.out:
				t.Fatalf("runt sent (%d bytes)", len(f))
			default:
			}
		})
	}
}

func TestNetReceive(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			p := newPipe()
			n := startNet(t, vnet.Config{Backend: p, MTU: 1500}, v.want)
			size := uint32(1526)
			if n.mrg {
				size = 500 // a full frame takes 4 buffers
			}
			n.post(64, size)
			for i := 0; i < 100; i++ {
				f := testFrame(i, 60+(i*97)%1455)
				p.in <- f
				hdr, got := n.recv()
				if !bytes.Equal(got, f) {
					t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(f))
				}
				if !bytes.Equal(hdr[:10], make([]byte, 10)) {
					t.Fatalf("header %x: want no offload", hdr)
				}
				n.post(64-len(n.bufs), size)
			}
			if s := n.dev.Stats(); s.RXPackets != 100 || s.RXDropped != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestNetReceiveWaitsForBuffers(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			p := newPipe()
			n := startNet(t, vnet.Config{Backend: p}, v.want)
			f := testFrame(1, 1514)
			p.in <- f
			time.Sleep(20 * time.Millisecond) // the device finds no buffer and sleeps
			if n.mrg {
				// Not enough room: the device must wait for more buffers
				// without spinning or losing the frame.
				n.post(2, 512)
				time.Sleep(20 * time.Millisecond)
				if n.rx.UsedIdx() != 0 {
					t.Fatal("frame delivered into too few buffers")
				}
				n.post(1, 512)
			} else {
				n.post(1, 1526)
			}
			if _, got := n.recv(); !bytes.Equal(got, f) {
				t.Fatalf("got %d bytes", len(got))
			}
		})
	}
}

func TestNetReceiveTooSmall(t *testing.T) {
	p := newPipe()
	n := startNet(t, vnet.Config{Backend: p, NoMergeable: true}, ^uint64(0))
	n.post(1, 100)
	big, small := testFrame(1, 1514), testFrame(2, 80)
	p.in <- big
	p.in <- small
	if _, got := n.recv(); !bytes.Equal(got, small) {
		t.Fatalf("got %d bytes, want the small frame", len(got))
	}
	if s := n.dev.Stats(); s.RXDropped != 1 {
		t.Errorf("stats %+v: want the big frame dropped", s)
	}
	// A frame longer than the MTU allows is dropped by the pump.
	n.post(1, 65536)
	p.in <- testFrame(3, 1600)
	p.in <- small
	if _, got := n.recv(); !bytes.Equal(got, small) {
		t.Fatalf("got %d bytes, want the small frame", len(got))
	}
}

func TestNetResetAndRestart(t *testing.T) {
	p := newPipe()
	n := startNet(t, vnet.Config{Backend: p}, ^uint64(0))
	n.post(8, 1526)
	n.send(testFrame(0, 100), 0)
	<-p.out
	tr := n.bus.Devices()[0]
	n.d.W(virtio.RegStatus, 0) // reset: goroutines stop
	if tr.Status() != 0 {
		t.Fatal("status after reset")
	}
	p.in <- testFrame(1, 100) // stale by the time the driver is back
	time.Sleep(10 * time.Millisecond)
	n.init(tr, ^uint64(0))
	n.post(8, 1526)
	f := testFrame(2, 200)
	p.in <- f
	if _, got := n.recv(); !bytes.Equal(got, f) {
		t.Fatalf("after restart got frame of %d bytes", len(got))
	}
	n.send(testFrame(3, 100), 1)
	if got := <-p.out; !bytes.Equal(got, testFrame(3, 100)) {
		t.Fatal("transmit after restart")
	}
	if err := n.bus.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.closed:
	default:
		t.Fatal("Close did not close the backend")
	}
}

// TestNetBothWays streams frames in both directions at once.
func TestNetBothWays(t *testing.T) {
	p := newPipe()
	n := startNet(t, vnet.Config{Backend: p}, ^uint64(0))
	const count = 3000
	errc := make(chan error, 2)
	go func() { // the peer: injects frames, checks what the guest sends
		for i := 0; i < count; i++ {
			p.in <- testFrame(i, 60+i%1400)
		}
		for i := 0; i < count; i++ {
			select {
			case got := <-p.out:
				if !bytes.Equal(got, testFrame(i, 60+i%700)) {
					errc <- fmt.Errorf("guest frame %d corrupted or reordered", i)
					return
				}
			case <-time.After(10 * time.Second):
				errc <- fmt.Errorf("guest frame %d not sent", i)
				return
			}
		}
		errc <- nil
	}()
	// The driver (this goroutine) sends and receives, like a guest's
	// single vCPU; the device drops frames when the guest is slow, so
	// receive counts what arrives in order.
	n.post(128, 1526)
	sent, done, last := 0, 0, -1
	deadline := time.Now().Add(30 * time.Second)
	// (A PollBackend's device leaves frames in the backend rather than
	// dropping them, so the loop also runs until every frame is in.)
	received := func() uint64 { s := n.dev.Stats(); return s.RXPackets + s.RXDropped }
	for (sent < count || done < count || received() < count) && time.Now().Before(deadline) {
		for k := 0; k < 8 && sent < count && sent-done < 50; k++ {
			n.send(testFrame(sent, 60+sent%700), sent)
			sent++
		}
		for {
			_, _, ok := n.tx.GetUsed()
			if !ok {
				break
			}
			done++
		}
		for {
			id, l, ok := n.rx.GetUsed()
			if !ok {
				break
			}
			b := n.bufs[id]
			delete(n.bufs, id)
			f := n.mem.B(b.Addr, uint64(l))[vnet.HeaderSize:]
			i := int(binary.BigEndian.Uint32(f[14:]))
			if i <= last || !bytes.Equal(f, testFrame(i, 60+i%1400)) {
				t.Fatalf("received frame %d after %d, or corrupted", i, last)
			}
			last = i
		}
		if len(n.bufs) < 64 {
			n.post(128-len(n.bufs), 1526)
		}
		if sent == count {
			n.tx.SetUsedEvent(n.tx.LastUsed())
			select {
			case <-n.bus.Wake():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if done < count {
		t.Fatalf("%d of %d transmit buffers completed", done, count)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	s := n.dev.Stats()
	t.Logf("stats %+v", s)
	if s.RXPackets+s.RXDropped != count || s.RXPackets == 0 {
		t.Errorf("received %d + dropped %d != %d", s.RXPackets, s.RXDropped, count)
	}
}
