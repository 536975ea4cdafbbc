package net_test

import (
	"bytes"
	"errors"
	"fmt"
	stdnet "net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"brique.dev/brique/internal/kvmtest"
	vnet "brique.dev/brique/monitor/virtio/net"
)

func TestOpenTAPErrors(t *testing.T) {
	for _, name := range []string{"", "a-name-longer-than-15"} {
		if _, err := vnet.OpenTAP(name); err == nil || !strings.Contains(err.Error(), "1 to 15 characters") {
			t.Errorf("OpenTAP(%q) = %v", name, err)
		}
	}
}

// netns creates a network namespace for the test (deleted at the end) and
// returns its name. Without root, the ip command or TUN support it skips,
// or fails where CI runs it (BRIQUE_REQUIRE_KVM set: CI runs as root).
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		kvmtest.Require(t, errors.New("needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create a network namespace and a TAP device"))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		kvmtest.Require(t, errors.New("needs the ip command (iproute2)"))
	}
	if _, err := os.Stat(vnet.TUNDevice); err != nil {
		kvmtest.Require(t, fmt.Errorf("no %s: %v", vnet.TUNDevice, err))
	}
	ns := fmt.Sprintf("brique-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		kvmtest.Require(t, fmt.Errorf("cannot create a network namespace: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// inNetns runs f on an OS thread that joined the namespace ns (the thread
// is discarded afterwards). File descriptors opened there stay in ns.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// readFrame reads frames from b until match accepts one (or timeout).
func readFrame(t *testing.T, frames <-chan []byte, what string, match func(p parsed) bool) []byte {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("%s: backend closed", what)
			}
			if match(parse(f)) {
				return f
			}
		case <-timeout:
			t.Fatalf("%s: not seen within 5 s", what)
		}
	}
}

func readAll(b vnet.Backend) <-chan []byte {
	c := make(chan []byte, 1024)
	go func() {
		defer close(c)
		buf := make([]byte, 65536)
		for {
			n, err := b.ReadPacket(buf)
			if err != nil {
				return
			}
			c <- append([]byte(nil), buf[:n]...)
		}
	}()
	return c
}

var guestMAC = stdnet.HardwareAddr{0x02, 0xb1, 0x0c, 0x00, 0x00, 0x02}

func TestTAPBackend(t *testing.T) {
	ns := netns(t)
	var tap *vnet.TAP
	var raw int
	var errLo, errTun error
	inNetns(t, ns, func() {
		var err error
		if tap, err = vnet.OpenTAP("bq0"); err != nil {
			t.Error(err)
			return
		}
		_, errLo = vnet.OpenTAP("lo")
		// A TUN (layer 3) interface is not a TAP.
		if out, err := exec.Command("ip", "tuntap", "add", "dev", "bqtun", "mode", "tun").CombinedOutput(); err != nil {
			t.Errorf("creating a TUN device: %v: %s", err, out)
		}
		_, errTun = vnet.OpenTAP("bqtun")
		// A raw socket on the interface sees what the backend writes.
		ifi, err := stdnet.InterfaceByName("bq0")
		if err != nil {
			t.Error(err)
			return
		}
		raw, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			t.Error(err)
			return
		}
		if err := unix.Bind(raw, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			t.Error(err)
		}
		unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 0, Usec: 200000})
	})
	if t.Failed() {
		return
	}
	defer unix.Close(raw)
	if errLo == nil || !strings.Contains(errLo.Error(), "not a TAP device") {
		t.Errorf("OpenTAP(lo) = %v, want a 'not a TAP device' error", errLo)
	}
	if errTun == nil || !strings.Contains(errTun.Error(), "not a TAP device") {
		t.Errorf("OpenTAP(bqtun) = %v, want a 'not a TAP device' error", errTun)
	}
	ipIn(t, ns, "addr", "add", "10.99.0.1/24", "dev", "bq0")
	ipIn(t, ns, "link", "set", "bq0", "up")
	frames := readAll(tap)

	// 1. A frame written to the backend appears on the interface.
	arp := arpFrame(header.ARPRequest, broadcast, guestMAC, "10.99.0.2", "10.99.0.1", make([]byte, 6))
	if err := tap.WritePacket([][]byte{arp[:20], arp[20:]}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for seen := false; !seen; {
		if time.Now().After(deadline) {
			t.Fatal("the raw socket did not see the frame written to the TAP backend")
		}
		n, _, err := unix.Recvfrom(raw, buf, 0)
		if err != nil {
			continue
		}
		seen = bytes.Equal(buf[:n], arp)
	}
	// 2. The kernel answers: its ARP reply comes out of the backend.
	readFrame(t, frames, "ARP reply from the host", func(p parsed) bool {
		return p.arp != nil && p.arp.Op() == header.ARPReply && bytes.Equal(p.arp.ProtocolAddressSender(), []byte{10, 99, 0, 1}) &&
			string(p.eth.DestinationAddress()) == string(guestMAC)
	})
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-frames:
		for ok {
			_, ok = <-frames
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket not unblocked by Close")
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestTAPDevice pings the namespace's kernel through the whole device: a
// driver on fake guest memory, the virtio-net device and the TAP backend.
func TestTAPDevice(t *testing.T) {
	ns := netns(t)
	var tap *vnet.TAP
	inNetns(t, ns, func() {
		var err error
		if tap, err = vnet.OpenTAP("bq1"); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	ipIn(t, ns, "addr", "add", "10.99.1.1/24", "dev", "bq1")
	ipIn(t, ns, "link", "set", "bq1", "up")
	n := startNet(t, vnet.Config{Backend: tap, MAC: guestMAC}, ^uint64(0))
	n.post(32, 1526)
	// The guest resolves the host's address, pings it, and answers the
	// kernel's own ARP request for the guest.
	n.send(arpFrame(header.ARPRequest, broadcast, guestMAC, "10.99.1.2", "10.99.1.1", make([]byte, 6)), 0)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, f := n.recv()
		n.post(1, 1526)
		p := parse(f)
		switch {
		case p.arp != nil && p.arp.Op() == header.ARPReply && bytes.Equal(p.arp.ProtocolAddressSender(), []byte{10, 99, 1, 1}):
			host := stdnet.HardwareAddr(append([]byte(nil), p.arp.HardwareAddressSender()...))
			n.send(ethernet(host, guestMAC, header.IPv4ProtocolNumber, icmpEcho("10.99.1.2", "10.99.1.1", 7, 1)), 1)
		case p.arp != nil && p.arp.Op() == header.ARPRequest && bytes.Equal(p.arp.ProtocolAddressTarget(), []byte{10, 99, 1, 2}):
			host := stdnet.HardwareAddr(append([]byte(nil), p.arp.HardwareAddressSender()...))
			n.send(arpFrame(header.ARPReply, host, guestMAC, "10.99.1.2", "10.99.1.1", host), 2)
		case p.icmp != nil && p.icmp.Type() == header.ICMPv4EchoReply:
			if p.icmp.Ident() != 7 {
				t.Fatalf("echo reply for ident %d", p.icmp.Ident())
			}
			t.Logf("echo reply received; stats %+v", n.dev.Stats())
			return
		}
	}
	t.Fatal("no echo reply through the TAP device")
}

// TestInterfaceUp: InterfaceUp follows the interface's IFF_UP flag, and
// says when there is no such interface.
func TestInterfaceUp(t *testing.T) {
	ns := netns(t)
	ipIn(t, ns, "tuntap", "add", "dev", "bq2", "mode", "tap")
	check := func(name string, wantUp bool, wantErr error) {
		t.Helper()
		var up bool
		var err error
		inNetns(t, ns, func() { up, err = vnet.InterfaceUp(name) })
		if up != wantUp || !errors.Is(err, wantErr) { // errors.Is(err, nil): err == nil
			t.Errorf("InterfaceUp(%q) = %v, %v; want %v, %v", name, up, err, wantUp, wantErr)
		}
	}
	check("bq2", false, nil) // ip tuntap add leaves it down
	ipIn(t, ns, "link", "set", "bq2", "up")
	check("bq2", true, nil)
	check("lo", false, nil) // a new namespace's loopback is down too
	check("bq-none", false, unix.ENODEV)
	ipIn(t, ns, "link", "set", "bq2", "down")
	check("bq2", false, nil)
}
