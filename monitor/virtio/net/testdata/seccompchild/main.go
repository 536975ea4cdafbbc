// Command seccompchild plays the monitor for TestUserNetUnderSeccomp,
// TestUserNetMonitorDies and TestTAPUnderSeccomp. With NETD it starts the
// user-mode network with StartUserNet, then either installs the monitor's
// seccomp allow-list (monitor.EnterSeccomp, the real one), asks the gateway for its MAC address and closes the
// backend ("seccomp"), or waits to be killed ("die"). With "tap NAME" it
// opens the TAP interface NAME, says "open", waits for a line on its
// standard input (the test configures the interface), installs the
// filter and asks the host (10.99.2.1) for its MAC address. Like the
// monitor, it links neither package net nor cgo, so its threads come
// from the raw clone system call that the filter allows.
//
//	seccompchild NETD seccomp|die
//	seccompchild tap NAME
//	seccompchild kill PROGRAM
//
// With "kill PROGRAM" it starts PROGRAM (which must not exit by itself)
// as a helper process, installs the filter, and checks that the helper
// can still be killed (helperproc's ExitWithin, as for a daemon that
// does not exit when its socket closes).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor"
	"brique.dev/brique/monitor/helperproc"
	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/netconf"
)

func fail(format string, a ...any) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

// arpRequest asks who has the gateway's address.
func arpRequest() []byte {
	return arpRequestFor(netconf.GuestMAC6, netconf.GuestIP4, netconf.GatewayIP4)
}

func arpRequestFor(mac [6]byte, ip, target [4]byte) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac[:])
	f[12], f[13] = 0x08, 0x06 // ARP
	copy(f[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(f[22:28], mac[:])
	copy(f[28:32], ip[:])
	copy(f[38:42], target[:])
	return f
}

func isGatewayARPReply(f []byte) bool {
	return isARPReplyFrom(f, netconf.GatewayIP4) && bytes.Equal(f[22:28], netconf.GatewayMAC6[:])
}

func isARPReplyFrom(f []byte, ip [4]byte) bool {
	return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 2 &&
		bytes.Equal(f[28:32], ip[:])
}

// tap exchanges an ARP request and reply with the host's kernel through
// the TAP interface name under the filter.
func tap(name string) {
	t, err := vnet.OpenTAP(name)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println("open")
	if _, err := os.Stdin.Read(make([]byte, 16)); err != nil {
		fail("reading stdin: %v", err)
	}
	if err := monitor.EnterSeccomp(); err != nil {
		fail("seccomp: %v", err)
	}
	host := [4]byte{10, 99, 2, 1}
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := t.ReadPacket(buf)
			if err != nil {
				got <- err
				return
			}
			if isARPReplyFrom(buf[:n], host) {
				got <- nil
				return
			}
		}
	}()
	req := arpRequestFor([6]byte{2, 0xb1, 0x0c, 0, 0, 2}, [4]byte{10, 99, 2, 2}, host)
	if err := t.WritePacket([][]byte{req[:20], req[20:]}); err != nil {
		fail("WritePacket: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			fail("ReadPacket: %v", err)
		}
	case <-time.After(5 * time.Second):
		fail("no ARP reply from the host under the filter")
	}
	if err := t.Close(); err != nil {
		fail("Close: %v", err)
	}
	fmt.Println("ok")
}

// kill starts program as a helper, installs the filter and kills it.
// Every failure after the start kills the helper first, so that none is
// left behind.
func kill(program string) {
	p, err := helperproc.Start(helperproc.Cmd{Path: program, Args: []string{program}})
	if err != nil {
		fail("%v", err)
	}
	failKill := func(format string, a ...any) {
		p.Kill()
		fail(format, a...)
	}
	if err := monitor.EnterSeccomp(); err != nil {
		failKill("seccomp: %v", err)
	}
	if p.ExitWithin(100 * time.Millisecond) {
		failKill("%s exited by itself", program)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		failKill("%s (pid %d) still runs 5 s after it was killed under the filter", program, p.Proc().Pid)
	}
	state, err := p.Wait()
	if err != nil {
		failKill("waiting for %s under the filter: %v", program, err)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		failKill("%s ended with %v, want killed by SIGKILL", program, state)
	}
	fmt.Println("ok")
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: seccompchild NETD seccomp|die, seccompchild tap NAME, or seccompchild kill PROGRAM")
	}
	if os.Args[1] == "tap" {
		tap(os.Args[2])
		return
	}
	if os.Args[1] == "kill" {
		kill(os.Args[2])
		return
	}
	u, err := vnet.StartUserNet(os.Args[1], nil, vnet.UserNetOptions{})
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("pid %d\n", u.Process().Pid)
	if os.Args[2] == "die" {
		os.Stdout.Close() // tell the parent, then wait to be killed
		time.Sleep(time.Hour)
	}
	if err := monitor.EnterSeccomp(); err != nil {
		fail("seccomp: %v", err)
	}
	if _, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); !errors.Is(err, unix.EPERM) {
		fail("socket under the filter: %v, want EPERM", err)
	}
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := u.ReadPacket(buf)
			if err != nil {
				got <- err
				return
			}
			if isGatewayARPReply(buf[:n]) {
				got <- nil
				return
			}
		}
	}()
	if err := u.WritePacket([][]byte{arpRequest()}); err != nil {
		fail("WritePacket: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			fail("ReadPacket: %v", err)
		}
	case <-time.After(5 * time.Second):
		fail("no ARP reply under the filter")
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- u.Close() }()
	select {
	case err := <-done:
		if err != nil {
			fail("Close: %v", err)
		}
	case <-time.After(vnet.NetdExitTimeout + 2*time.Second):
		fail("Close hangs under the filter")
	}
	fmt.Printf("Close took %v; daemon state %v\n", time.Since(start).Round(time.Microsecond), u.Wait())
	fmt.Println("ok")
}
