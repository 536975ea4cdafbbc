package main

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

// The test binary doubles as the daemon: StartUserNet runs it with
// $BRIQUE_NETD_TEST_MAIN set.
func TestMain(m *testing.M) {
	if os.Getenv("BRIQUE_NETD_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func self(t *testing.T) string {
	t.Helper()
	t.Setenv("BRIQUE_NETD_TEST_MAIN", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func arpRequest() []byte {
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
	copy(a.ProtocolAddressTarget(), netconf.GatewayIP4[:])
	return b
}

// arp asks the gateway for its address through u.
func arp(t *testing.T, u *vnet.UserNet) {
	t.Helper()
	if err := u.WritePacket([][]byte{arpRequest()}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := u.ReadPacket(buf)
			if err != nil {
				got <- err
				return
			}
			f := buf[:n]
			if header.Ethernet(f).Type() == header.ARPProtocolNumber && n >= header.EthernetMinimumSize+header.ARPSize &&
				header.ARP(f[header.EthernetMinimumSize:]).Op() == header.ARPReply {
				got <- nil
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ARP reply from the gateway")
	}
}

func TestDaemon(t *testing.T) {
	for _, debug := range []bool{false, true} {
		var stderr syncBuffer
		u, err := vnet.StartUserNet(self(t), nil, vnet.UserNetOptions{Debug: debug, Stderr: &stderr})
		if err != nil {
			t.Fatal(err)
		}
		arp(t, u)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		if st := u.Wait(); st == nil || st.ExitCode() != 0 {
			t.Errorf("exit: %v", st)
		}
		log := stderr.String()
		if debug && !strings.Contains(log, "brique-netd: ready") || debug && !strings.Contains(log, "closed the socket, exiting") {
			t.Errorf("-debug log:\n%s", log)
		}
		if !debug && log != "" {
			t.Errorf("the daemon wrote to stderr without -debug:\n%s", log)
		}
	}
}

func TestDaemonSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		u, err := vnet.StartUserNet(self(t), nil, vnet.UserNetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Process().Signal(sig); err != nil {
			t.Fatal(err)
		}
		if st := u.Wait(); st == nil || st.ExitCode() != 0 {
			t.Errorf("after %v: %v, want exit status 0", sig, st)
		}
		u.Close()
	}
}

func TestDaemonBadForward(t *testing.T) {
	// An address the host does not have (TEST-NET-1): the daemon cannot
	// listen there, and says so.
	bad := netip.MustParseAddr("192.0.2.1")
	_, err := vnet.StartUserNet(self(t), []vnet.PortForward{{HostPort: 1, GuestPort: 1, Proto: "tcp", HostIP: bad}}, vnet.UserNetOptions{})
	if err == nil || !strings.Contains(err.Error(), "-p 192.0.2.1:1:1/tcp") {
		t.Errorf("forward on an address the host does not have: %v", err)
	}
}
