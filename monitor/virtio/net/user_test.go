package net_test

import (
	"bytes"
	stdnet "net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

func TestParsePortForward(t *testing.T) {
	any4 := netip.IPv4Unspecified()
	for _, c := range []struct {
		in   string
		want vnet.PortForward
	}{
		{"8080:80", vnet.PortForward{HostIP: any4, HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
		{"8080:80/tcp", vnet.PortForward{HostIP: any4, HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
		{"5353:53/udp", vnet.PortForward{HostIP: any4, HostPort: 5353, GuestPort: 53, Proto: "udp"}},
		{"5353:53/UDP", vnet.PortForward{HostIP: any4, HostPort: 5353, GuestPort: 53, Proto: "udp"}},
		{"127.0.0.1:8080:80", vnet.PortForward{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
		{"0.0.0.0:1:65535/udp", vnet.PortForward{HostIP: any4, HostPort: 1, GuestPort: 65535, Proto: "udp"}},
		{"[::1]:8443:443", vnet.PortForward{HostIP: netip.MustParseAddr("::1"), HostPort: 8443, GuestPort: 443, Proto: "tcp"}},
		{"[::]:8443:443/tcp", vnet.PortForward{HostIP: netip.MustParseAddr("::"), HostPort: 8443, GuestPort: 443, Proto: "tcp"}},
	} {
		got, err := vnet.ParsePortForward(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePortForward(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		// String round-trips.
		again, err := vnet.ParsePortForward(got.String())
		if err != nil || again != got {
			t.Errorf("ParsePortForward(%q.String() = %q) = %+v, %v", c.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{
		"", "80", "8080", ":80", "8080:", "0:80", "8080:0", "65536:80", "8080:80/sctp", "8080:80/",
		"a:80", "8080:b", "1.2.3:8080:80", "localhost:8080:80", "[::1:8080:80", "::1:8080:80",
		"1.2.3.4:5:6:7", "8080-8090:80", "-1:80", "[fe80::1%eth0]:80:80", "8080:80/tcp/udp",
	} {
		if f, err := vnet.ParsePortForward(bad); err == nil {
			t.Errorf("ParsePortForward(%q) = %+v, want an error", bad, f)
		} else if !strings.Contains(err.Error(), "HOSTPORT:GUESTPORT") {
			t.Errorf("ParsePortForward(%q) error %q does not show the syntax", bad, err)
		}
	}
}

var (
	gatewayMAC = stdnet.HardwareAddr(netconf.GatewayMAC6[:])
	userMAC    = stdnet.HardwareAddr(netconf.GuestMAC6[:])
)

// guest plays the guest on the user-mode network: it answers ARP requests
// for netconf.GuestIP and passes every other frame to the test.
type guest struct {
	t      *testing.T
	u      *vnet.User
	frames chan []byte
}

func newGuest(t *testing.T, cfg vnet.UserConfig) *guest {
	u, err := vnet.NewUser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Error(err)
		}
	})
	g := &guest{t: t, u: u, frames: make(chan []byte, 256)}
	go func() {
		defer close(g.frames)
		for f := range readAll(u) {
			p := parse(f)
			if p.arp != nil && p.arp.Op() == header.ARPRequest && bytes.Equal(p.arp.ProtocolAddressTarget(), netconf.GuestIP4[:]) {
				sender := stdnet.HardwareAddr(append([]byte(nil), p.arp.HardwareAddressSender()...))
				senderIP := stdnet.IP(p.arp.ProtocolAddressSender()).String()
				u.WritePacket([][]byte{arpFrame(header.ARPReply, sender, userMAC, netconf.GuestIP, senderIP, sender)})
				continue
			}
			g.frames <- f
		}
	}()
	return g
}

func (g *guest) send(f []byte) {
	g.t.Helper()
	if err := g.u.WritePacket([][]byte{f}); err != nil {
		g.t.Fatal(err)
	}
}

func TestUserGateway(t *testing.T) {
	g := newGuest(t, vnet.UserConfig{})

	// ARP: the gateway answers for its address.
	g.send(arpFrame(header.ARPRequest, broadcast, userMAC, netconf.GuestIP, netconf.GatewayIP, make([]byte, 6)))
	readFrame(t, g.frames, "ARP reply from the gateway", func(p parsed) bool {
		return p.arp != nil && p.arp.Op() == header.ARPReply && bytes.Equal(p.arp.HardwareAddressSender(), gatewayMAC) &&
			bytes.Equal(p.arp.ProtocolAddressSender(), netconf.GatewayIP4[:])
	})

	// DHCP: the gateway offers netconf.GuestIP to netconf.GuestMAC, with
	// itself as router and DNS server.
	disc, err := dhcpv4.NewDiscovery(userMAC)
	if err != nil {
		t.Fatal(err)
	}
	g.send(ethernet(broadcast, userMAC, header.IPv4ProtocolNumber, udpPacket("0.0.0.0", "255.255.255.255", 68, 67, disc.ToBytes())))
	f := readFrame(t, g.frames, "DHCP offer", func(p parsed) bool {
		return p.udp != nil && p.udp.SourcePort() == 67 && p.udp.DestinationPort() == 68
	})
	offer, err := dhcpv4.FromBytes(parse(f).udp.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.Equal(stdnet.ParseIP(netconf.GuestIP)) {
		t.Fatalf("DHCP: %s offering %v", offer.MessageType(), offer.YourIPAddr)
	}
	if r := offer.Router(); len(r) != 1 || !r[0].Equal(stdnet.ParseIP(netconf.GatewayIP)) {
		t.Errorf("DHCP router %v", r)
	}
	if d := offer.DNS(); len(d) != 1 || !d[0].Equal(stdnet.ParseIP(netconf.DNSIP)) {
		t.Errorf("DHCP DNS %v", d)
	}
	if m := offer.SubnetMask(); m == nil || stdnet.IP(m).String() != "255.255.255.0" {
		t.Errorf("DHCP mask %v", m)
	}

	// ICMP: the gateway answers pings.
	g.send(ethernet(gatewayMAC, userMAC, header.IPv4ProtocolNumber, icmpEcho(netconf.GuestIP, netconf.GatewayIP, 42, 1)))
	readFrame(t, g.frames, "echo reply from the gateway", func(p parsed) bool {
		return p.icmp != nil && p.icmp.Type() == header.ICMPv4EchoReply && p.icmp.Ident() == 42
	})

	// A runt is refused, not passed to the switch.
	if err := g.u.WritePacket([][]byte{make([]byte, 13)}); err == nil {
		t.Error("13-byte frame accepted")
	}
}

// freePort returns a loopback TCP or UDP port that is free now.
func freePort(t *testing.T, proto string) uint16 {
	t.Helper()
	if proto == "udp" {
		c, err := stdnet.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*stdnet.UDPAddr).Port)
	}
	l, err := stdnet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*stdnet.TCPAddr).Port)
}

func TestUserPortForward(t *testing.T) {
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	lo := netip.MustParseAddr("127.0.0.1")
	g := newGuest(t, vnet.UserConfig{Forwards: []vnet.PortForward{
		{HostIP: lo, HostPort: tcpPort, GuestPort: 80, Proto: "tcp"},
		{HostIP: lo, HostPort: udpPort, GuestPort: 53, Proto: "udp"},
	}})
	if len(g.u.Forwards()) != 2 {
		t.Fatalf("forwards %v", g.u.Forwards())
	}

	// TCP: a host connection to the forwarded port becomes a SYN to the
	// guest's port 80.
	dialErr := make(chan error, 1)
	go func() {
		c, err := stdnet.DialTimeout("tcp", stdnet.JoinHostPort("127.0.0.1", strconv.Itoa(int(tcpPort))), 5*time.Second)
		if err == nil {
			c.Close()
		}
		dialErr <- err
	}()
	f := readFrame(t, g.frames, "SYN to the guest's port 80", func(p parsed) bool {
		return p.tcp != nil && p.tcp.DestinationPort() == 80 && p.tcp.Flags() == header.TCPFlagSyn &&
			bytes.Equal(p.ip.DestinationAddressSlice(), netconf.GuestIP4[:])
	})
	// Refuse it (RST) so that the proxy gives up.
	p := parse(f)
	g.send(ethernet(stdnet.HardwareAddr(p.eth.SourceAddress()), userMAC, header.IPv4ProtocolNumber,
		tcpPacket(netconf.GuestIP, p.ip.SourceAddress().String(), 80, p.tcp.SourcePort(), 0, p.tcp.SequenceNumber()+1, header.TCPFlagRst|header.TCPFlagAck)))
	<-dialErr // the proxy accepted the host connection and closed it, or failed: either is fine

	// UDP: a datagram to the forwarded port reaches the guest's port 53.
	c, err := stdnet.Dial("udp", stdnet.JoinHostPort("127.0.0.1", strconv.Itoa(int(udpPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	f = readFrame(t, g.frames, "datagram to the guest's port 53", func(p parsed) bool {
		return p.udp != nil && p.udp.DestinationPort() == 53 && string(p.udp.Payload()) == "query"
	})

	// The port is taken: a second network cannot forward it.
	_, err = vnet.NewUser(vnet.UserConfig{Forwards: []vnet.PortForward{{HostIP: lo, HostPort: tcpPort, GuestPort: 80, Proto: "tcp"}}})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(int(tcpPort))) {
		t.Errorf("forwarding a port in use: %v", err)
	}
}

// TestUserToHost connects from the guest to the host's loopback through
// netconf.HostIP.
func TestUserToHost(t *testing.T) {
	l, err := stdnet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*stdnet.TCPAddr).Port)
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	g := newGuest(t, vnet.UserConfig{})
	g.send(ethernet(gatewayMAC, userMAC, header.IPv4ProtocolNumber, tcpPacket(netconf.GuestIP, netconf.HostIP, 40000, port, 1000, 0, header.TCPFlagSyn)))
	readFrame(t, g.frames, "SYN-ACK from the host", func(p parsed) bool {
		return p.tcp != nil && p.tcp.SourcePort() == port && p.tcp.Flags() == header.TCPFlagSyn|header.TCPFlagAck && p.tcp.AckNumber() == 1001
	})
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the host listener saw no connection")
	}
}

// TestUserDevice runs DHCP through the whole device on the user-mode
// network: driver, virtio-net, user backend.
func TestUserDevice(t *testing.T) {
	u, err := vnet.NewUser(vnet.UserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := startNet(t, vnet.Config{Backend: u}, ^uint64(0))
	if !bytes.Equal(n.dev.MAC(), userMAC) {
		t.Fatalf("default MAC in user mode %v, want %v", n.dev.MAC(), userMAC)
	}
	n.post(16, 1526)
	disc, err := dhcpv4.NewDiscovery(userMAC)
	if err != nil {
		t.Fatal(err)
	}
	n.send(ethernet(broadcast, userMAC, header.IPv4ProtocolNumber, udpPacket("0.0.0.0", "255.255.255.255", 68, 67, disc.ToBytes())), 2)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, f := n.recv()
		n.post(1, 1526)
		if p := parse(f); p.udp != nil && p.udp.DestinationPort() == 68 {
			offer, err := dhcpv4.FromBytes(p.udp.Payload())
			if err != nil {
				t.Fatal(err)
			}
			if !offer.YourIPAddr.Equal(stdnet.ParseIP(netconf.GuestIP)) {
				t.Fatalf("offered %v", offer.YourIPAddr)
			}
			return
		}
	}
	t.Fatal("no DHCP offer through the device")
}
