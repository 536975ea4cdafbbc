package helperproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// SeqPacket is a message descriptor, normally one end of a unix
// SOCK_SEQPACKET socket pair (or a TAP device, one frame per read and
// write), read and written one message at a time. It uses only read,
// write, ppoll and close on the descriptor, which the monitor's seccomp
// filter allows: no readv, writev, sendmsg or recvmsg.
//
// The descriptor is never registered with Go's network poller: a
// non-blocking descriptor in an *os.File is, edge-triggered for reads
// and writes, and then every message that arrived and every write woke
// one of the monitor's idle Go threads, although the reader is the
// network device's I/O thread, which sleeps in ppoll itself. Measured on
// the TAP backend under wrk: ~10,000 useless wake-ups a second, and
// 42-44k HTTP requests/s instead of 49-53k (docs/decisions/017). A
// blocking Read or Write sleeps in ppoll (on its own OS thread) instead.
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
	name string
	fd   int  // non-blocking
	wake int  // eventfd: Close ends a Read or Write sleeping in ppoll
	seq  bool // a zero-length read is the peer's close

	// mu is held for reading around every use of fd and wake, and for
	// writing by Close, so that they are not closed (and their numbers
	// reused) under a caller.
	mu      sync.RWMutex
	closed  bool
	closing atomic.Bool // set by Close before it takes mu
	file    *os.File    // made by File, closed with the descriptor
}

// NewSeqPacket returns a SeqPacket on fd, a SOCK_SEQPACKET socket (or a
// TAP device), which it owns from then on (it is closed on error and by
// Close). It makes fd non-blocking; name is used by File. The caller
// checks the socket type.
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
	if fd < 0 {
		return nil, fmt.Errorf("%s: bad descriptor %d", name, fd)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &SeqPacket{name: name, fd: fd, wake: wake, seq: seq}, nil
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
	s.mu.RLock()
	defer s.mu.RUnlock()
	for {
		n, err := s.read(b)
		if err != unix.EAGAIN {
			return s.readResult(n, err)
		}
		if err := s.waitFor(unix.POLLIN); err != nil {
			return 0, err
		}
	}
}

// TryRead is Read without waiting: an error wrapping unix.EAGAIN when no
// message is there.
func (s *SeqPacket) TryRead(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.read(b)
	if err == unix.EAGAIN && !s.closing.Load() {
		return 0, fmt.Errorf("read: %w", err)
	}
	return s.readResult(n, err)
}

// read is one read(2), repeated on EINTR (s.mu held for reading).
func (s *SeqPacket) read(b []byte) (int, error) {
	for {
		if s.closed || s.closing.Load() {
			return 0, os.ErrClosed
		}
		n, err := unix.Read(s.fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// readResult classifies one read (see SeqPacket).
func (s *SeqPacket) readResult(n int, rerr error) (int, error) {
	switch {
	case s.closing.Load(), rerr == os.ErrClosed:
		return 0, os.ErrClosed
	case rerr == unix.ECONNRESET, rerr == nil && n == 0 && s.seq:
		return 0, errPeerEOF
	case rerr != nil:
		return 0, fmt.Errorf("read: %w", rerr)
	}
	return n, nil
}

// Write writes b as one message, waiting for room in the socket buffer.
// See SeqPacket for its errors.
func (s *SeqPacket) Write(b []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for {
		if s.closed || s.closing.Load() {
			return os.ErrClosed
		}
		_, err := unix.Write(s.fd, b)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if err := s.waitFor(unix.POLLOUT); err != nil {
				return err
			}
			continue
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.ENOTCONN):
			return errPeerClosed
		case errors.Is(err, unix.EMSGSIZE):
			return fmt.Errorf("%d-byte message is larger than the socket buffer: %w", len(b), err)
		}
		return fmt.Errorf("write: %w", err)
	}
}

// waitFor sleeps in ppoll until the descriptor is ready for events (or
// has an error or hang-up to report) or Close is called (s.mu held for
// reading).
func (s *SeqPacket) waitFor(events int16) error {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: events}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	for {
		if s.closing.Load() {
			return os.ErrClosed
		}
		_, err := unix.Ppoll(fds, nil, nil)
		switch {
		case err != nil && err != unix.EINTR:
			return fmt.Errorf("ppoll: %w", err)
		case fds[1].Revents != 0:
			return os.ErrClosed
		case fds[0].Revents != 0:
			return nil
		}
	}
}

// Close marks the socket closed, ends a Read or Write waiting for it,
// then closes the descriptor (the peer reads end of file). Read and
// Write then return os.ErrClosed. Closing again does nothing.
func (s *SeqPacket) Close() error {
	if !s.closing.Swap(true) {
		var one [8]byte
		one[0] = 1
		unix.Write(s.wake, one[:])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	unix.Close(s.wake)
	if s.file != nil {
		return s.file.Close()
	}
	return unix.Close(s.fd)
}

// Closed reports whether Close was called.
func (s *SeqPacket) Closed() bool { return s.closing.Load() }

// Fd is the descriptor's number, valid until Close.
func (s *SeqPacket) Fd() int { return s.fd }

// File is the descriptor as a file, to pass to a child process (Cmd's
// ExtraFiles); the SeqPacket still owns it and Close closes it. Reading
// or writing through the file would register the descriptor with Go's
// poller: use Read and Write.
func (s *SeqPacket) File() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil && !s.closed {
		s.file = os.NewFile(uintptr(s.fd), s.name)
	}
	return s.file
}

// Control calls f with the descriptor, which stays open during the call.
func (s *SeqPacket) Control(f func(fd int)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return os.ErrClosed
	}
	f(s.fd)
	return nil
}
