package net_test

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// offloadPipe is a pipeBackend that also takes frames with a header.
type offloadPipe struct {
	*pipeBackend
	hdrs chan []byte
}

func (p *offloadPipe) WritePacketOffload(hdr []byte, frame [][]byte) error {
	p.hdrs <- append([]byte(nil), hdr...)
	return p.WritePacket(frame)
}

// sendHdr queues frame after the given header.
func (n *netDriver) sendHdr(hdr, frame []byte) {
	b := append(append([]byte(nil), hdr...), frame...)
	a := n.mem.Alloc(uint64(len(b)), 8)
	copy(n.mem.B(a, uint64(len(b))), b)
	n.tx.Add(virtiotest.Buf{Addr: a, Len: uint32(len(b))})
	n.tx.KickIfNeeded()
}

func offloadHdr(flags, gso byte, hdrLen, gsoSize, csumStart, csumOff uint16) []byte {
	h := make([]byte, vnet.HeaderSize)
	h[vnet.HeaderFlags], h[vnet.HeaderGSOType] = flags, gso
	le := binary.LittleEndian
	le.PutUint16(h[vnet.HeaderHdrLen:], hdrLen)
	le.PutUint16(h[vnet.HeaderGSOSize:], gsoSize)
	le.PutUint16(h[vnet.HeaderCsumStart:], csumStart)
	le.PutUint16(h[vnet.HeaderCsumOffset:], csumOff)
	le.PutUint16(h[vnet.HeaderNumBuffers:], 7) // must not reach the backend
	return h
}

const offloadFeatures = vnet.FeatureCsum | vnet.FeatureHostTSO4 | vnet.FeatureHostTSO6

func TestNetOffloadOfferedOnlyByOffloadBackends(t *testing.T) {
	plain, err := vnet.New(vnet.Config{Backend: newPipe()})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.Features()&offloadFeatures != 0 {
		t.Errorf("a plain backend offers offloads: %#x", plain.Features())
	}
	off, err := vnet.New(vnet.Config{Backend: &offloadPipe{newPipe(), make(chan []byte, 8)}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.Features()&offloadFeatures != offloadFeatures {
		t.Errorf("an offload backend does not offer CSUM|HOST_TSO4|HOST_TSO6: %#x", off.Features())
	}
}

func TestNetTransmitOffload(t *testing.T) {
	p := &offloadPipe{newPipe(), make(chan []byte, 8)}
	n := startNet(t, vnet.Config{Backend: p}, offloadFeatures)
	frame := testFrame(1, 9000) // larger than the MTU: a segment to cut
	expect := func(what string, wantHdr []byte) {
		t.Helper()
		select {
		case got := <-p.out:
			if !bytes.Equal(got, frame) {
				t.Fatalf("%s: backend got %d bytes, want the %d-byte frame", what, len(got), len(frame))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: frame not sent", what)
		}
		var got []byte
		select {
		case got = <-p.hdrs:
		default:
		}
		if !bytes.Equal(got, wantHdr) {
			t.Fatalf("%s: backend header %x, want %x", what, got, wantHdr)
		}
		n.txDone(1)
	}

	// A TCP/IPv4 segment with a partial checksum: the header reaches the
	// backend, num_buffers cleared.
	h := offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSOTCPv4, 66, 1448, 34, 16)
	n.sendHdr(h, frame)
	want := append([]byte(nil), h...)
	want[vnet.HeaderNumBuffers] = 0
	expect("TSO4", want)

	// Checksum only.
	h = offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSONone, 0, 0, 54, 16)
	n.sendHdr(h, frame)
	want = append([]byte(nil), h...)
	want[vnet.HeaderNumBuffers] = 0
	expect("checksum", want)

	// No offload asked: the ordinary path.
	n.sendHdr(make([]byte, vnet.HeaderSize), frame)
	expect("plain", nil)

	// Headers the device refuses: the frame is dropped, its buffer
	// comes back.
	bad := map[string][]byte{
		"checksum field past the end":         offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSONone, 0, 0, 9000, 16),
		"checksum inside the Ethernet header": offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSONone, 0, 0, 4, 2),
		"unknown flags":                       offloadHdr(0x80, vnet.GSONone, 0, 0, 0, 0),
		"UDP fragmentation":                   offloadHdr(vnet.HeaderFNeedsCsum, 3, 42, 1400, 34, 6),
		"segmentation without checksum":       offloadHdr(0, vnet.GSOTCPv4, 66, 1448, 0, 0),
		"zero segment size":                   offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSOTCPv6, 86, 0, 54, 16),
		"header length past the end":          offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSOTCPv4, 9001, 1448, 34, 16),
	}
	for what, h := range bad {
		before := n.dev.Stats().TXDropped
		n.sendHdr(h, frame)
		n.txDone(1)
		if got := n.dev.Stats().TXDropped; got != before+1 {
			t.Errorf("%s: not dropped (TXDropped %d -> %d)", what, before, got)
		}
		select {
		case <-p.out:
			t.Fatalf("%s: frame sent", what)
		default:
		}
	}
}

func TestNetOffloadNotNegotiatedIgnoresHeader(t *testing.T) {
	p := &offloadPipe{newPipe(), make(chan []byte, 8)}
	n := startNet(t, vnet.Config{Backend: p}, 0) // the driver declines
	frame := testFrame(2, 200)
	n.sendHdr(offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSOTCPv4, 66, 1448, 34, 16), frame)
	select {
	case got := <-p.out:
		if !bytes.Equal(got, frame) {
			t.Fatalf("backend got %d bytes, want %d", len(got), len(frame))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("frame not sent")
	}
	select {
	case h := <-p.hdrs:
		t.Fatalf("header %x passed on although offload was not negotiated", h)
	default:
	}
	n.txDone(1)
}

// rxOffloadPipe is a pollPipe whose frames towards the guest carry a
// virtio-net header, as a TAP device's do with receive offload.
type rxOffloadPipe struct {
	*pollPipe
	on   atomic.Bool
	sets atomic.Int32
}

func (r *rxOffloadPipe) WritePacketOffload(hdr []byte, frame [][]byte) error {
	return r.WritePacket(frame)
}

func (r *rxOffloadPipe) SetRXOffload(on bool) error {
	r.on.Store(on)
	r.sets.Add(1)
	return nil
}

func (r *rxOffloadPipe) TryReadFrame(buf []byte) (int, error) {
	n, err := r.tryRead(buf) // header and frame
	if err != nil {
		return 0, err
	}
	return n - vnet.HeaderSize, nil
}

const rxOffloadFeatures = vnet.FeatureGuestCsum | vnet.FeatureGuestTSO4 | vnet.FeatureGuestTSO6

func TestNetRXOffloadOffered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend func() vnet.Backend
		noMrg   bool
		want    bool
	}{
		{"TAP-like backend", func() vnet.Backend { return &rxOffloadPipe{pollPipe: newPollPipe(t, newPipe())} }, false, true},
		{"without mergeable buffers", func() vnet.Backend { return &rxOffloadPipe{pollPipe: newPollPipe(t, newPipe())} }, true, false},
		{"transmit offload only", func() vnet.Backend { return &offloadPipe{newPipe(), make(chan []byte, 8)} }, false, false},
	} {
		d, err := vnet.New(vnet.Config{Backend: tc.backend(), NoMergeable: tc.noMrg})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Features()&rxOffloadFeatures == rxOffloadFeatures; got != tc.want || !tc.want && d.Features()&rxOffloadFeatures != 0 {
			t.Errorf("%s: features %#x", tc.name, d.Features())
		}
		d.Close()
	}
}

// TestNetRXOffload: once the driver accepts receive offload, the backend
// is told, and a large frame reaches the driver with the backend's header
// (its num_buffers the device's) across mergeable buffers.
func TestNetRXOffload(t *testing.T) {
	p := newPipe()
	r := &rxOffloadPipe{pollPipe: newPollPipe(t, p)}
	n := startNet(t, vnet.Config{Backend: r}, vnet.FeatureMrgRxbuf|rxOffloadFeatures|offloadFeatures)
	if !r.on.Load() {
		t.Fatal("the backend's receive offload was not turned on")
	}
	n.post(32, 4096)
	frame := make([]byte, 20000)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	h := offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSOTCPv4, 66, 1448, 34, 16)
	p.in <- append(h, frame...)
	hdr, got := n.recv()
	if !bytes.Equal(got, frame) {
		t.Fatalf("frame of %d bytes arrived as %d bytes, or changed", len(frame), len(got))
	}
	if !bytes.Equal(hdr[:vnet.HeaderNumBuffers], h[:vnet.HeaderNumBuffers]) {
		t.Errorf("header %x, want %x", hdr[:vnet.HeaderNumBuffers], h[:vnet.HeaderNumBuffers])
	}
	if nb := binary.LittleEndian.Uint16(hdr[vnet.HeaderNumBuffers:]); nb != 5 {
		t.Errorf("num_buffers %d, want 5 (20012 bytes in 4096-byte buffers)", nb)
	}

	// A driver that does not accept it: offload off, headers cleared.
	p2 := newPipe()
	r2 := &rxOffloadPipe{pollPipe: newPollPipe(t, p2)}
	n2 := startNet(t, vnet.Config{Backend: r2}, vnet.FeatureMrgRxbuf)
	if r2.on.Load() || r2.sets.Load() == 0 {
		t.Fatalf("receive offload on %v after %d calls, want off", r2.on.Load(), r2.sets.Load())
	}
	n2.post(8, 4096)
	p2.in <- append(offloadHdr(vnet.HeaderFNeedsCsum, vnet.GSONone, 0, 0, 34, 16), frame[:100]...)
	hdr, got = n2.recv()
	if !bytes.Equal(got, frame[:100]) || !bytes.Equal(hdr[:vnet.HeaderNumBuffers], make([]byte, vnet.HeaderNumBuffers)) {
		t.Errorf("without offload: header %x, %d bytes", hdr, len(got))
	}
}
