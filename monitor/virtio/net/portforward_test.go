package net_test

import (
	"net/netip"
	"strings"
	"testing"

	vnet "brique.dev/brique/monitor/virtio/net"
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
