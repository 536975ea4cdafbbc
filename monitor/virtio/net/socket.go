package net

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

// Socket is a backend on a message socket, normally one end of a unix
// SOCK_SEQPACKET socket pair whose other end a network process serves
// (brique-netd, see StartUserNet): one Ethernet frame per message, no
// header. SOCK_DGRAM works as well, but a datagram socket does not tell
// when its peer goes away; SOCK_STREAM is refused (it has no message
// boundaries).
//
// It uses only read, write, ppoll and close on the descriptor, which the
// monitor's seccomp filter allows, so it keeps working after the filter
// is installed. It is a PollBackend: the device serves it from its I/O
// thread (ioloop.go), like a TAP device.
type Socket struct {
	sp   *helperproc.FrameFD
	name string

	mu      sync.Mutex // WritePacket's scratch buffer
	scratch []byte
}

// NewSocket returns a socket backend on a duplicate of f's descriptor:
// the caller may close f, and Close closes only the duplicate.
func NewSocket(f *os.File) (*Socket, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("socket backend %s: %w", f.Name(), err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("socket backend %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, fmt.Errorf("socket backend %s: dup: %w", f.Name(), derr)
	}
	return NewSocketFD(fd, f.Name())
}

// NewSocketFD returns a socket backend on fd, which it owns from then on
// (it is closed on error and by Close). name appears in errors.
func NewSocketFD(fd int, name string) (*Socket, error) {
	if name == "" {
		name = fmt.Sprintf("fd %d", fd)
	}
	fail := func(err error) (*Socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("socket backend %s: %w", name, err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.ENOTSOCK):
		return fail(errors.New("not a socket (want one end of a SOCK_SEQPACKET unix socket pair)"))
	case errors.Is(err, unix.EBADF):
		return fail(errors.New("not an open file descriptor"))
	case err != nil:
		return fail(err)
	}
	switch typ {
	case unix.SOCK_SEQPACKET, unix.SOCK_DGRAM:
	case unix.SOCK_STREAM:
		return fail(errors.New("a SOCK_STREAM socket has no message boundaries (want SOCK_SEQPACKET: one frame per message)"))
	default:
		return fail(fmt.Errorf("socket type %d is not SOCK_SEQPACKET or SOCK_DGRAM", typ))
	}
	sp, err := helperproc.NewFrameFD(fd, name, typ == unix.SOCK_SEQPACKET) // closes fd on error
	if err != nil {
		return nil, fmt.Errorf("socket backend %s: %w", name, err)
	}
	return &Socket{sp: sp, name: name}, nil
}

// ReadPacket implements Backend. Messages shorter than an Ethernet
// header are skipped. When the peer closed its end (SOCK_SEQPACKET), the
// error wraps io.EOF.
func (s *Socket) ReadPacket(buf []byte) (int, error) {
	for {
		n, err := s.sp.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("socket backend %s: %w", s.name, err)
		}
		if n < 14 && len(buf) >= 14 {
			continue // runt
		}
		return n, nil
	}
}

// WritePacket implements Backend. A frame in several pieces is copied
// into one buffer (write, not writev or sendmsg: see Socket). A frame
// shorter than an Ethernet header is refused; writing after the peer
// closed its end returns an error wrapping os.ErrClosed.
func (s *Socket) WritePacket(frame [][]byte) error {
	n := 0
	for _, b := range frame {
		n += len(b)
	}
	if n < 14 {
		return fmt.Errorf("socket backend %s: %d-byte frame is shorter than an Ethernet header", s.name, n)
	}
	if len(frame) == 1 {
		return s.write(frame[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.scratch) < n {
		s.scratch = make([]byte, max(n, 2048))
	}
	b := s.scratch[:0]
	for _, p := range frame {
		b = append(b, p...)
	}
	return s.write(b)
}

func (s *Socket) write(b []byte) error {
	if err := s.sp.Write(b); err != nil {
		return fmt.Errorf("socket backend %s: %w", s.name, err)
	}
	return nil
}

// Close implements Backend: it closes the descriptor (the peer reads
// end of file) and unblocks ReadPacket.
func (s *Socket) Close() error { return s.sp.Close() }

// Name is the name given to NewSocketFD (or the file's name).
func (s *Socket) Name() string { return s.name }

// PollFD implements PollBackend.
func (s *Socket) PollFD() int { return s.sp.Fd() }

// TryReadFrame implements PollBackend: the frame lands at
// buf[HeaderSize:], after an all-zero virtio-net header (no offload).
func (s *Socket) TryReadFrame(buf []byte) (int, error) {
	for {
		n, err := s.sp.TryRead(buf[HeaderSize:])
		if err != nil {
			return 0, fmt.Errorf("socket backend %s: %w", s.name, err)
		}
		if n < 14 && len(buf)-HeaderSize >= 14 {
			continue // runt
		}
		clear(buf[:HeaderSize])
		return n, nil
	}
}
