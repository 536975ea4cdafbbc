package net

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

// TUNDevice is the clone device TAP interfaces are opened through.
const TUNDevice = "/dev/net/tun"

// TAP is a backend on a Linux TAP interface, opened with
// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR: every frame carries a 12-byte
// virtio_net_hdr (TUNSETVNETHDRSZ). Towards the host, the guest's header
// passes through (WritePacketOffload): the kernel finishes checksums and
// segments large TCP frames. Towards the guest, receive offload is off
// (the kernel hands over only complete, checksummed frames) until the
// device turns it on for a driver that accepts it (SetRXOffload).
//
// Frames are copied once in each direction (header and frame go through
// one buffer, read and written with read and write, which the monitor's
// seccomp filter allows, unlike readv and writev). The descriptor is not
// registered with Go's poller (helperproc.FrameFD): the device's I/O loop
// polls it.
type TAP struct {
	name string
	link *helperproc.FrameFD
	rx   []byte // ReadPacket's buffer: header + frame (one reader)
	// rxOffload: the kernel may hand over TCP frames larger than the MTU
	// with a partial checksum (SetRXOffload), which TryReadFrame passes on.
	rxOffload atomic.Bool

	txMu sync.Mutex
	tx   []byte // WritePacketOffload's buffer: header + frame
}

// ErrTAPPermission and ErrNoTUN classify OpenTAP failures.
var (
	ErrTAPPermission = errors.New("permission denied")
	ErrNoTUN         = errors.New("no TUN/TAP support")
)

// OpenTAP attaches to the TAP interface name, creating it if it does not
// exist (that needs CAP_NET_ADMIN; an existing persistent TAP owned by the
// user does not). A TAP interface the call created disappears on Close.
// The interface must be up (ip link set NAME up) for frames to flow;
// InterfaceUp tells.
func OpenTAP(name string) (*TAP, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tap %q: interface names have 1 to %d characters", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open(TUNDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
			return nil, fmt.Errorf("tap %q: %s does not exist (load the tun module: modprobe tun): %w", name, TUNDevice, ErrNoTUN)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("tap %q: cannot open %s: %w (it needs read-write access)", name, TUNDevice, ErrTAPPermission)
		}
		return nil, fmt.Errorf("tap %q: opening %s: %w", name, TUNDevice, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		exists := interfaceExists(name)
		switch {
		case errors.Is(err, unix.EPERM) && exists:
			return nil, fmt.Errorf("tap %q: the interface belongs to another user or group and attaching to it needs CAP_NET_ADMIN (create it with `ip tuntap add dev %s mode tap user $USER`, or run as root): %w", name, name, ErrTAPPermission)
		case errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("tap %q: no such interface, and creating one needs CAP_NET_ADMIN (create it first with `ip tuntap add dev %s mode tap user $USER`, or run as root): %w", name, name, ErrTAPPermission)
		case errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("tap %q: the interface is in use by another process", name)
		case errors.Is(err, unix.EINVAL) && exists:
			return nil, fmt.Errorf("tap %q: the interface exists but is not a TAP device (a TUN device or another kind of interface?)", name)
		}
		return nil, fmt.Errorf("tap %q: TUNSETIFF: %w", name, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, HeaderSize); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: TUNSETVNETHDRSZ: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: TUNSETOFFLOAD: %w", name, err)
	}
	link, err := helperproc.NewFrameFD(fd, "tap "+name, false) // one frame per read and write
	if err != nil {
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	return &TAP{name: name, link: link}, nil
}

// Name is the interface name.
func (t *TAP) Name() string { return t.name }

// ReadPacket implements Backend.
func (t *TAP) ReadPacket(buf []byte) (int, error) {
	return t.readPacket(buf, t.link.Read)
}

// TryReadFrame implements PollBackend: the kernel's virtio_net_hdr lands
// in buf[:HeaderSize], the frame after it.
func (t *TAP) TryReadFrame(buf []byte) (int, error) {
	for {
		n, err := t.link.TryRead(buf)
		if err != nil {
			return 0, t.err(err)
		}
		if n < HeaderSize {
			continue
		}
		switch buf[HeaderGSOType] {
		case GSONone:
		case GSOTCPv4, GSOTCPv6:
			if !t.rxOffload.Load() {
				continue // see readPacket
			}
		default:
			continue // (UDP segmentation was not enabled)
		}
		return n - HeaderSize, nil
	}
}

// SetRXOffload implements RXOffloadBackend: with on, the kernel may pass
// TCP frames of up to 64 KiB with a partial checksum (TUNSETOFFLOAD with
// TUN_F_CSUM, TUN_F_TSO4 and TUN_F_TSO6), described by the virtio-net
// header TryReadFrame leaves in front of the frame.
func (t *TAP) SetRXOffload(on bool) error {
	flags := 0
	if on {
		flags = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	}
	// Off until the kernel says yes: if it refuses, the device delivers
	// frames as without offload, and reads drop any large frame the
	// kernel may still pass (from an earlier success).
	t.rxOffload.Store(false)
	if err := unix.IoctlSetInt(t.link.Fd(), unix.TUNSETOFFLOAD, flags); err != nil {
		return t.err(fmt.Errorf("TUNSETOFFLOAD: %w", err))
	}
	t.rxOffload.Store(on)
	return nil
}

// PollFD implements PollBackend.
func (t *TAP) PollFD() int { return t.link.Fd() }

// err names the interface in err.
func (t *TAP) err(err error) error { return fmt.Errorf("tap %s: %w", t.name, err) }

// readPacket is ReadPacket, through a buffer for the header (the device
// itself uses TryReadFrame).
func (t *TAP) readPacket(buf []byte, read func([]byte) (int, error)) (int, error) {
	if cap(t.rx) < HeaderSize+len(buf) {
		t.rx = make([]byte, HeaderSize+len(buf))
	}
	rx := t.rx[:HeaderSize+len(buf)]
	for {
		n, err := read(rx)
		if err != nil {
			return 0, t.err(err)
		}
		if n < HeaderSize {
			continue
		}
		// ReadPacket's callers take frames of at most the MTU: skip a
		// GSO frame (receive offload is for TryReadFrame's device).
		if rx[HeaderGSOType] != 0 {
			continue
		}
		return copy(buf, rx[HeaderSize:n]), nil
	}
}

// WritePacket implements Backend.
func (t *TAP) WritePacket(frame [][]byte) error {
	return t.WritePacketOffload(nil, frame)
}

// WritePacketOffload implements OffloadBackend (a nil hdr: no offload).
func (t *TAP) WritePacketOffload(hdr []byte, frame [][]byte) error {
	n := HeaderSize
	for _, b := range frame {
		n += len(b)
	}
	t.txMu.Lock()
	defer t.txMu.Unlock()
	if cap(t.tx) < n {
		t.tx = make([]byte, HeaderSize, max(n, HeaderSize+2048))
	}
	b := t.tx[:HeaderSize]
	if hdr != nil {
		copy(b, hdr)
	} else {
		clear(b)
	}
	for _, p := range frame {
		b = append(b, p...)
	}
	if err := t.link.Write(b); err != nil {
		return t.err(err)
	}
	return nil
}

// Close implements Backend.
func (t *TAP) Close() error { return t.link.Close() }

// interfaceExists reports whether the network interface name exists in
// this thread's network namespace (SIOCGIFINDEX; package net is not
// used, see HardwareAddr).
func interfaceExists(name string) bool {
	_, err := ifreq(name, unix.SIOCGIFINDEX)
	return err == nil
}

// InterfaceUp reports whether the network interface name, in this
// thread's network namespace, is administratively up (IFF_UP, what `ip
// link set NAME up` sets). No frame passes through a TAP interface
// while it is down, yet OpenTAP and the device work. The error wraps
// unix.ENODEV if there is no such interface.
func InterfaceUp(name string) (bool, error) {
	ifr, err := ifreq(name, unix.SIOCGIFFLAGS)
	if err != nil {
		return false, fmt.Errorf("interface %q: %w", name, err)
	}
	return ifr.Uint16()&unix.IFF_UP != 0, nil
}

// ifreq asks the kernel about the interface name with the ioctl req
// (SIOCGIF*) on a socket created here, and returns its answer.
func ifreq(name string, req uint) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, err
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(s)
	if err := unix.IoctlIfreq(s, req, ifr); err != nil {
		return nil, err
	}
	return ifr, nil
}
