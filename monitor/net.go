package monitor

import (
	"fmt"
	"io"
	"strings"

	"brique.dev/brique/monitor/virtio"
	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

// NetConfig selects the VM's network device (virtio-net over virtio-mmio).
type NetConfig struct {
	// Mode is "none" (or ""), "user" (user-mode networking through the
	// brique-netd daemon: no privileges, port forwards) or "tap" (a TAP
	// interface of the host: speed, real networks, CAP_NET_ADMIN).
	Mode string
	// TAP is the interface name for Mode "tap".
	TAP string
	// Forwards are -p specifications, [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]
	// (Mode "user").
	Forwards []string
	// Netd is the path of brique-netd ("" = next to this program, then
	// $PATH).
	Netd string
	// Log receives the device's and daemon's diagnostics (nil: none).
	Log io.Writer
	// IP is the guest's static address for Mode "tap" (zero: none; the
	// user network always uses netconf.User).
	IP netconf.IPConfig
	// MAC is the device's address (nil: the backend's default, or random).
	MAC []byte
}

// setupNet puts the network device of cfg, if any, on bus and returns
// the guest command line fragment that configures it (addresses; the bus
// announces the device) and a function that waits for the user-mode
// daemon to be ready (nil if none; Run waits for it while the guest
// boots, netgate.go). It must run before the
// seccomp filter (the user-mode backend starts a process). The device is
// returned for its counters (nil without a network).
func setupNet(cfg NetConfig, bus *virtio.Bus) (string, func() error, *vnet.Device, error) {
	var be vnet.Backend
	var cmdline []string
	var ready func() error // nil: nothing to wait for
	mtu := netconf.MTU
	switch cfg.Mode {
	case "", "none":
		return "", nil, nil, nil
	case "tap":
		if cfg.TAP == "" {
			return "", nil, nil, fmt.Errorf("--net tap needs an interface name: --net tap=NAME")
		}
		if len(cfg.Forwards) > 0 {
			return "", nil, nil, fmt.Errorf("-p works with --net user; with a TAP interface the guest is on the host's network: route to it instead")
		}
		t, err := vnet.OpenTAP(cfg.TAP)
		if err != nil {
			return "", nil, nil, err
		}
		be = t
		if cfg.IP.Addr != ([4]byte{}) {
			cmdline = append(cmdline, cfg.IP.Cmdline())
		}
	case "user":
		if cfg.IP.Addr != ([4]byte{}) {
			return "", nil, nil, fmt.Errorf("the user network gives the guest %s: ip= works with --net tap=NAME", netconf.GuestIP)
		}
		var fwds []vnet.PortForward
		for _, s := range cfg.Forwards {
			f, err := vnet.ParsePortForward(s)
			if err != nil {
				return "", nil, nil, err
			}
			fwds = append(fwds, f)
		}
		// Launched now, waited for just before the VM runs: the daemon's
		// ~7 ms start overlaps the VM's set-up.
		mtu = netconf.UserMTU
		u, err := vnet.LaunchUserNet(cfg.Netd, fwds, vnet.UserNetOptions{MTU: mtu, Debug: cfg.Log != nil, Stderr: cfg.Log})
		if err != nil {
			return "", nil, nil, err
		}
		be, ready = u, u.WaitReady
		cmdline = append(cmdline, netconf.User.Cmdline())
	default:
		return "", nil, nil, fmt.Errorf("--net %q: use none, user or tap=NAME", cfg.Mode)
	}
	dev, err := vnet.New(vnet.Config{Backend: be, MAC: cfg.MAC, MTU: mtu, OnError: func(err error) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "brique: net: %v\n", err)
		}
	}})
	if err != nil {
		be.Close()
		return "", nil, nil, err
	}
	if _, err := bus.Add(dev); err != nil {
		dev.Close()
		return "", nil, nil, err
	}
	return strings.Join(cmdline, " "), ready, dev, nil
}
