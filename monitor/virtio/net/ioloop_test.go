package net_test

import (
	"bytes"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vnet "brique.dev/brique/monitor/virtio/net"
)

// ioLoopMode makes startNet put pipe backends behind a real descriptor
// (pollPipe), so that the device serves them with its I/O loop.
var ioLoopMode bool

// pollPipe is a PollBackend over a SOCK_SEQPACKET socket pair whose other
// end is bridged to a pipeBackend's channels.
type pollPipe struct {
	p      *pipeBackend
	fd     int // the device's end, non-blocking
	peer   int
	closed bool
	reads  atomic.Int32 // blocking ReadPacket calls (the I/O loop makes none)
}

func newPollPipe(t *testing.T, p *pipeBackend) *pollPipe {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	pp := &pollPipe{p: p, fd: fds[0], peer: fds[1]}
	go func() { // frames to the guest
		for {
			select {
			case f := <-p.in:
				if _, err := unix.Write(pp.peer, f); err != nil {
					return
				}
			case <-p.closed:
				return
			}
		}
	}()
	go func() { // frames from the guest
		buf := make([]byte, 70000)
		for {
			n, err := unix.Read(pp.peer, buf)
			if err != nil || n == 0 {
				return
			}
			select {
			case p.out <- append([]byte(nil), buf[:n]...):
			case <-p.closed:
				return
			}
		}
	}()
	t.Cleanup(func() { unix.Close(pp.peer) })
	return pp
}

func (pp *pollPipe) PollFD() int { return pp.fd }

func (pp *pollPipe) TryReadFrame(buf []byte) (int, error) {
	return pp.tryRead(buf[vnet.HeaderSize:])
}

func (pp *pollPipe) tryRead(buf []byte) (int, error) {
	if pp.closed {
		return 0, os.ErrClosed
	}
	n, err := unix.Read(pp.fd, buf)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (pp *pollPipe) ReadPacket(buf []byte) (int, error) {
	pp.reads.Add(1)
	for {
		n, err := pp.tryRead(buf)
		if !errors.Is(err, unix.EAGAIN) {
			return n, err
		}
		fds := []unix.PollFd{{Fd: int32(pp.fd), Events: unix.POLLIN}}
		unix.Poll(fds, 100)
	}
}

func (pp *pollPipe) WritePacket(frame [][]byte) error {
	b := bytes.Join(frame, nil)
	for {
		_, err := unix.Write(pp.fd, b)
		if !errors.Is(err, unix.EAGAIN) {
			return err
		}
		fds := []unix.PollFd{{Fd: int32(pp.fd), Events: unix.POLLOUT}}
		unix.Poll(fds, 100)
	}
}

func (pp *pollPipe) Close() error {
	if pp.closed {
		return nil
	}
	pp.closed = true
	pp.p.Close()
	return unix.Close(pp.fd)
}

// TestIOLoop runs the device tests with the I/O loop serving the queues.
func TestIOLoop(t *testing.T) {
	ioLoopMode = true
	defer func() { ioLoopMode = false }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Transmit", TestNetTransmit},
		{"Receive", TestNetReceive},
		{"ReceiveWaitsForBuffers", TestNetReceiveWaitsForBuffers},
		{"ReceiveTooSmall", TestNetReceiveTooSmall},
		{"ResetAndRestart", TestNetResetAndRestart},
		{"BothWays", TestNetBothWays},
	} {
		t.Run(tc.name, tc.f)
	}
}

// TestIOLoopIsUsed checks that the mode above really exercises the loop:
// a PollBackend's device reads through TryReadFrame, never ReadPacket.
func TestIOLoopIsUsed(t *testing.T) {
	ioLoopMode = true
	defer func() { ioLoopMode = false }()
	p := newPipe()
	n := startNet(t, vnet.Config{Backend: p}, ^uint64(0))
	pp, ok := n.dev.Backend().(*pollPipe)
	if !ok {
		t.Fatalf("backend is %T, not a pollPipe", n.dev.Backend())
	}
	n.post(4, 1526)
	f := testFrame(7, 300)
	p.in <- f
	if _, got := n.recv(); !bytes.Equal(got, f) {
		t.Fatalf("received %d bytes", len(got))
	}
	if r := pp.reads.Load(); r != 0 {
		t.Fatalf("the device made %d blocking reads: the goroutine design served it", r)
	}
	if s := n.dev.Stats(); s.Interrupts == 0 {
		t.Errorf("a frame was delivered but the stats count %d interrupts", s.Interrupts)
	}
	// A frame sent while the loop sleeps costs a kick, counted from the
	// doorbell. (The loop may still be awake for the first few.)
	for i := 0; i < 50 && n.dev.Stats().Kicks == 0; i++ {
		f := testFrame(i, 100)
		n.send(f, 0)
		select {
		case got := <-p.out:
			if !bytes.Equal(got, f) {
				t.Fatalf("frame %d: sent %d bytes, backend got %d", i, len(f), len(got))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %d not sent", i)
		}
		time.Sleep(time.Millisecond)
	}
	if s := n.dev.Stats(); s.Kicks == 0 {
		t.Errorf("50 frames sent one by one, no kick counted: %+v", s)
	}
}
