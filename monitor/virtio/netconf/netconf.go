// Package netconf holds the IPv4 parameters that the user-mode network
// (package brique.dev/brique/monitor/virtio/net/usernet, gvisor-tap-vsock
// run by the brique-netd daemon) and the guest's network brick must agree
// on, and the kernel command line syntax that passes a static
// configuration to the guest.
//
// It has no dependencies and does not allocate in ParseCmdline, so the
// guest can import it. (These constants could move to package abi.)
//
// The user-mode network is the one podman machine and lima use:
//
//	192.168.127.0/24     the virtual network
//	192.168.127.1        gateway: DHCP server, DNS server (forwards to the
//	                     host's resolvers), router to the outside (NAT
//	                     through the host's sockets)
//	192.168.127.2        the guest (DHCP static lease for GuestMAC)
//	192.168.127.254      the host's loopback (127.0.0.1) seen from the guest
//
// Port forwards (-p HOSTPORT:GUESTPORT) connect to GuestIP.
package netconf

// User-mode network parameters (gvisor-tap-vsock's defaults).
const (
	Subnet     = "192.168.127.0/24"
	PrefixLen  = 24
	GatewayIP  = "192.168.127.1"
	GuestIP    = "192.168.127.2"
	HostIP     = "192.168.127.254" // NAT to the host's 127.0.0.1
	DNSIP      = GatewayIP
	GatewayMAC = "5a:94:ef:e4:0c:dd"
	GuestMAC   = "5a:94:ef:e4:0c:ee" // the device's MAC in user mode
	// MTU is an Ethernet device's (the virtio-net device's default).
	MTU = 1500
	// UserMTU is the user network's: its frames never leave the host
	// (brique-netd relays the data through the host's sockets), so they
	// may be as large as an IP packet allows (65520 is passt's default).
	// Fewer frames per byte: the per-frame cost (a message to
	// brique-netd, a pass through two TCP stacks) is what limits bulk
	// transfers there (decision 018).
	UserMTU = 65520

	// DNSZone is answered by the gateway's DNS server: HostName is the
	// host's loopback (HostIP), "gateway." + DNSZone the gateway.
	DNSZone  = "brique.internal."
	HostName = "host.brique.internal"
)

// The same addresses as bytes.
var (
	GatewayIP4  = [4]byte{192, 168, 127, 1}
	GuestIP4    = [4]byte{192, 168, 127, 2}
	HostIP4     = [4]byte{192, 168, 127, 254}
	DNSIP4      = GatewayIP4
	GatewayMAC6 = [6]byte{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd}
	GuestMAC6   = [6]byte{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee}
)

// IPConfig is a static IPv4 configuration for the guest's interface.
type IPConfig struct {
	Addr      [4]byte
	PrefixLen int // 0..32
	Gateway   [4]byte
	DNS       [4]byte // zero: none
}

// User is the configuration of the guest on the user-mode network.
var User = IPConfig{Addr: GuestIP4, PrefixLen: PrefixLen, Gateway: GatewayIP4, DNS: DNSIP4}

// Cmdline is the Linux kernel "ip=" parameter for c (the nfsroot syntax,
// Documentation/admin-guide/nfs/nfsroot.rst, also used with Firecracker):
//
//	ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>
//
// for example "ip=192.168.127.2::192.168.127.1:255.255.255.0::eth0:off:192.168.127.1".
func (c IPConfig) Cmdline() string {
	gw := ""
	if c.Gateway != ([4]byte{}) {
		gw = ipString(c.Gateway)
	}
	s := "ip=" + ipString(c.Addr) + "::" + gw + ":" + ipString(prefixMask(c.PrefixLen)) + "::eth0:off"
	if c.DNS != ([4]byte{}) {
		s += ":" + ipString(c.DNS)
	}
	return s
}

// ParseCmdline finds the "ip=" parameter in a kernel command line and
// parses it (the fields Cmdline writes; a missing gateway or DNS is zero).
// It reports false if there is none or it is not a static configuration.
// It does not allocate.
func ParseCmdline(cmdline string) (IPConfig, bool) {
	var c IPConfig
	for len(cmdline) > 0 {
		i := 0
		for i < len(cmdline) && cmdline[i] != ' ' {
			i++
		}
		word := cmdline[:i]
		if i < len(cmdline) {
			i++
		}
		cmdline = cmdline[i:]
		if len(word) < 3 || word[:3] != "ip=" {
			continue
		}
		word = word[3:]
		var field [10]string
		n := 0
		for n < len(field) {
			j := 0
			for j < len(word) && word[j] != ':' {
				j++
			}
			field[n] = word[:j]
			n++
			if j == len(word) {
				break
			}
			word = word[j+1:]
		}
		var ok bool
		if c.Addr, ok = parseIP(field[0]); !ok {
			return IPConfig{}, false
		}
		if field[2] != "" {
			if c.Gateway, ok = parseIP(field[2]); !ok {
				return IPConfig{}, false
			}
		}
		c.PrefixLen = 32
		if field[3] != "" {
			m, ok := parseIP(field[3])
			if !ok {
				return IPConfig{}, false
			}
			if c.PrefixLen, ok = maskPrefix(m); !ok {
				return IPConfig{}, false
			}
		}
		if field[6] != "" && field[6] != "off" && field[6] != "none" {
			return IPConfig{}, false
		}
		if field[7] != "" {
			if c.DNS, ok = parseIP(field[7]); !ok {
				return IPConfig{}, false
			}
		}
		return c, true
	}
	return IPConfig{}, false
}

func prefixMask(n int) [4]byte {
	var m [4]byte
	for i := 0; i < 4; i++ {
		switch {
		case n >= 8:
			m[i] = 0xFF
		case n > 0:
			m[i] = byte(0xFF << (8 - n))
		}
		n -= 8
	}
	return m
}

func maskPrefix(m [4]byte) (int, bool) {
	for n := 0; n <= 32; n++ {
		if prefixMask(n) == m {
			return n, true
		}
	}
	return 0, false
}

func ipString(a [4]byte) string {
	var b [15]byte
	n := 0
	for i, x := range a {
		if i > 0 {
			b[n] = '.'
			n++
		}
		if x >= 100 {
			b[n] = '0' + x/100
			n++
		}
		if x >= 10 {
			b[n] = '0' + x/10%10
			n++
		}
		b[n] = '0' + x%10
		n++
	}
	return string(b[:n])
}

func parseIP(s string) ([4]byte, bool) {
	var a [4]byte
	k := 0
	for i := 0; i < 4; i++ {
		if k >= len(s) {
			return a, false
		}
		v, digits := 0, 0
		for k < len(s) && s[k] >= '0' && s[k] <= '9' && digits < 4 {
			v = v*10 + int(s[k]-'0')
			k++
			digits++
		}
		if digits == 0 || v > 255 || (digits > 1 && s[k-digits] == '0') {
			return a, false
		}
		a[i] = byte(v)
		if i < 3 {
			if k >= len(s) || s[k] != '.' {
				return a, false
			}
			k++
		}
	}
	return a, k == len(s)
}
