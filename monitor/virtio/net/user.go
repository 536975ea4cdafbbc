package net

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
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"github.com/containers/gvisor-tap-vsock/pkg/virtualnetwork"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio/netconf"
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

// UserConfig configures the user-mode backend.
type UserConfig struct {
	Forwards []PortForward
	// MTU of the virtual network (netconf.MTU if 0). Give the device the
	// same value.
	MTU int
	// Log receives the libraries' messages (gvisor-tap-vsock logs with
	// the process-wide logrus logger, its TCP proxy with the standard
	// log package: NewUser points both at Log, or discards them if Log
	// is nil, so that they do not mix with the program's stderr).
	Log io.Writer
	// Debug makes gvisor-tap-vsock log at debug level and describe every
	// frame (to Log).
	Debug bool
}

// User is the user-mode backend: an in-process virtual network (the
// gvisor-tap-vsock library that podman machine and lima use) with a
// gateway at netconf.GatewayIP that runs DHCP and DNS servers and relays
// the guest's TCP and UDP flows through the host's sockets, so it needs
// no privilege. The guest is netconf.GuestIP (a DHCP static lease for
// netconf.GuestMAC); netconf.HostIP reaches the host's 127.0.0.1. Port
// forwards listen on the host and connect to the guest.
//
// Frames travel over a SOCK_SEQPACKET socket pair, whose far end the
// library's switch serves with its "bess" protocol (one frame per
// message).
type User struct {
	vn       *virtualnetwork.VirtualNetwork
	link     *fdLink
	mux      http.Handler
	cancel   context.CancelFunc
	mu       sync.Mutex
	forwards []PortForward
	closed   bool
}

// NewUser starts a user-mode network with cfg's port forwards.
func NewUser(cfg UserConfig) (*User, error) {
	if cfg.MTU == 0 {
		cfg.MTU = netconf.MTU
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
	})
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("user-mode network: socketpair: %w", err)
	}
	// Room for a burst of frames in each direction.
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	far := os.NewFile(uintptr(fds[1]), "user-mode network switch")
	conn, err := stdnet.FileConn(far)
	far.Close()
	if err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	link, err := newFDLink(fds[0], "user-mode network")
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &User{vn: vn, link: link, mux: vn.ServicesMux(), cancel: cancel}
	go vn.AcceptBess(ctx, conn)
	for _, f := range cfg.Forwards {
		if err := u.Expose(f); err != nil {
			u.Close()
			return nil, err
		}
	}
	return u, nil
}

// Expose adds a port forward.
func (u *User) Expose(f PortForward) error {
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
	if err := u.call("/services/forwarder/expose", req); err != nil {
		return fmt.Errorf("-p %s: %w", f, err)
	}
	u.mu.Lock()
	u.forwards = append(u.forwards, f)
	u.mu.Unlock()
	return nil
}

// call posts a JSON request to the library's services API, in process.
func (u *User) call(path string, req any) error {
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
	u.mux.ServeHTTP(w, r)
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

// Forwards lists the active port forwards.
func (u *User) Forwards() []PortForward {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]PortForward(nil), u.forwards...)
}

// ReadPacket implements Backend.
func (u *User) ReadPacket(buf []byte) (int, error) {
	return u.link.readv([][]byte{buf})
}

// WritePacket implements Backend.
func (u *User) WritePacket(frame [][]byte) error {
	n := 0
	for _, b := range frame {
		n += len(b)
	}
	if n < 14 {
		// The library's switch reads the Ethernet header unchecked.
		return fmt.Errorf("user-mode network: %d-byte frame is shorter than an Ethernet header", n)
	}
	return u.link.writev(frame)
}

// Close stops the port forwards and disconnects from the virtual network.
// (The library's gateway has no Close: its DHCP and DNS goroutines stay
// until the process exits.)
func (u *User) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	fwd := u.forwards
	u.forwards = nil
	u.mu.Unlock()
	var errs []error
	for _, f := range fwd {
		req := types.UnexposeRequest{Local: netip.AddrPortFrom(f.HostIP, f.HostPort).String(), Protocol: types.TransportProtocol(f.Proto)}
		if err := u.call("/services/forwarder/unexpose", req); err != nil {
			errs = append(errs, fmt.Errorf("-p %s: %w", f, err))
		}
	}
	u.cancel()
	errs = append(errs, u.link.close())
	return errors.Join(errs...)
}
