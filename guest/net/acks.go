package net

import (
	"encoding/binary"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Delayed ACKs at the link (decision 017). gVisor's TCP acknowledges
// received data at once, at the end of each batch of segments, where
// Linux delays the acknowledgement in the hope of sending it with the
// answer. For a request-response protocol that doubles the frames the
// guest sends: under wrk against the HTTP server, 1.8 frames per request
// instead of one, each a TAP write and a pass through the host's TCP
// input on the other side.
//
// So the link holds back a pure ACK (no data, no SYN, FIN or RST, no SACK
// blocks) for up to ackDelay, and drops it when the connection sends
// anything else with the ACK flag before then: that segment acknowledges
// as much (the stack's acknowledgement number only grows) and carries the
// current window. What could be harmed is bounded:
//   - A pure ACK that acknowledges at least two full segments beyond
//     the connection's previous acknowledgement is sent at once, as
//     Linux acknowledges every second full segment: the connection is
//     receiving a stream, and its sender's window and pacing depend on
//     these ACKs. (gVisor acknowledges once per batch of segments, and a
//     batch of 64 KiB frames from receive offload covers hundreds of
//     KiB; holding those ACKs cost a bulk upload into the guest about a
//     quarter of its rate.) The previous acknowledgements live in a
//     small direct-mapped table; a connection missing from it (new, or
//     evicted) is treated as a request-response one.
//   - A second pure ACK of the same connection while one is held is
//     sent at once (and the held one dropped).
//   - A duplicate ACK (the same number as the held one: segments arrive
//     out of order) sends the held one and itself at once, so that the
//     peer's fast retransmit is not slowed; with SACK (negotiated with
//     every modern peer) such ACKs carry SACK blocks and are never held.
//   - Anything held is sent after ackDelay at the latest, far below any
//     retransmission timeout (Linux: 200 ms at least); a protocol whose
//     server speaks first waits at most that long for the end of the
//     handshake, a window update (the program read a full buffer) at most
//     that long.

// ackDelay is the longest a pure ACK is held back. (Linux delays ACKs by
// 40 ms and more.)
const ackDelay = time.Millisecond

// maxHeldAcks bounds the ACKs held at once (one per connection); more are
// sent at once.
const maxHeldAcks = 64

// streamAck is the data a pure ACK must acknowledge, beyond the
// connection's previous acknowledgement, to be sent at once: two full
// Ethernet-sized segments.
const streamAck = 2 * 1460

// ackSlots is the size of the table of previous acknowledgements (a power
// of two).
const ackSlots = 256

// flowKey identifies a TCP connection by its addresses and ports, as
// seen in an outgoing segment.
type flowKey [36]byte

// heldAck is a pure ACK held back.
type heldAck struct {
	pkt  *stack.PacketBuffer // a reference of its own
	flow flowKey
	ack  uint32
}

// ackHolder decides which outgoing segments to hold back, drop or send.
// Not safe for concurrent use (the link calls it under its lock).
type ackHolder struct {
	held []heldAck
	// last[slot(flow)] is the acknowledgement number of the last segment
	// with the ACK flag the link sent or holds for flow.
	last [ackSlots]lastAck
}

// lastAck is one entry of ackHolder.last.
type lastAck struct {
	flow flowKey
	ack  uint32
	ok   bool
}

// filter takes one outgoing packet and appends to out the packets to send
// now, in order: nothing (pkt is held), pkt, or a held ACK of the same
// connection and then pkt. A held ACK it appends carries its own
// reference, which the caller gives up (DecRef) once the packet is sent;
// pkt stays the caller's.
func (a *ackHolder) filter(pkt *stack.PacketBuffer, out []*stack.PacketBuffer) []*stack.PacketBuffer {
	seg, ok := tcpSegment(pkt)
	if !ok {
		return append(out, pkt)
	}
	i := a.find(seg.flow)
	pure := seg.pureAck()
	stream := false
	if seg.flags&header.TCPFlagAck != 0 {
		e := &a.last[seg.flow.slot()]
		stream = e.ok && e.flow == seg.flow && seg.ack-e.ack >= streamAck
		*e = lastAck{flow: seg.flow, ack: seg.ack, ok: true}
	}
	switch {
	case i < 0 && pure && !stream && len(a.held) < maxHeldAcks:
		a.held = append(a.held, heldAck{pkt: pkt.IncRef(), flow: seg.flow, ack: seg.ack})
		return out
	case i < 0:
		return append(out, pkt)
	case pure && seg.ack == a.held[i].ack:
		// A duplicate ACK: both go, in order.
		out = append(out, a.take(i))
		return append(out, pkt)
	case seg.flags&header.TCPFlagAck != 0:
		// pkt acknowledges as much as the held ACK and more recently.
		a.take(i).DecRef()
		return append(out, pkt)
	default:
		// No ACK flag (a bare RST): the held ACK first.
		out = append(out, a.take(i))
		return append(out, pkt)
	}
}

// flush appends every held ACK to out (each with its reference) and
// holds none any more.
func (a *ackHolder) flush(out []*stack.PacketBuffer) []*stack.PacketBuffer {
	for _, h := range a.held {
		out = append(out, h.pkt)
	}
	clear(a.held)
	a.held = a.held[:0]
	return out
}

// pending reports whether an ACK is held.
func (a *ackHolder) pending() bool { return len(a.held) > 0 }

func (a *ackHolder) find(f flowKey) int {
	for i := range a.held {
		if a.held[i].flow == f {
			return i
		}
	}
	return -1
}

// slot is f's index in ackHolder.last: a hash of the ports and of the
// addresses' last bytes, which tell a server's connections apart (a
// collision only costs a held ACK, or one not held).
func (f *flowKey) slot() int {
	h := uint32(f[32])<<8 | uint32(f[33]) // source port
	h = h*31 + (uint32(f[34])<<8 | uint32(f[35]))
	// The addresses' last bytes: an IPv4 address fills bytes 0-3 and
	// 16-19 of the key, an IPv6 one 0-15 and 16-31.
	h = h*31 + (uint32(f[3]^f[15])<<8 | uint32(f[19]^f[31]))
	h ^= h >> 8
	return int(h & (ackSlots - 1))
}

// take removes held ACK i and returns its packet (with its reference).
func (a *ackHolder) take(i int) *stack.PacketBuffer {
	p := a.held[i].pkt
	last := len(a.held) - 1
	a.held[i] = a.held[last]
	a.held[last] = heldAck{}
	a.held = a.held[:last]
	return p
}

// tcpInfo is what the holder needs of an outgoing TCP segment.
type tcpInfo struct {
	flow    flowKey
	flags   header.TCPFlags
	ack     uint32
	payload int
	options []byte
}

// pureAck reports whether the segment only acknowledges: the ACK flag
// alone (PSH aside), no data, no SACK blocks.
func (s tcpInfo) pureAck() bool {
	return s.flags&^header.TCPFlagPsh == header.TCPFlagAck && s.payload == 0 && !hasSACK(s.options)
}

// hasSACK reports whether TCP options carry SACK blocks (kind 5, RFC
// 2018). (header.ParseTCPOptions would allocate.)
func hasSACK(opts []byte) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case header.TCPOptionEOL:
			return false
		case header.TCPOptionNOP:
			i++
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 {
				return false // malformed: nothing after it counts
			}
			if opts[i] == header.TCPOptionSACK {
				return true
			}
			i += int(opts[i+1])
		}
	}
	return false
}

// tcpSegment reads the TCP and IP headers of an outgoing packet.
func tcpSegment(pkt *stack.PacketBuffer) (tcpInfo, bool) {
	var s tcpInfo
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
		return s, false
	}
	nh, th := pkt.NetworkHeader().Slice(), header.TCP(pkt.TransportHeader().Slice())
	if len(th) < header.TCPMinimumSize || int(th.DataOffset()) > len(th) || int(th.DataOffset()) < header.TCPMinimumSize {
		return s, false
	}
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		if len(nh) < header.IPv4MinimumSize {
			return s, false
		}
		copy(s.flow[0:4], nh[12:16])   // source
		copy(s.flow[16:20], nh[16:20]) // destination
	case header.IPv6ProtocolNumber:
		if len(nh) < header.IPv6MinimumSize {
			return s, false
		}
		copy(s.flow[0:16], nh[8:24])
		copy(s.flow[16:32], nh[24:40])
	default:
		return s, false
	}
	binary.BigEndian.PutUint16(s.flow[32:], th.SourcePort())
	binary.BigEndian.PutUint16(s.flow[34:], th.DestinationPort())
	s.flags, s.ack, s.payload, s.options = th.Flags(), th.AckNumber(), pkt.Data().Size(), th.Options()
	return s, true
}
