package helperproc_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

// TestFrameFDWriteFull: a write to a peer that reads nothing gives up
// with ErrFull instead of waiting for ever (a device's I/O loop must go
// on reading), and the frames already written are intact.
func TestFrameFDWriteFull(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f, err := helperproc.NewFrameFD(fds[0], "test", true)
	if err != nil {
		unix.Close(fds[0])
		t.Fatal(err)
	}
	defer f.Close()
	frame := make([]byte, 1500)
	sent := 0
	for ; sent < 100000; sent++ {
		frame[0] = byte(sent)
		if err = f.Write(frame); err != nil {
			break
		}
	}
	if !errors.Is(err, helperproc.ErrFull) {
		t.Fatalf("after %d frames: %v, want ErrFull", sent, err)
	}
	if sent == 0 {
		t.Fatal("not even one frame fitted")
	}
	buf := make([]byte, 2048)
	for i := 0; i < sent; i++ {
		n, err := unix.Read(fds[1], buf)
		if err != nil || n != len(frame) || buf[0] != byte(i) {
			t.Fatalf("frame %d: %d bytes, first %d, %v", i, n, buf[0], err)
		}
	}
	// Room again: writing works.
	if err := f.Write(frame); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}
