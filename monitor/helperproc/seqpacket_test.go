package helperproc_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

// msgConn is what SeqPacket and FrameFD have in common; the tests run on
// both.
type msgConn interface {
	Read([]byte) (int, error)
	Write([]byte) error
	Close() error
	Closed() bool
	Fd() int
}

// kinds opens a descriptor as each of the two types.
var kinds = []struct {
	name string
	open func(fd int, name string, seq bool) (msgConn, error)
}{
	{"SeqPacket", func(fd int, name string, seq bool) (msgConn, error) {
		if seq {
			return helperproc.NewSeqPacket(fd, name)
		}
		return helperproc.NewDatagram(fd, name)
	}},
	{"FrameFD", func(fd int, name string, seq bool) (msgConn, error) {
		return helperproc.NewFrameFD(fd, name, seq)
	}},
}

// forKinds runs f once per type, as a subtest.
func forKinds(t *testing.T, f func(t *testing.T, open func(fd int, name string, seq bool) (msgConn, error))) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.open) })
	}
}

func pair(t *testing.T, open func(int, string, bool) (msgConn, error), typ int) (a, b msgConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = open(fds[0], "a", typ == unix.SOCK_SEQPACKET); err != nil {
		t.Fatal(err)
	}
	if b, err = open(fds[1], "b", typ == unix.SOCK_SEQPACKET); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSeqPacketRoundTrip(t *testing.T) { forKinds(t, testRoundTrip) }

func testRoundTrip(t *testing.T, open func(int, string, bool) (msgConn, error)) {
	a, b := pair(t, open, unix.SOCK_SEQPACKET)
	msgs := [][]byte{[]byte("hello"), bytes.Repeat([]byte{7}, 9000), []byte("x")}
	for _, m := range msgs {
		if err := a.Write(m); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	buf := make([]byte, 16<<10)
	for _, m := range msgs { // message boundaries are kept
		n, err := b.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], m) {
			t.Fatalf("Read = %d bytes, %v; want %d bytes", n, err, len(m))
		}
	}
	// A reader waiting for a message gets it.
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.Write([]byte("late"))
	}()
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "late" {
		t.Errorf("waiting Read = %q, %v", buf[:n], err)
	}
	if a.Fd() < 0 || a.Closed() {
		t.Errorf("Fd %d, Closed %v", a.Fd(), a.Closed())
	}
	sndbuf, err := unix.GetsockoptInt(a.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if sp, ok := a.(*helperproc.SeqPacket); ok {
		if sp.File() == nil {
			t.Error("File() = nil")
		}
		if err := sp.Control(func(fd int) { sndbuf, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF) }); err != nil {
			t.Errorf("Control: %v", err)
		}
	}
	if err != nil || sndbuf <= 0 {
		t.Errorf("SO_SNDBUF %d, %v", sndbuf, err)
	}
	if err := a.Write(make([]byte, sndbuf+1)); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Write larger than the socket buffer: %v", err)
	}
}

func TestSeqPacketPeerClosed(t *testing.T) { forKinds(t, testPeerClosed) }

func testPeerClosed(t *testing.T, open func(int, string, bool) (msgConn, error)) {
	a, b := pair(t, open, unix.SOCK_SEQPACKET)
	if err := a.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if !b.Closed() {
		t.Error("Closed() = false after Close")
	}
	buf := make([]byte, 64)
	if n, err := a.Read(buf); !errors.Is(err, io.EOF) || n != 0 {
		t.Errorf("Read after the peer closed = %d, %v; want io.EOF", n, err)
	}
	if err := a.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after the peer closed: %v; want os.ErrClosed", err)
	}
}

func TestSeqPacketClose(t *testing.T) { forKinds(t, testClose) }

func testClose(t *testing.T, open func(int, string, bool) (msgConn, error)) {
	a, b := pair(t, open, unix.SOCK_SEQPACKET)
	// Close unblocks a waiting Read.
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 64))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read unblocked by Close: %v; want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := a.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v; want os.ErrClosed", err)
	}
	if _, err := a.Read(make([]byte, 64)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v; want os.ErrClosed", err)
	}
	// The peer sees the close.
	if _, err := b.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Errorf("peer's Read: %v; want io.EOF", err)
	}
}

// On a datagram socket an empty message is a message.
func TestDatagramEmpty(t *testing.T) { forKinds(t, testDatagramEmpty) }

func testDatagramEmpty(t *testing.T, open func(int, string, bool) (msgConn, error)) {
	a, b := pair(t, open, unix.SOCK_DGRAM)
	if err := a.Write(nil); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(make([]byte, 64)); n != 0 || err != nil {
		t.Errorf("Read of an empty datagram = %d, %v", n, err)
	}
}

func TestNewSeqPacketBadFD(t *testing.T) {
	if _, err := helperproc.NewSeqPacket(-1, "bad"); err == nil {
		t.Error("NewSeqPacket(-1) succeeded")
	}
	if _, err := helperproc.NewFrameFD(-1, "bad", true); err == nil {
		t.Error("NewFrameFD(-1) succeeded")
	}
}

func TestFrameFDTryRead(t *testing.T) {
	a, bc := pair(t, func(fd int, name string, seq bool) (msgConn, error) {
		return helperproc.NewFrameFD(fd, name, seq)
	}, unix.SOCK_SEQPACKET)
	b := bc.(*helperproc.FrameFD)
	buf := make([]byte, 64)
	if _, err := b.TryRead(buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryRead with nothing waiting = %v, want EAGAIN", err)
	}
	if err := a.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.TryRead(buf); err != nil || string(buf[:n]) != "frame" {
		t.Fatalf("TryRead = %q, %v", buf[:n], err)
	}
	a.Close()
	if _, err := b.TryRead(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("TryRead after the peer closed = %v, want io.EOF", err)
	}
	b.Close()
	if _, err := b.TryRead(buf); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("TryRead after Close = %v, want os.ErrClosed", err)
	}
}
