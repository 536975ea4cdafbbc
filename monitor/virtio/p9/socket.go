package p9

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

// Socket is a Backend on one end of a unix SOCK_SEQPACKET socket pair:
// one 9P message per socket message, no framing. The other end is served
// by brique-9pd (LaunchServer) or, in tests, by package server directly.
//
// It uses only read, write and close on the descriptor (plus the Go
// poller's epoll), which the monitor's seccomp filter allows.
type Socket struct {
	sp   *helperproc.SeqPacket
	name string
}

// NewSocket returns a Socket on fd, which it owns from then on (it is
// closed on error and by Close). name appears in errors.
func NewSocket(fd int, name string) (*Socket, error) {
	fail := func(err error) (*Socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("9p socket %s: %w", name, err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fail(err)
	}
	if typ != unix.SOCK_SEQPACKET {
		return fail(fmt.Errorf("socket type %d is not SOCK_SEQPACKET (one message per 9P message)", typ))
	}
	sp, err := helperproc.NewSeqPacket(fd, name) // closes fd on error
	if err != nil {
		return nil, fmt.Errorf("9p socket %s: %w", name, err)
	}
	return &Socket{sp: sp, name: name}, nil
}

// SocketPair returns the two ends of a new SOCK_SEQPACKET socket pair
// whose send buffers hold messages of maxMsg bytes.
func SocketPair(maxMsg int) (a, b *Socket, err error) {
	// Room for a few messages of maxMsg bytes: a unix datagram larger
	// than the sender's buffer (minus 32 bytes) is refused with
	// EMSGSIZE. MessageLimit reads what the kernel granted.
	mine, theirs, err := helperproc.SocketPair(max(4*maxMsg, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("9p: %w", err)
	}
	a, err = NewSocket(mine, "monitor end")
	if err != nil {
		unix.Close(theirs)
		return nil, nil, err
	}
	b, err = NewSocket(theirs, "server end")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// MessageLimit is the largest message the socket can send (its send
// buffer less the kernel's 32-byte allowance and some slack).
func (s *Socket) MessageLimit() int {
	n := 0
	s.sp.Control(func(fd int) {
		n, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	return max(n-64, 0)
}

// File returns the socket's descriptor as a file (to pass to a child
// process). The Socket still owns it.
func (s *Socket) File() *os.File { return s.sp.File() }

// ReadMessage implements Backend. When the peer closed its end, the error
// wraps io.EOF.
func (s *Socket) ReadMessage(buf []byte) (int, error) {
	n, err := s.sp.Read(buf)
	if err != nil {
		return 0, fmt.Errorf("9p socket %s: %w", s.name, err)
	}
	return n, nil
}

// WriteMessage implements Backend. Writing after the peer closed its end
// returns an error wrapping os.ErrClosed.
func (s *Socket) WriteMessage(msg []byte) error {
	if err := s.sp.Write(msg); err != nil {
		return fmt.Errorf("9p socket %s: %w", s.name, err)
	}
	return nil
}

// Close implements Backend: it closes the descriptor (the peer reads end
// of file) and unblocks ReadMessage.
func (s *Socket) Close() error { return s.sp.Close() }
