package net

// Backend carries Ethernet frames between the device and a network. The
// device calls ReadPacket from one goroutine and WritePacket from another.
// (The net.ErrClosed below is recognised by its text: this package does
// not import package net.)
type Backend interface {
	// ReadPacket blocks until a frame arrives and copies it into buf. It
	// returns the frame's length; a frame longer than buf is truncated
	// (n == len(buf): the device drops it). After Close it returns an
	// error for which errors.Is(err, net.ErrClosed) or os.ErrClosed
	// holds.
	ReadPacket(buf []byte) (int, error)
	// WritePacket sends one frame given as a gather list (Ethernet
	// header first, no virtio-net header). The slices are views of
	// guest memory: the backend must not keep them after it returns.
	WritePacket(frame [][]byte) error
	// Close releases the backend and unblocks ReadPacket.
	Close() error
}

// OffloadBackend is a Backend that takes frames the host must finish: a
// partial TCP checksum, a TCP segment larger than the MTU to cut up. The
// device offers checksum and segmentation offload (VIRTIO_NET_F_CSUM,
// HOST_TSO4, HOST_TSO6) only over such a backend (TAP: the host kernel
// does the work).
type OffloadBackend interface {
	Backend
	// WritePacketOffload sends one frame with its virtio_net_hdr_v1
	// (HeaderSize bytes, validated by the device).
	WritePacketOffload(hdr []byte, frame [][]byte) error
}

// RXOffloadBackend is an OffloadBackend whose network can also hand the
// guest TCP frames larger than the MTU with a partial checksum (TAP: the
// host kernel's segmentation is deferred to the guest). The device offers
// VIRTIO_NET_F_GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6 only over such a
// backend that is also a PollBackend (TryReadFrame leaves the frame's
// header in front of it), with mergeable receive buffers, and turns the
// offload on when the driver accepts them all.
type RXOffloadBackend interface {
	OffloadBackend
	// SetRXOffload turns receive offload on or off. While it is on,
	// TryReadFrame may return frames of up to MaxFrame bytes whose
	// virtio-net header (before the frame) asks for a checksum or
	// segmentation, to be passed to the driver as it is.
	SetRXOffload(on bool) error
}

// PollBackend is a Backend over one non-blocking file descriptor that
// carries a frame per read (TAP, the user network's socket). The device
// then serves both queues from one OS thread that sleeps in ppoll on the
// descriptor and on its doorbell (ioloop.go), instead of three
// goroutines handing frames over.
type PollBackend interface {
	Backend
	// PollFD is the descriptor that becomes readable when frames arrive.
	PollFD() int
	// TryReadFrame reads a frame, without blocking, into
	// buf[HeaderSize:] and returns its length (len(buf)-HeaderSize: too
	// long, truncated), or an error wrapping unix.EAGAIN when none is
	// waiting. It may use buf[:HeaderSize], so that a frame that comes
	// after a virtio-net header (TAP) is read in place, not copied.
	TryReadFrame(buf []byte) (int, error)
}

// MACDefaulter is implemented by backends whose network expects the
// guest at a particular MAC address (UserNet). New uses it when
// Config.MAC is nil.
type MACDefaulter interface {
	DefaultMAC() HardwareAddr
}

// HardwareAddr is an Ethernet (MAC) address. (Package net's type of the
// same name is not used: importing package net makes the monitor a
// dynamically linked cgo binary, which costs ~0.7 ms at every start.)
type HardwareAddr []byte

// String formats a in the usual colon-separated hexadecimal form.
func (a HardwareAddr) String() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(a)*3)
	for i, c := range a {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return string(b)
}
