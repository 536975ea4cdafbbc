package net_test

import (
	"bytes"
	"errors"
	"io"
	stdnet "net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vnet "brique.dev/brique/monitor/virtio/net"
)

// socketPair returns a socket backend on one end of a socket pair of type
// typ and the other end's descriptor (closed at the end of the test).
func socketPair(t *testing.T, typ int) (*vnet.Socket, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := vnet.NewSocketFD(fds[0], "test socket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); unix.Close(fds[1]) })
	unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	return s, fds[1]
}

// readPacket reads one frame from b, failing after 5 s.
func readPacket(t *testing.T, b vnet.Backend, size int) ([]byte, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	buf := make([]byte, size)
	c := make(chan result, 1)
	go func() {
		n, err := b.ReadPacket(buf)
		c <- result{n, err}
	}()
	select {
	case r := <-c:
		return buf[:r.n], r.err
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket blocked for 5 s")
		return nil, nil
	}
}

func TestSocketBackend(t *testing.T) {
	for _, typ := range []struct {
		name string
		typ  int
	}{{"seqpacket", unix.SOCK_SEQPACKET}, {"dgram", unix.SOCK_DGRAM}} {
		t.Run(typ.name, func(t *testing.T) {
			s, peer := socketPair(t, typ.typ)
			// Peer to backend: one message, one frame; runts are skipped;
			// a frame longer than the buffer is truncated (n == len).
			f1, f2 := testFrame(1, 60), testFrame(2, 1514)
			for _, m := range [][]byte{f1, make([]byte, 13), f2, testFrame(3, 1514)} {
				if _, err := unix.Write(peer, m); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range [][]byte{f1, f2} {
				got, err := readPacket(t, s, 2048)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("ReadPacket = %d bytes, %v; want frame of %d bytes", len(got), err, len(want))
				}
			}
			if got, err := readPacket(t, s, 100); err != nil || len(got) != 100 {
				t.Fatalf("truncated ReadPacket = %d, %v; want 100 (the device drops it)", len(got), err)
			}

			// Backend to peer: a gather list becomes one message.
			f := testFrame(4, 1000)
			if err := s.WritePacket([][]byte{f[:6], f[6:14], f[14:500], f[500:]}); err != nil {
				t.Fatal(err)
			}
			if err := s.WritePacket([][]byte{f1}); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			for _, want := range [][]byte{f, f1} {
				n, err := unix.Read(peer, buf)
				if err != nil || !bytes.Equal(buf[:n], want) {
					t.Fatalf("peer read %d bytes, %v; want %d", n, err, len(want))
				}
			}
			if err := s.WritePacket([][]byte{f[:6], f[6:13]}); err == nil || !strings.Contains(err.Error(), "shorter than an Ethernet header") {
				t.Errorf("13-byte frame: %v", err)
			}
		})
	}
}

func TestSocketPeerClose(t *testing.T) {
	s, peer := socketPair(t, unix.SOCK_SEQPACKET)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadPacket(make([]byte, 2048))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block
	unix.Close(peer)
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "peer closed") {
			t.Errorf("ReadPacket after the peer closed: %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket not unblocked by the peer's close")
	}
	if err := s.WritePacket([][]byte{testFrame(1, 60)}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WritePacket after the peer closed: %v, want os.ErrClosed", err)
	}
}

func TestSocketClose(t *testing.T) {
	s, peer := socketPair(t, unix.SOCK_SEQPACKET)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadPacket(make([]byte, 2048))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("ReadPacket after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket not unblocked by Close")
	}
	if err := s.WritePacket([][]byte{testFrame(1, 60)}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WritePacket after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The peer reads end of file.
	if n, err := unix.Read(peer, make([]byte, 64)); n != 0 || err != nil {
		t.Errorf("peer read after Close: %d, %v; want end of file", n, err)
	}
}

func TestNewSocketErrors(t *testing.T) {
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", what, err, want)
		}
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	_, err = vnet.NewSocketFD(fds[0], "")
	check("stream socket", err, "SOCK_STREAM socket has no message boundaries")
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err == nil {
		t.Error("NewSocketFD did not close the descriptor it refused")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	_, err = vnet.NewSocket(r)
	check("pipe", err, "not a socket")
	_, err = vnet.NewSocketFD(1<<20, "")
	check("closed descriptor", err, "not an open file descriptor")

	// NewSocket works on a duplicate: closing the file does not matter.
	fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "mine")
	s, err := vnet.NewSocket(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.Close()
	if s.Name() != "mine" {
		t.Errorf("name %q", s.Name())
	}
	if _, err := unix.Write(fds[1], testFrame(7, 64)); err != nil {
		t.Fatal(err)
	}
	if got, err := readPacket(t, s, 2048); err != nil || !bytes.Equal(got, testFrame(7, 64)) {
		t.Errorf("ReadPacket on a NewSocket = %d bytes, %v", len(got), err)
	}
}

// TestSocketDevice moves frames both ways through the whole device on a
// socket backend: driver, virtio-net, socket pair.
func TestSocketDevice(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	s, err := vnet.NewSocketFD(fds[0], "test socket")
	if err != nil {
		t.Fatal(err)
	}
	mac := stdnet.HardwareAddr{2, 0, 0, 0, 0, 9}
	n := startNet(t, vnet.Config{Backend: s, MAC: mac}, ^uint64(0))
	n.post(16, 1526)
	for i := range 3 {
		want := testFrame(i, 60+i*700)
		if _, err := unix.Write(fds[1], want); err != nil {
			t.Fatal(err)
		}
		if _, got := n.recv(); !bytes.Equal(got, want) {
			t.Fatalf("frame %d to the guest: %d bytes, want %d", i, len(got), len(want))
		}
	}
	buf := make([]byte, 4096)
	for i, layout := range []int{0, 1, 2} {
		want := testFrame(10+i, 100+i*600)
		n.send(want, layout)
		m, err := unix.Read(fds[1], buf)
		if err != nil || !bytes.Equal(buf[:m], want) {
			t.Fatalf("frame %d from the guest (layout %d): %d bytes, %v; want %d", i, layout, m, err, len(want))
		}
	}
}
