// Package usernet is Brique's user-mode network: gvisor-tap-vsock's
// virtual network (the one podman machine and lima use), serving Ethernet
// frames exchanged over a SOCK_SEQPACKET unix socket, one frame per
// message. No privilege is needed: a gateway at netconf.GatewayIP runs
// DHCP and DNS servers and relays the guest's TCP and UDP flows through
// the host's sockets; netconf.HostIP reaches the host's 127.0.0.1; port
// forwards listen on the host and connect to netconf.GuestIP (the DHCP
// static lease of netconf.GuestMAC).
//
// Linking gvisor and gvisor-tap-vsock costs ~13 ms of package
// initialisation at process start and ~3.5 MB of binary, so only the
// brique-netd daemon (cmd/brique-netd) imports this package; the monitor
// starts that daemon with net.StartUserNet and talks to it through the
// socket backend of package brique.dev/brique/monitor/virtio/net.
// See docs/decisions/008-netd.md.
package usernet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	stdnet "net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"github.com/containers/gvisor-tap-vsock/pkg/virtualnetwork"
	"github.com/sirupsen/logrus"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

// Config configures a user-mode network.
type Config struct {
	Forwards []vnet.PortForward
	// MTU of the virtual network (netconf.UserMTU if 0). Give the device
	// the same value.
	MTU int
	// Log receives the libraries' messages (gvisor-tap-vsock logs with
	// the process-wide logrus logger, its TCP proxy with the standard
	// log package: New points both at Log, or discards them if Log is
	// nil).
	Log io.Writer
	// Debug makes gvisor-tap-vsock log at debug level and describe every
	// frame (to Log).
	Debug bool
}

// Network is a user-mode network. Serve connects the guest's end of it.
type Network struct {
	vn       *virtualnetwork.VirtualNetwork
	mux      http.Handler
	mu       sync.Mutex
	forwards []vnet.PortForward
	closed   bool
}

// New starts a user-mode network with cfg's port forwards: when it
// returns without error, the forwarded ports listen.
func New(cfg Config) (*Network, error) {
	if cfg.MTU == 0 {
		cfg.MTU = netconf.UserMTU
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("user-mode network: MTU %d out of range [68, 65535]", cfg.MTU)
	}
	w := cfg.Log
	if w == nil {
		w = io.Discard
	}
	logrus.SetOutput(w)
	log.SetOutput(w)
	if cfg.Debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	vn, err := virtualnetwork.New(&types.Configuration{
		Debug:             cfg.Debug,
		MTU:               cfg.MTU,
		Subnet:            netconf.Subnet,
		GatewayIP:         netconf.GatewayIP,
		GatewayMacAddress: netconf.GatewayMAC,
		DHCPStaticLeases:  map[string]string{netconf.GuestIP: netconf.GuestMAC},
		NAT:               map[string]string{netconf.HostIP: "127.0.0.1"},
		GatewayVirtualIPs: []string{netconf.HostIP},
		Protocol:          types.BessProtocol,
		// Names the guest can resolve through the gateway's DNS server
		// without any outside network: host.brique.internal is the
		// host's loopback (NAT), gateway.brique.internal the gateway.
		DNS: []types.Zone{{
			Name: netconf.DNSZone,
			Records: []types.Record{
				{Name: "host", IP: stdnet.ParseIP(netconf.HostIP)},
				{Name: "gateway", IP: stdnet.ParseIP(netconf.GatewayIP)},
			},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	n := &Network{vn: vn, mux: vn.ServicesMux()}
	for _, f := range cfg.Forwards {
		if err := n.Expose(f); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Serve moves frames between the network and conn, a SOCK_SEQPACKET (or
// SOCK_DGRAM) unix socket carrying one Ethernet frame per message, until
// ctx ends (Serve returns ctx.Err()) or conn fails or is closed by its
// peer; it closes conn. A peer that closed its end is a normal end: Serve
// then returns nil.
func (n *Network) Serve(ctx context.Context, conn stdnet.Conn) error {
	// The library's switch checks ctx only between frames: close conn
	// to interrupt a read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// The library's switch reads the Ethernet header of each message
	// unchecked: drop runts before it sees them.
	err := n.vn.AcceptBess(ctx, &noRunts{Conn: conn})
	conn.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The peer's close reads as end of file, or as ECONNRESET if frames
	// it had not read were still queued for it.
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, stdnet.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return nil
	}
	return err
}

// noRunts drops messages shorter than an Ethernet header.
type noRunts struct{ stdnet.Conn }

func (c *noRunts) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || n >= 14 {
			return n, err
		}
	}
}

// Expose adds a port forward: the port listens when Expose returns.
func (n *Network) Expose(f vnet.PortForward) error {
	if f.Proto != "tcp" && f.Proto != "udp" {
		return fmt.Errorf("-p %s: protocol must be tcp or udp", f)
	}
	if !f.HostIP.IsValid() {
		f.HostIP = netip.IPv4Unspecified()
	}
	req := types.ExposeRequest{
		Local:    netip.AddrPortFrom(f.HostIP, f.HostPort).String(),
		Remote:   stdnet.JoinHostPort(netconf.GuestIP, strconv.Itoa(int(f.GuestPort))),
		Protocol: types.TransportProtocol(f.Proto),
	}
	if err := n.call("/services/forwarder/expose", req); err != nil {
		return fmt.Errorf("-p %s: %w", f, err)
	}
	n.mu.Lock()
	n.forwards = append(n.forwards, f)
	n.mu.Unlock()
	return nil
}

// Forwards lists the active port forwards.
func (n *Network) Forwards() []vnet.PortForward {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]vnet.PortForward(nil), n.forwards...)
}

// Close stops the port forwards. (The library's gateway has no Close:
// its DHCP and DNS goroutines stay until the process exits, which is why
// the network runs in a process of its own, brique-netd.)
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	fwd := n.forwards
	n.forwards = nil
	n.mu.Unlock()
	var errs []error
	for _, f := range fwd {
		req := types.UnexposeRequest{Local: netip.AddrPortFrom(f.HostIP, f.HostPort).String(), Protocol: types.TransportProtocol(f.Proto)}
		if err := n.call("/services/forwarder/unexpose", req); err != nil {
			errs = append(errs, fmt.Errorf("-p %s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// call posts a JSON request to the library's services API, in process.
func (n *Network) call(path string, req any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.RemoteAddr = "127.0.0.1:0"
	w := &response{header: http.Header{}, code: http.StatusOK}
	n.mux.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		return errors.New(strings.TrimSpace(w.body.String()))
	}
	return nil
}

type response struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *response) Header() http.Header         { return r.header }
func (r *response) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *response) WriteHeader(code int)        { r.code = code }
