package net_test

import (
	"encoding/binary"
	stdnet "net"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Hand-built frames (gVisor's header package does the encoding).

var broadcast = stdnet.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func ip4(s string) tcpip.Address { return tcpip.AddrFrom4Slice(stdnet.ParseIP(s).To4()) }

func ethernet(dst, src stdnet.HardwareAddr, typ tcpip.NetworkProtocolNumber, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(src), DstAddr: tcpip.LinkAddress(dst), Type: typ})
	copy(b[header.EthernetMinimumSize:], payload)
	return b
}

func arpFrame(op header.ARPOp, dst, src stdnet.HardwareAddr, srcIP, targetIP string, targetMAC stdnet.HardwareAddr) []byte {
	a := header.ARP(make([]byte, header.ARPSize))
	a.SetIPv4OverEthernet()
	a.SetOp(op)
	copy(a.HardwareAddressSender(), src)
	copy(a.ProtocolAddressSender(), stdnet.ParseIP(srcIP).To4())
	copy(a.HardwareAddressTarget(), targetMAC)
	copy(a.ProtocolAddressTarget(), stdnet.ParseIP(targetIP).To4())
	return ethernet(dst, src, header.ARPProtocolNumber, a)
}

func ipv4Packet(src, dst string, proto tcpip.TransportProtocolNumber, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(proto),
		SrcAddr:     ip4(src),
		DstAddr:     ip4(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(b[header.IPv4MinimumSize:], payload)
	return b
}

func udpPacket(src, dst string, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, header.UDPMinimumSize+len(payload))
	header.UDP(u).Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))})
	copy(u[header.UDPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip4(src), ip4(dst), uint16(len(u)))
	xsum = checksum(u, xsum)
	header.UDP(u).SetChecksum(^xsum)
	return ipv4Packet(src, dst, header.UDPProtocolNumber, u)
}

func tcpPacket(src, dst string, sport, dport uint16, seq, ack uint32, flags header.TCPFlags) []byte {
	t := header.TCP(make([]byte, header.TCPMinimumSize))
	t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip4(src), ip4(dst), uint16(len(t)))
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return ipv4Packet(src, dst, header.TCPProtocolNumber, t)
}

func icmpEcho(src, dst string, id, seq uint16) []byte {
	b := make([]byte, header.ICMPv4MinimumSize+8)
	ic := header.ICMPv4(b)
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(id)
	ic.SetSequence(seq)
	copy(b[header.ICMPv4MinimumSize:], "brique!!")
	ic.SetChecksum(^checksum(b, 0))
	return ipv4Packet(src, dst, header.ICMPv4ProtocolNumber, b)
}

// checksum is the Internet checksum of b added to initial (not inverted).
func checksum(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xFFFF {
		s = s&0xFFFF + s>>16
	}
	return uint16(s)
}

// parsed is a decoded frame.
type parsed struct {
	eth   header.Ethernet
	arp   header.ARP    // nil unless ARP
	ip    header.IPv4   // nil unless IPv4
	tcp   header.TCP    // nil unless TCP
	udp   header.UDP    // nil unless UDP
	icmp  header.ICMPv4 // nil unless ICMPv4
	proto tcpip.TransportProtocolNumber
}

func parse(b []byte) parsed {
	var p parsed
	if len(b) < header.EthernetMinimumSize {
		return p
	}
	p.eth = header.Ethernet(b)
	rest := b[header.EthernetMinimumSize:]
	switch p.eth.Type() {
	case header.ARPProtocolNumber:
		if len(rest) >= header.ARPSize {
			p.arp = header.ARP(rest)
		}
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(rest)
		if !ip.IsValid(len(rest)) {
			return p
		}
		p.ip = ip
		pl := ip.Payload()
		p.proto = ip.TransportProtocol()
		switch p.proto {
		case header.TCPProtocolNumber:
			if len(pl) >= header.TCPMinimumSize {
				p.tcp = header.TCP(pl)
			}
		case header.UDPProtocolNumber:
			if len(pl) >= header.UDPMinimumSize {
				p.udp = header.UDP(pl)
			}
		case header.ICMPv4ProtocolNumber:
			if len(pl) >= header.ICMPv4MinimumSize {
				p.icmp = header.ICMPv4(pl)
			}
		}
	}
	return p
}
