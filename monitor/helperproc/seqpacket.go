package helperproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// SeqPacket is a message descriptor, normally one end of a unix
// SOCK_SEQPACKET socket pair, read and written one message at a time
// through the Go poller (FrameFD is the same without the poller, for
// descriptors a device's I/O thread polls). It uses only read, write and close on the
// descriptor (plus the poller's epoll), which the monitor's seccomp
// filter allows: no readv, writev, sendmsg or recvmsg.
//
// Its errors carry no prefix (the caller adds its own) and fall into
// these classes:
//   - after Close: os.ErrClosed;
//   - the peer closed its end: io.EOF when reading (a zero-length
//     message on SOCK_SEQPACKET, or ECONNRESET), os.ErrClosed when
//     writing (EPIPE, ECONNRESET, ECONNREFUSED, ENOTCONN);
//   - anything else wraps the errno (unix.EMSGSIZE for a message larger
//     than the socket buffer).
type SeqPacket struct {
	f      *os.File
	rc     syscall.RawConn
	fd     int
	seq    bool // a zero-length read is the peer's close
	closed atomic.Bool
}

// NewSeqPacket returns a SeqPacket on fd, a SOCK_SEQPACKET socket, which
// it owns from then on (it is closed on error and by Close). It makes fd
// non-blocking; name is the name of its *os.File. The caller checks the
// socket type.
func NewSeqPacket(fd int, name string) (*SeqPacket, error) {
	return newSocket(fd, name, true)
}

// NewDatagram is NewSeqPacket for a SOCK_DGRAM socket, on which a
// zero-length message is a message, not the peer's close (and which
// cannot tell when its peer goes away).
func NewDatagram(fd int, name string) (*SeqPacket, error) {
	return newSocket(fd, name, false)
}

func newSocket(fd int, name string, seq bool) (*SeqPacket, error) {
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
	return &SeqPacket{f: f, rc: rc, fd: fd, seq: seq}, nil
}

// errPeerEOF and errPeerClosed are what Read and Write return when the
// peer closed its end.
var (
	errPeerEOF    = fmt.Errorf("the peer closed the connection: %w", io.EOF)
	errPeerClosed = fmt.Errorf("the peer closed the connection: %w", os.ErrClosed)
)

// Read reads one message into b, waiting for one (a longer message is
// truncated, as read does). See SeqPacket for its errors.
func (s *SeqPacket) Read(b []byte) (int, error) {
	var n int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				break
			}
		}
		return rerr != unix.EAGAIN
	})
	if err != nil && !s.closed.Load() {
		return 0, err
	}
	return s.readResult(n, rerr)
}

// readResult classifies one read (see SeqPacket).
func (s *SeqPacket) readResult(n int, rerr error) (int, error) {
	return readResult(s.closed.Load(), s.seq, n, rerr)
}

// readResult classifies one read(2) of a message descriptor, closed or
// not, on which (seq) a zero-length message is the peer's close.
func readResult(closed, seq bool, n int, rerr error) (int, error) {
	switch {
	case closed, rerr == os.ErrClosed:
		return 0, os.ErrClosed
	case rerr == unix.ECONNRESET, rerr == nil && n == 0 && seq:
		return 0, errPeerEOF
	case rerr != nil:
		return 0, fmt.Errorf("read: %w", rerr)
	}
	return n, nil
}

// writeError classifies a failed write(2) of a size-byte message (not
// EINTR or EAGAIN, which the callers handle).
func writeError(werr error, size int) error {
	switch {
	case errors.Is(werr, unix.EPIPE), errors.Is(werr, unix.ECONNRESET), errors.Is(werr, unix.ECONNREFUSED), errors.Is(werr, unix.ENOTCONN):
		return errPeerClosed
	case errors.Is(werr, unix.EMSGSIZE):
		return fmt.Errorf("%d-byte message is larger than the socket buffer: %w", size, werr)
	}
	return fmt.Errorf("write: %w", werr)
}

// Write writes b as one message, waiting for room in the socket buffer.
// See SeqPacket for its errors.
func (s *SeqPacket) Write(b []byte) error {
	var werr error
	err := s.rc.Write(func(fd uintptr) bool {
		for {
			_, werr = unix.Write(int(fd), b)
			if werr != unix.EINTR {
				break
			}
		}
		return werr != unix.EAGAIN
	})
	switch {
	case s.closed.Load():
		return os.ErrClosed
	case err != nil:
		return err
	case werr == nil:
		return nil
	}
	return writeError(werr, len(b))
}

// Close marks the socket closed, then closes the descriptor (the peer
// reads end of file) and so unblocks Read and Write, which then return
// os.ErrClosed. Closing again does nothing.
func (s *SeqPacket) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.f.Close()
}

// Closed reports whether Close was called.
func (s *SeqPacket) Closed() bool { return s.closed.Load() }

// Fd is the descriptor's number, valid until Close. (Unlike
// (*os.File).Fd, it leaves the descriptor non-blocking.)
func (s *SeqPacket) Fd() int { return s.fd }

// File is the descriptor as a file, for instance to pass to a child
// process. The SeqPacket still owns it.
func (s *SeqPacket) File() *os.File { return s.f }

// Control calls f with the descriptor, which stays open during the call
// (see syscall.RawConn).
func (s *SeqPacket) Control(f func(fd int)) error {
	return s.rc.Control(func(fd uintptr) { f(int(fd)) })
}
