package net_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

// The user-mode network tests drive brique-netd, built once per test
// binary, through StartUserNet and the socket backend.

var (
	netdOnce sync.Once
	netdPath string
	netdErr  error
	netdDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if netdDir != "" {
		os.RemoveAll(netdDir)
	}
	os.Exit(code)
}

// netd builds cmd/brique-netd (once) and returns its path.
func netd(t *testing.T) string {
	t.Helper()
	netdOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			netdErr = fmt.Errorf("no go command to build brique-netd: %w", err)
			return
		}
		if netdDir, err = os.MkdirTemp("", "brique-netd-test-"); err != nil {
			netdErr = err
			return
		}
		p := filepath.Join(netdDir, vnet.NetdName)
		out, err := exec.Command(gobin, "build", "-o", p, "brique.dev/brique/cmd/brique-netd").CombinedOutput()
		if err != nil {
			netdErr = fmt.Errorf("go build brique-netd: %v\n%s", err, out)
			return
		}
		netdPath = p
	})
	if netdErr != nil {
		t.Fatal(netdErr)
	}
	return netdPath
}

// startUserNet starts a daemon and checks at the end of the test that it
// exited cleanly when the backend was closed and left nothing behind.
func startUserNet(t *testing.T, fwd []vnet.PortForward) *vnet.UserNet {
	t.Helper()
	u, err := vnet.StartUserNet(netd(t), fwd, vnet.UserNetOptions{Stderr: tlog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Error(err)
		}
		checkGone(t, u)
	})
	return u
}

// tlog sends the daemon's stderr to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Logf("brique-netd: %s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

// checkGone checks that u's daemon exited successfully and was reaped.
func checkGone(t *testing.T, u *vnet.UserNet) {
	t.Helper()
	st := u.Wait()
	if st == nil || !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("brique-netd: %v, want exit status 0", st)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", u.Process().Pid)); err == nil {
		t.Errorf("brique-netd (pid %d) is still there", u.Process().Pid)
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
	u      vnet.Backend
	frames chan []byte
}

func newGuest(t *testing.T, u vnet.Backend) *guest {
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

func TestUserNetGateway(t *testing.T) {
	u := startUserNet(t, nil)
	g := newGuest(t, u)

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

	// A runt is refused by the backend; one that reaches the daemon
	// anyway is dropped there (it used to crash the library's switch).
	if err := u.WritePacket([][]byte{make([]byte, 13)}); err == nil {
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

func TestUserNetPortForward(t *testing.T) {
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	lo := netip.MustParseAddr("127.0.0.1")
	u := startUserNet(t, []vnet.PortForward{
		{HostIP: lo, HostPort: tcpPort, GuestPort: 80, Proto: "tcp"},
		{HostIP: lo, HostPort: udpPort, GuestPort: 53, Proto: "udp"},
	})
	if len(u.Forwards()) != 2 {
		t.Fatalf("forwards %v", u.Forwards())
	}
	g := newGuest(t, u)

	// TCP: StartUserNet returned, so the port listens; a host connection
	// to it becomes a SYN to the guest's port 80.
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
	readFrame(t, g.frames, "datagram to the guest's port 53", func(p parsed) bool {
		return p.udp != nil && p.udp.DestinationPort() == 53 && string(p.udp.Payload()) == "query"
	})

	// The port is taken: a second daemon cannot forward it, and says so.
	_, err = vnet.StartUserNet(netd(t), []vnet.PortForward{{HostIP: lo, HostPort: tcpPort, GuestPort: 80, Proto: "tcp"}}, vnet.UserNetOptions{})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(int(tcpPort))) || !strings.Contains(err.Error(), "brique-netd") {
		t.Errorf("forwarding a port in use: %v", err)
	} else {
		t.Logf("forwarding a port in use: %v", err)
	}
}

// TestUserNetToHost connects from the guest to the host's loopback
// through netconf.HostIP.
func TestUserNetToHost(t *testing.T) {
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
	g := newGuest(t, startUserNet(t, nil))
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

// TestUserNetDevice runs DHCP through the whole device on the user-mode
// network: driver, virtio-net, socket backend, brique-netd.
func TestUserNetDevice(t *testing.T) {
	u, err := vnet.StartUserNet(netd(t), nil, vnet.UserNetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkGone(t, u) }) // runs after the bus's cleanup, which closes u
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

// TestUserNetLifetime checks the daemon's lifetime rules: closing the
// socket ends it and its port forwards, and so does SIGTERM (the backend
// then reads end of file).
func TestUserNetLifetime(t *testing.T) {
	port := freePort(t, "tcp")
	fwd := []vnet.PortForward{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, GuestPort: 80, Proto: "tcp"}}
	start := time.Now()
	u, err := vnet.StartUserNet(netd(t), fwd, vnet.UserNetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartUserNet: ready after %v", time.Since(start))
	addr := stdnet.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if c, err := stdnet.Dial("tcp", addr); err != nil {
		t.Fatalf("the forwarded port does not listen after StartUserNet: %v", err)
	} else {
		c.Close()
	}
	start = time.Now()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close: the daemon exited after %v", time.Since(start))
	checkGone(t, u)
	if c, err := stdnet.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the forwarded port still listens after Close")
	}
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// SIGTERM.
	u, err = vnet.StartUserNet(netd(t), nil, vnet.UserNetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Process().Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	if _, err := u.ReadPacket(buf); !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
		t.Errorf("ReadPacket after the daemon exited: %v, want end of file", err)
	} else {
		t.Logf("ReadPacket after SIGTERM: %v", err)
	}
	checkGone(t, u)
	if err := u.WritePacket([][]byte{make([]byte, 60)}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WritePacket after the daemon exited: %v, want os.ErrClosed", err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("Close after SIGTERM: %v", err)
	}
}

func TestUserNetErrors(t *testing.T) {
	dir := t.TempDir()

	// No such executable: the error says how to build it.
	missing := filepath.Join(dir, "missing", vnet.NetdName)
	_, err := vnet.StartUserNet(missing, nil, vnet.UserNetOptions{})
	if !errors.Is(err, vnet.ErrNoNetd) || !strings.Contains(err.Error(), "go build -o "+missing+" ./cmd/brique-netd") {
		t.Errorf("missing daemon: %v", err)
	}

	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, body string
		want       string
	}{
		{"exits", "exit 3", "exited (exit status 3) without becoming ready (run it with -debug to see more)"},
		{"hangs", "exec sleep 30", "not ready after 300ms"},
		{"babbles", "echo hello", `unexpected first line "hello"`},
		{"fails", "echo 'error: -p 1:2: address in use'; exit 1", "brique-netd: -p 1:2: address in use"},
	} {
		start := time.Now()
		_, err := vnet.StartUserNet(script(c.name, c.body), nil, vnet.UserNetOptions{Timeout: 300 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: took %v", c.name, d)
		}
	}

	// The real daemon refuses a descriptor that is not a SEQPACKET
	// socket, and bad flags.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-fd", "0"}, "error: descriptor 0 is not a socket"},
		{[]string{"-fd", "9"}, "error: descriptor 9 is not open"},
		{[]string{"-p", "80"}, `error: invalid value "80" for flag -p`},
		{[]string{"extra"}, "error: unexpected arguments"},
	} {
		cmd := exec.Command(netd(t), c.args...)
		cmd.Stdin, _ = os.Open(os.DevNull)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if !strings.HasPrefix(string(out), c.want) || err == nil || stderr.Len() != 0 {
			t.Errorf("brique-netd %v: %v, stdout %q, stderr %q; want %q", c.args, err, out, stderr.String(), c.want)
		}
	}
}

func TestFindNetd(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, vnet.NetdName)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(vnet.NetdEnv, "")
	t.Setenv("PATH", dir)
	if got, err := vnet.FindNetd(); err != nil || got != p {
		t.Errorf("FindNetd with %s in $PATH = %q, %v", p, got, err)
	}
	t.Setenv("PATH", t.TempDir())
	got, err := vnet.FindNetd()
	if !errors.Is(err, vnet.ErrNoNetd) || !strings.Contains(err.Error(), "go install ./cmd/brique-netd") {
		t.Errorf("FindNetd without brique-netd = %q, %v", got, err)
	} else {
		t.Log(err)
	}
	if _, err := vnet.StartUserNet("", nil, vnet.UserNetOptions{}); !errors.Is(err, vnet.ErrNoNetd) {
		t.Errorf("StartUserNet without brique-netd: %v", err)
	}
	// $BRIQUE_NETD comes first.
	t.Setenv(vnet.NetdEnv, p)
	if got, err := vnet.FindNetd(); err != nil || got != p {
		t.Errorf("FindNetd with $%s=%s = %q, %v", vnet.NetdEnv, p, got, err)
	}
	t.Setenv(vnet.NetdEnv, filepath.Join(dir, "nothing"))
	if _, err := vnet.FindNetd(); !errors.Is(err, vnet.ErrNoNetd) || !strings.Contains(err.Error(), "go build -o") {
		t.Errorf("FindNetd with a bad $%s: %v", vnet.NetdEnv, err)
	}
}
