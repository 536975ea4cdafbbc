package helperproc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// FrameFD is SeqPacket for a descriptor that a network device's I/O
// thread polls itself (a TAP device, brique-netd's socket): the same
// messages, errors and uses of read, write and close, but never
// registered with Go's network poller. In an *os.File a non-blocking
// descriptor is, edge-triggered for reads and writes, and then every
// message that arrived and every write woke one of the monitor's idle Go
// threads for nothing: measured on the TAP backend under wrk, ~10,000
// wake-ups a second, and 42-44k HTTP requests/s instead of 49-53k
// (docs/decisions/017). TryRead reads without waiting; a blocking Read or
// Write sleeps in ppoll, on its own OS thread.
//
// A descriptor that goroutines wait on, such as a 9P socket, stays in
// SeqPacket, whose waits go through Go's poller: served by FrameFD, a
// volume read measured no better (340-440 MB/s against 400-660, on a
// noisy machine), so brique-9pd's sockets were left as they were.
type FrameFD struct {
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
}

// NewFrameFD returns a FrameFD on fd, which it owns from then on (it is
// closed on error and by Close), and makes non-blocking. With seq (a
// SOCK_SEQPACKET socket), a zero-length message is the peer's close; on a
// SOCK_DGRAM socket or a TAP device it is not. name appears in the
// errors of NewFrameFD.
func NewFrameFD(fd int, name string, seq bool) (*FrameFD, error) {
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
	return &FrameFD{name: name, fd: fd, wake: wake, seq: seq}, nil
}

// Read reads one message into b, waiting for one (a longer message is
// truncated, as read does). See SeqPacket for its errors.
func (s *FrameFD) Read(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for {
		n, err := s.read(b)
		if err != unix.EAGAIN {
			return s.result(n, err)
		}
		if err := s.waitFor(unix.POLLIN, 0); err != nil {
			return 0, err
		}
	}
}

// TryRead is Read without waiting: an error wrapping unix.EAGAIN when no
// message is there.
func (s *FrameFD) TryRead(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.read(b)
	if err == unix.EAGAIN && !s.closing.Load() {
		return 0, fmt.Errorf("read: %w", err)
	}
	return s.result(n, err)
}

// read is one read(2), repeated on EINTR (s.mu held for reading).
func (s *FrameFD) read(b []byte) (int, error) {
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

// result classifies one read (see SeqPacket).
func (s *FrameFD) result(n int, rerr error) (int, error) {
	return readResult(s.closing.Load(), s.seq, n, rerr)
}

// writeWait bounds how long Write waits for room. A device's I/O loop
// writes from the thread that also reads the other direction: were it
// to wait for ever for a peer that itself waits for the loop to read
// (brique-netd writes its replies while the guest posts no receive
// buffers), both would. After writeWait the frame is dropped, as a
// full NIC queue drops it, and the loop goes on reading.
const writeWait = 100 * time.Millisecond

// Write writes b as one message, waiting at most writeWait for room in
// the socket buffer (ErrFull then). See SeqPacket for its other errors.
func (s *FrameFD) Write(b []byte) error {
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
			if err := s.waitFor(unix.POLLOUT, writeWait); err != nil {
				return err
			}
			continue
		}
		return writeError(err, len(b))
	}
}

// ErrFull is Write's error when the socket had no room for writeWait.
var ErrFull = errors.New("no room in the socket buffer: frame dropped")

// waitFor sleeps in ppoll until the descriptor is ready for events (or
// has an error or hang-up to report), Close is called, or timeout (if
// not 0) passes: ErrFull then (s.mu held for reading).
func (s *FrameFD) waitFor(events int16, timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: events}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if s.closing.Load() {
			return os.ErrClosed
		}
		var ts *unix.Timespec
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return ErrFull
			}
			t := unix.NsecToTimespec(int64(left))
			ts = &t
		}
		_, err := unix.Ppoll(fds, ts, nil)
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
func (s *FrameFD) Close() error {
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
	return unix.Close(s.fd)
}

// Closed reports whether Close was called.
func (s *FrameFD) Closed() bool { return s.closing.Load() }

// Fd is the descriptor's number, valid until Close.
func (s *FrameFD) Fd() int { return s.fd }
