package net

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

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

// PollBackend is a Backend over one non-blocking file descriptor that
// carries a frame per read (TAP). The device then serves both queues from
// one OS thread that sleeps in ppoll on the descriptor and on its
// doorbell (ioloop.go), instead of three goroutines handing frames over.
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

// fdLink moves frames over a non-blocking file descriptor (a TAP device),
// one read or write per frame, through Go's poller. (Not readv and
// writev: the monitor's seccomp filter allows read and write only.)
type fdLink struct {
	fd     int
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

func newFDLink(fd int, name string) (*fdLink, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fdLink{fd: fd, f: f, rc: rc}, nil
}

// read reads one frame into b.
func (l *fdLink) read(b []byte) (int, error) {
	var n int
	var rerr error
	err := l.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				break
			}
		}
		return rerr != unix.EAGAIN
	})
	if l.closed.Load() {
		return 0, fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed)
	}
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, fmt.Errorf("%s: read: %w", l.f.Name(), rerr)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed) // peer closed
	}
	return n, nil
}

// tryRead reads one frame into b if one is waiting (unix.EAGAIN if not).
func (l *fdLink) tryRead(b []byte) (int, error) {
	for {
		n, err := unix.Read(l.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case l.closed.Load():
			return 0, fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed)
		case err == unix.EAGAIN:
			return 0, err
		case err != nil:
			return 0, fmt.Errorf("%s: read: %w", l.f.Name(), err)
		case n == 0:
			return 0, fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed)
		}
		return n, nil
	}
}

// write writes one frame from b.
func (l *fdLink) write(b []byte) error {
	var werr error
	err := l.rc.Write(func(fd uintptr) bool {
		for {
			_, werr = unix.Write(int(fd), b)
			if werr != unix.EINTR {
				break
			}
		}
		return werr != unix.EAGAIN
	})
	if l.closed.Load() {
		return fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed)
	}
	if err != nil {
		return err
	}
	if werr != nil {
		if errors.Is(werr, unix.EPIPE) || errors.Is(werr, unix.ECONNRESET) {
			return fmt.Errorf("%s: %w", l.f.Name(), os.ErrClosed)
		}
		return fmt.Errorf("%s: write: %w", l.f.Name(), werr)
	}
	return nil
}

// close closes the descriptor; blocked reads and writes return errors
// wrapping os.ErrClosed (RawConn reports "use of closed file", which is
// not os.ErrClosed).
func (l *fdLink) close() error {
	l.closed.Store(true)
	return l.f.Close()
}
