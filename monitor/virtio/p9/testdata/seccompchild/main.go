// Command seccompchild plays the monitor for TestP9UnderSeccomp: it
// starts brique-9pd on DIR with p9.LaunchServer, installs the monitor's
// seccomp allow-list (monitor.EnterSeccomp, the real one), then does
// what the virtio-9p device does with the server — write requests, read
// replies on the socket — to create DIR/hello, write and fsync it, and
// finally closes the socket and waits for the server to exit. Like the
// monitor, it links neither package net nor cgo.
//
//	seccompchild BRIQUE-9PD DIR
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor"
	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

func fail(format string, a ...any) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: seccompchild BRIQUE-9PD DIR")
	}
	fd, err := unix.Open(os.Args[2], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail("%v", err)
	}
	dir := os.NewFile(uintptr(fd), os.Args[2])
	srv, socks, err := p9.LaunchServer(os.Args[1], []p9.Export{{Dir: dir}}, p9.ServerOptions{Stderr: os.Stderr})
	if err != nil {
		fail("%v", err)
	}
	dir.Close()
	if err := monitor.EnterSeccomp(); err != nil {
		fail("%v", err)
	}
	if _, err := os.Open("/etc/hostname"); err == nil {
		fail("the filter lets open through")
	}
	s := socks[0]
	buf := make([]byte, srv.MaxMessage()+1)
	call := func(m []byte) { // the reply must be m's type + 1
		if err := s.WriteMessage(m); err != nil {
			fail("write: %v", err)
		}
		n, err := s.ReadMessage(buf)
		if err != nil {
			fail("read: %v", err)
		}
		if n < p9.HeaderSize || buf[4] != m[4]+1 {
			fail("request type %d: reply % x", m[4], buf[:min(n, 16)])
		}
	}
	call(p9test.Version(8192))
	call(p9test.Attach(1, 1))
	call(p9test.Msg(p9test.Tlcreate, 2, uint32(1), "hello", uint32(2), uint32(0o644), uint32(0))) // fid 1 is now the file
	data := "written under seccomp"
	call(p9test.Msg(p9test.Twrite, 3, uint32(1), uint64(0), uint32(len(data)), []byte(data)))
	call(p9test.Msg(p9test.Tfsync, 4, uint32(1)))
	s.Close()
	if err := srv.Close(); err != nil {
		fail("server: %v", err)
	}
	fmt.Println("ok")
}
