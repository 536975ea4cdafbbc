package net

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortForward is one -p flag: connections (or datagrams) to HostIP:HostPort
// on the host go to the guest's GuestPort.
type PortForward struct {
	HostIP    netip.Addr // unspecified (0.0.0.0): all interfaces
	HostPort  uint16
	GuestPort uint16
	Proto     string // "tcp" or "udp"
}

// String formats f in the -p syntax.
func (f PortForward) String() string {
	host := ""
	if f.HostIP.IsValid() && f.HostIP != netip.IPv4Unspecified() {
		host = f.HostIP.String() + ":"
		if f.HostIP.Is6() {
			host = "[" + f.HostIP.String() + "]:"
		}
	}
	return fmt.Sprintf("%s%d:%d/%s", host, f.HostPort, f.GuestPort, f.Proto)
}

// ParsePortForward parses the docker-style flag value
// [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp], for example "8080:80",
// "127.0.0.1:8080:80/tcp", "[::1]:5353:53/udp". Without HOSTIP the port
// listens on all interfaces (0.0.0.0), as with docker run -p; the protocol
// defaults to tcp.
func ParsePortForward(s string) (PortForward, error) {
	f := PortForward{Proto: "tcp"}
	bad := func(why string) (PortForward, error) {
		return PortForward{}, fmt.Errorf("-p %q: %s (want [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp])", s, why)
	}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		f.Proto = strings.ToLower(rest[i+1:])
		if f.Proto != "tcp" && f.Proto != "udp" {
			return bad("protocol must be tcp or udp")
		}
		rest = rest[:i]
	}
	var host string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return bad("unterminated [IPv6] address")
		}
		host, rest = rest[1:end], rest[end+2:]
	}
	parts := strings.Split(rest, ":")
	switch {
	case len(parts) == 3 && host == "":
		host, parts = parts[0], parts[1:]
	case len(parts) != 2:
		return bad("need a host port and a guest port")
	}
	f.HostIP = netip.IPv4Unspecified()
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return bad(fmt.Sprintf("bad host IP %q", host))
		}
		f.HostIP = ip.Unmap()
	}
	port := func(p, what string) (uint16, error) {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("bad %s port %q (1-65535)", what, p)
		}
		return uint16(n), nil
	}
	var err error
	if f.HostPort, err = port(parts[0], "host"); err != nil {
		return bad(err.Error())
	}
	if f.GuestPort, err = port(parts[1], "guest"); err != nil {
		return bad(err.Error())
	}
	return f, nil
}
