// Package net is Brique's network brick: gVisor's netstack (TCP, UDP,
// ICMP over IPv4 and IPv6, ARP) on the virtio-net device, a loopback
// interface (127.0.0.1, ::1), and the socket system calls that Go's net
// package makes, served by a service thread (docs/decisions/010).
//
// The builder links it into programs that import package net: importing it
// for its side effects is all it takes. Its init function finds the device
// and the address on the guest command line ("virtio_mmio.device=..." and
// "ip=...", written by the monitor), writes /etc/resolv.conf and starts the
// service. Without a device the program still gets loopback.
package net

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/svc"
	"brique.dev/brique/guest/virtio"
	"brique.dev/brique/monitor/virtio/netconf"
)

const (
	nicLoopback = 1
	nicEth      = 2
	virtioNetID = 1
)

// resolvConf backs the generated /etc/resolv.conf (it must stay alive).
var resolvConf string

func init() {
	if !svc.OnBrique() {
		return // the package's own tests, on the host
	}
	if err := start(kernel.Cmdline()); err != nil {
		fmt.Fprintf(os.Stderr, "brique: network: %v\n", err)
	}
}

func start(cmdline string) error {
	s, routes, err := newStack()
	if err != nil {
		return err
	}
	if devs := virtio.Find(cmdline, virtioNetID); len(devs) > 0 {
		base := uintptr(devs[0])
		err = func() error {
			l, err := openLink(base)
			if err != nil {
				return fmt.Errorf("virtio-net at %#x: %v", base, err)
			}
			if err := s.CreateNIC(nicEth, l); err != nil {
				return fmt.Errorf("eth0: %v", err)
			}
			go l.receive()
			// IPv6 link-local address (from the MAC, as Linux does):
			// the guest is reachable over IPv6 on its link.
			ll := header.LinkLocalAddr(l.mac)
			addAddr(s, nicEth, ll, 64)
			routes = append(routes, tcpip.Route{Destination: subnet(ll, 64), NIC: nicEth})
			cfg, ok := netconf.ParseCmdline(cmdline)
			if !ok {
				return fmt.Errorf("the network device has no address: give one with brique run --net tap=NAME,ip=ADDR/PREFIX[,gw=ADDR]")
			}
			addr := tcpip.AddrFrom4(cfg.Addr)
			addAddr(s, nicEth, addr, cfg.PrefixLen)
			routes = append(routes, tcpip.Route{Destination: subnet(addr, cfg.PrefixLen), NIC: nicEth})
			if cfg.Gateway != ([4]byte{}) {
				gw := tcpip.AddrFrom4(cfg.Gateway)
				routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, Gateway: gw, NIC: nicEth})
				// Resolve the gateway now: its ARP request also
				// teaches the gateway our address, so connections
				// forwarded to the guest right after boot do not
				// wait for the gateway's own ARP retry (~1 s).
				defer s.GetLinkAddress(nicEth, gw, addr, ipv4.ProtocolNumber, nil)
			}
			if cfg.DNS != ([4]byte{}) {
				d := cfg.DNS
				resolvConf = "nameserver " + strconv.Itoa(int(d[0])) + "." + strconv.Itoa(int(d[1])) + "." +
					strconv.Itoa(int(d[2])) + "." + strconv.Itoa(int(d[3])) + "\noptions ndots:0\n"
				kernel.SetFile("/etc/resolv.conf", resolvConf)
			}
			return nil
		}()
	}
	s.SetRouteTable(routes)
	if _, _, e := syscall.RawSyscall(kernel.SysSvcRegister, kernel.SvcNet, 0, 0); e != 0 {
		return fmt.Errorf("register the socket service: %v", e)
	}
	srv := &server{stack: s}
	go srv.serve()
	return err
}

// newStack creates the network stack with its loopback interface
// (127.0.0.1/8, ::1) and returns the loopback's routes.
func newStack() (*stack.Stack, []tcpip.Route, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)

	if err := s.CreateNIC(nicLoopback, loopback.New()); err != nil {
		return nil, nil, fmt.Errorf("loopback: %v", err)
	}
	addAddr(s, nicLoopback, tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), 8)
	addAddr(s, nicLoopback, tcpip.AddrFrom16([16]byte{15: 1}), 128)
	routes := []tcpip.Route{
		{Destination: subnet(tcpip.AddrFrom4([4]byte{127}), 8), NIC: nicLoopback},
		{Destination: subnet(tcpip.AddrFrom16([16]byte{15: 1}), 128), NIC: nicLoopback},
	}
	return s, routes, nil
}

func addAddr(s *stack.Stack, nic tcpip.NICID, a tcpip.Address, prefix int) {
	proto := ipv4.ProtocolNumber
	if a.Len() == 16 {
		proto = ipv6.ProtocolNumber
	}
	s.AddProtocolAddress(nic, tcpip.ProtocolAddress{
		Protocol:          proto,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: prefix},
	}, stack.AddressProperties{})
}

func subnet(a tcpip.Address, prefix int) tcpip.Subnet {
	return tcpip.AddressWithPrefix{Address: a, PrefixLen: prefix}.Subnet()
}
