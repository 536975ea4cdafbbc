package usernet_test

import (
	"bytes"
	"context"
	"errors"
	stdnet "net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/net/usernet"
	"brique.dev/brique/monitor/virtio/netconf"
)

// serve runs n on one end of a socket pair and returns a socket backend
// on the other end, a duplicate of its descriptor (to write runts with),
// and Serve's result.
func serve(t *testing.T, ctx context.Context, n *usernet.Network) (*vnet.Socket, int, <-chan error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "network end")
	conn, err := stdnet.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := unix.Dup(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	s, err := vnet.NewSocketFD(fds[0], "guest end")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); unix.Close(raw) })
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, conn) }()
	return s, raw, done
}

func arpRequest(target [4]byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(netconf.GuestMAC6[:]),
		DstAddr: tcpip.LinkAddress([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		Type:    header.ARPProtocolNumber,
	})
	a := header.ARP(b[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), netconf.GuestMAC6[:])
	copy(a.ProtocolAddressSender(), netconf.GuestIP4[:])
	copy(a.ProtocolAddressTarget(), target[:])
	return b
}

// arpReply waits for the gateway's ARP reply.
func arpReply(t *testing.T, s *vnet.Socket) {
	t.Helper()
	got := make(chan bool, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := s.ReadPacket(buf)
			if err != nil {
				got <- false
				return
			}
			f := buf[:n]
			if header.Ethernet(f).Type() != header.ARPProtocolNumber || len(f) < header.EthernetMinimumSize+header.ARPSize {
				continue
			}
			a := header.ARP(f[header.EthernetMinimumSize:])
			if a.Op() == header.ARPReply && bytes.Equal(a.HardwareAddressSender(), netconf.GatewayMAC6[:]) {
				got <- true
				return
			}
		}
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("no ARP reply from the gateway: the socket closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ARP reply from the gateway within 5 s")
	}
}

func TestServe(t *testing.T) {
	n, err := usernet.New(usernet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s, raw, done := serve(t, context.Background(), n)
	// Runts are dropped (the library's switch would read an Ethernet
	// header past them), then an ARP request is answered.
	for _, size := range []int{1, 13} {
		if _, err := unix.Write(raw, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WritePacket([][]byte{arpRequest(netconf.GatewayIP4)}); err != nil {
		t.Fatal(err)
	}
	arpReply(t, s)
	// The guest's end closes: Serve returns nil.
	s.Close()
	unix.Close(raw)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after the peer closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the peer closed")
	}
}

// TestServeUnreadClose closes the guest's end while a frame for it is
// still queued: the network reads ECONNRESET rather than end of file,
// which is a normal end all the same.
func TestServeUnreadClose(t *testing.T) {
	n, err := usernet.New(usernet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s, raw, done := serve(t, context.Background(), n)
	if err := s.WritePacket([][]byte{arpRequest(netconf.GatewayIP4)}); err != nil {
		t.Fatal(err)
	}
	// Wait until the reply is queued, without reading it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.IoctlGetInt(raw, unix.SIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frame queued for the guest")
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	unix.Close(raw)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after the peer closed with unread frames: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the peer closed")
	}
}

func TestServeCancel(t *testing.T) {
	n, err := usernet.New(usernet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s, _, done := serve(t, ctx, n)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	// The network's end is closed: the guest's end reads end of file.
	if _, err := s.ReadPacket(make([]byte, 2048)); err == nil {
		t.Error("ReadPacket after Serve ended succeeded")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := usernet.New(usernet.Config{MTU: 20}); err == nil || !strings.Contains(err.Error(), "MTU 20") {
		t.Errorf("MTU 20: %v", err)
	}
	if _, err := usernet.New(usernet.Config{Forwards: []vnet.PortForward{{HostPort: 1, GuestPort: 1, Proto: "sctp"}}}); err == nil || !strings.Contains(err.Error(), "tcp or udp") {
		t.Errorf("sctp: %v", err)
	}
	l, err := stdnet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*stdnet.TCPAddr).Port)
	lo := netip.MustParseAddr("127.0.0.1")
	_, err = usernet.New(usernet.Config{Forwards: []vnet.PortForward{{HostIP: lo, HostPort: port, GuestPort: 80, Proto: "tcp"}}})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(int(port))) {
		t.Errorf("forwarding a port in use: %v", err)
	}
	// Forwards are listed, and Close ends them.
	free := freePort(t)
	n, err := usernet.New(usernet.Config{Forwards: []vnet.PortForward{{HostIP: lo, HostPort: free, GuestPort: 80, Proto: "tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	if f := n.Forwards(); len(f) != 1 || f[0].HostPort != free {
		t.Errorf("forwards %v", f)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := stdnet.Dial("tcp", stdnet.JoinHostPort("127.0.0.1", strconv.Itoa(int(free)))); err == nil {
		c.Close()
		t.Error("the forwarded port still listens after Close")
	}
}

func freePort(t *testing.T) uint16 {
	l, err := stdnet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*stdnet.TCPAddr).Port)
}
