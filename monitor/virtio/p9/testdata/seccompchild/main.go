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
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor"
	"brique.dev/brique/monitor/virtio/p9"
)

func msg(typ uint8, tag uint16, fields ...any) []byte {
	b := []byte{0, 0, 0, 0, typ, byte(tag), byte(tag >> 8)}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

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
	call := func(m []byte, want uint8) {
		if err := s.WriteMessage(m); err != nil {
			fail("write: %v", err)
		}
		n, err := s.ReadMessage(buf)
		if err != nil {
			fail("read: %v", err)
		}
		if n < p9.HeaderSize || buf[4] != want {
			fail("request type %d: reply % x", m[4], buf[:min(n, 16)])
		}
	}
	call(msg(100, p9.NoTag, uint32(8192), "9P2000.L"), 101)
	call(msg(104, 1, uint32(1), uint32(0xFFFFFFFF), "", "", uint32(0)), 105)
	call(msg(14, 2, uint32(1), "hello", uint32(2), uint32(0o644), uint32(0)), 15) // Tlcreate, fid 1 is now the file
	w := msg(118, 3, uint32(1), uint64(0), uint32(len("written under seccomp")))
	w = append(w, "written under seccomp"...)
	binary.LittleEndian.PutUint32(w, uint32(len(w)))
	call(w, 119)
	call(msg(50, 4, uint32(1)), 51) // Tfsync
	s.Close()
	if err := srv.Close(); err != nil {
		fail("server: %v", err)
	}
	fmt.Println("ok")
}
