package net

import (
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// segment builds an outgoing TCP/IPv4 packet as the stack hands it to
// the link: headers pushed, payload after them.
func segment(t *testing.T, srcPort uint16, flags header.TCPFlags, ack uint32, payload string, opts []byte) *stack.PacketBuffer {
	t.Helper()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: header.IPv4MinimumSize + header.TCPMinimumSize + len(opts),
		Payload:            buffer.MakeWithData([]byte(payload)),
	})
	th := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize + len(opts)))
	th.Encode(&header.TCPFields{SrcPort: srcPort, DstPort: 8080, AckNum: ack, DataOffset: uint8(header.TCPMinimumSize + len(opts)), Flags: flags, WindowSize: 1000})
	copy(th[header.TCPMinimumSize:], opts)
	pkt.TransportProtocolNumber = header.TCPProtocolNumber
	ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(pkt.Size()), Protocol: uint8(header.TCPProtocolNumber), TTL: 64,
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1})})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return pkt
}

// sent runs filter and names what it returned: "pkt" for the packet
// itself, else the label of a held packet.
func sent(a *ackHolder, pkt *stack.PacketBuffer, labels map[*stack.PacketBuffer]string) []string {
	var names []string
	for _, p := range a.filter(pkt, nil) {
		if p == pkt {
			names = append(names, "pkt")
		} else {
			names = append(names, labels[p])
			p.DecRef()
		}
	}
	return names
}

func eq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tseg describes a segment of the tests: connection (source port),
// flags, acknowledgement number, data, TCP options.
type tseg struct {
	port    uint16
	flags   header.TCPFlags
	ack     uint32
	payload string
	opts    []byte
}

func TestAckHolder(t *testing.T) {
	ack, psh := header.TCPFlagAck, header.TCPFlagPsh
	sackOpt := []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	tsOpt := []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	for _, tc := range []struct {
		name string
		// segments of connection A (port 1000) or B (port 2000), in order
		segs []tseg
		want [][]string // what each filter call sends
		left int        // held at the end
	}{
		{"response supersedes the ACK", []tseg{{1000, ack, 100, "", tsOpt}, {1000, ack | psh, 100, "HTTP/1.1 200 OK", nil}},
			[][]string{nil, {"pkt"}}, 0},
		{"second ACK goes, first dropped", []tseg{{1000, ack, 100, "", nil}, {1000, ack, 3000, "", nil}},
			[][]string{nil, {"pkt"}}, 0},
		{"duplicate ACK sends both", []tseg{{1000, ack, 100, "", nil}, {1000, ack, 100, "", nil}},
			[][]string{nil, {"seg0", "pkt"}}, 0},
		{"SACK blocks are never held", []tseg{{1000, ack, 100, "", sackOpt}},
			[][]string{{"pkt"}}, 0},
		{"SYN, FIN, RST and data are never held", []tseg{{1000, header.TCPFlagSyn, 0, "", nil}, {2000, ack | header.TCPFlagFin, 5, "", nil}, {3000, header.TCPFlagRst, 0, "", nil}, {4000, ack, 5, "x", nil}},
			[][]string{{"pkt"}, {"pkt"}, {"pkt"}, {"pkt"}}, 0},
		{"a bare RST sends the held ACK first", []tseg{{1000, ack, 100, "", nil}, {1000, header.TCPFlagRst, 0, "", nil}},
			[][]string{nil, {"seg0", "pkt"}}, 0},
		{"a stream's ACKs go at once", []tseg{{1000, ack | psh, 100, "resp", nil}, {1000, ack, 100 + streamAck, "", nil}, {1000, ack, 100 + 3*streamAck, "", nil}},
			[][]string{{"pkt"}, {"pkt"}, {"pkt"}}, 0},
		{"a request's ACK is held", []tseg{{1000, ack | psh, 100, "resp", nil}, {1000, ack, 99 + streamAck, "", nil}},
			[][]string{{"pkt"}, nil}, 1},
		{"an unknown connection's ACK is held", []tseg{{1000, ack | psh, 100, "resp", nil}, {2000, ack, 100 + streamAck, "", nil}},
			[][]string{{"pkt"}, nil}, 1},
		{"connections are apart", []tseg{{1000, ack, 100, "", nil}, {2000, ack, 100, "", nil}, {2000, ack | psh, 100, "data", nil}},
			[][]string{nil, nil, {"pkt"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a ackHolder
			labels := map[*stack.PacketBuffer]string{}
			for i, s := range tc.segs {
				pkt := segment(t, s.port, s.flags, s.ack, s.payload, s.opts)
				labels[pkt] = "seg" + string(rune('0'+i))
				if got := sent(&a, pkt, labels); !eq(got, tc.want[i]) {
					t.Errorf("segment %d: sent %v, want %v", i, got, tc.want[i])
				}
			}
			if len(a.held) != tc.left {
				t.Errorf("%d held at the end, want %d", len(a.held), tc.left)
			}
			out := a.flush(nil)
			if len(out) != tc.left || a.pending() {
				t.Errorf("flush returned %d, pending %v", len(out), a.pending())
			}
			for _, p := range out {
				p.DecRef()
			}
		})
	}
}

func TestAckHolderBound(t *testing.T) {
	var a ackHolder
	for i := 0; i < maxHeldAcks+3; i++ {
		pkt := segment(t, uint16(1000+i), header.TCPFlagAck, 1, "", nil)
		out := a.filter(pkt, nil)
		if i < maxHeldAcks && len(out) != 0 || i >= maxHeldAcks && len(out) != 1 {
			t.Fatalf("ACK %d: sent %d", i, len(out))
		}
	}
	for _, p := range a.flush(nil) {
		p.DecRef()
	}
}

func TestHasSACK(t *testing.T) {
	for _, tc := range []struct {
		opts []byte
		want bool
	}{
		{nil, false},
		{[]byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, 10, 1, 2, 3, 4, 5, 6, 7, 8}, false},
		{[]byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionSACK, 10, 1, 2, 3, 4, 5, 6, 7, 8}, true},
		{[]byte{header.TCPOptionEOL, header.TCPOptionSACK, 10}, false},
		{[]byte{header.TCPOptionTS, 0, header.TCPOptionSACK, 10}, false}, // malformed length
		{[]byte{header.TCPOptionTS}, false},
	} {
		if got := hasSACK(tc.opts); got != tc.want {
			t.Errorf("hasSACK(%v) = %v, want %v", tc.opts, got, tc.want)
		}
	}
}

// TestFlowSlot: connections that differ only by their IPv4 or IPv6
// peer's address (the same ports) land in different slots.
func TestFlowSlot(t *testing.T) {
	var a, b, c, d flowKey
	for _, k := range []*flowKey{&a, &b, &c, &d} {
		k[32], k[33], k[34], k[35] = 0x1f, 0x90, 0xc3, 0x50 // ports 8080 and 50000
	}
	a[3], b[3] = 1, 2                           // IPv4 sources 0.0.0.1 and 0.0.0.2
	c[0], c[15], d[0], d[15] = 0xfe, 1, 0xfe, 2 // IPv6 sources
	if a.slot() == b.slot() {
		t.Errorf("IPv4 peers 1 and 2 share slot %d", a.slot())
	}
	if c.slot() == d.slot() {
		t.Errorf("IPv6 peers 1 and 2 share slot %d", c.slot())
	}
}
