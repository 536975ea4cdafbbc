package net

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/osthread"
	"brique.dev/brique/monitor/virtio"
)

// The I/O loop serves a device whose backend is a PollBackend (TAP, the
// user network's socket). One
// goroutine, locked to its OS thread, moves frames both ways and sleeps
// in ppoll on two descriptors: the backend (frames to receive) and the
// device's doorbell, an eventfd the vCPU thread writes when the driver
// kicks a queue. This is vhost-net's shape. The goroutine design it
// replaces for such backends (a reader goroutine blocked in Go's poller,
// handing frames over a channel to a receive goroutine, and a transmit
// goroutine) spent ~0.75 host CPU at 30k HTTP requests/s on goroutine
// hand-offs, scheduler spinning and polling, as much as the vCPU itself
// (measured with a host CPU profile of the monitor, 2026-11-27).
//
// The loop does not poll before it sleeps: every wake-up after idle costs
// the guest a kick (a VM exit), but on these 2-core hosts the CPU a
// polling thread burns is taken from the vCPU and the load generator.
// Measured with wrk -c32 against the HTTP server: no polling 32-34k
// requests/s, 20 us 22-27k, 50 us 25k.
//
// The user network's socket backend (brique-netd) is served by this loop
// too. A first try had made it slower (13k to 11k requests/s through
// brique run -p), but then every message on the socket also woke an idle
// Go thread through the Go poller, where the descriptor was registered
// too; without that, the loop serves it at 13.8-15.0k requests/s against
// 11.4-13.2k for the goroutines (docs/decisions/017).

// rxErrorPause is how long the loop leaves the backend alone after a read
// error that is not its end.
const rxErrorPause = 10 * time.Millisecond

// ioBatch bounds the frames moved in one direction before the loop looks
// at the other one.
const ioBatch = 64

// ioLoop runs until stop is closed (and the doorbell rung).
func (d *Device) ioLoop(pb PollBackend, rx, tx *virtio.Queue, irq func(), stop <-chan struct{}) {
	defer d.wg.Done()
	// The thread is named (top -H, the benchmark's CPU accounting) and
	// never unlocked: it ends with the loop instead of going back to the
	// runtime's pool under this name.
	runtime.LockOSThread()
	osthread.SetName("brique-net-io")

	f := &frame{buf: make([]byte, d.frameSize)}
	chains := make([]virtio.Chain, 1, 8)
	var c virtio.Chain
	var bufs [][]byte
	have := false    // f holds a received frame the guest has no room for yet
	rxDead := false  // the backend cannot be read any more
	rxPause := false // a read failed: leave the backend alone for a while
	fds := []unix.PollFd{{Fd: int32(d.bell), Events: unix.POLLIN}, {Fd: int32(pb.PollFD()), Events: unix.POLLIN}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		work := false

		sent := 0
		for sent < ioBatch && tx.PopInto(&c) {
			bufs = d.transmit(&c, bufs[:0])
			tx.Fill(&c, 0)
			sent++
		}
		if sent > 0 {
			tx.Flush()
			if tx.NeedNotify() {
				irq()
			}
			work = true
		}

		delivered := 0
		full, noRoom := false, false
		for delivered < ioBatch && !rxDead && !rxPause {
			if !have {
				n, err := pb.TryReadFrame(f.buf)
				if err != nil {
					if !errors.Is(err, unix.EAGAIN) {
						rxDead = isClosed(err)
						if !rxDead {
							d.cfg.OnError(fmt.Errorf("virtio-net: receiving: %w", err))
							rxPause = true
						}
					}
					break
				}
				if n <= 0 || n >= len(f.buf)-HeaderSize {
					d.rxDropped.Add(1) // empty or truncated (longer than MTU)
					continue
				}
				f.n, have = n, true
			}
			var ok bool
			if ok, noRoom, chains = d.deliver(rx, f, chains); !ok {
				full = true
				break
			}
			have = false
			delivered++
		}
		if delivered > 0 {
			rx.Flush()
			if rx.NeedNotify() {
				irq()
			}
			work = true
		}
		if work {
			continue
		}

		// Nothing to do: ask the driver for kicks, look once more (a
		// buffer made available before the request would get no kick),
		// then sleep. While the guest has no room for a received frame,
		// the backend is not watched (it stays readable).
		if tx.EnableNotify() {
			tx.DisableNotify()
			continue
		}
		if full {
			more := rx.EnableNotify()
			if noRoom {
				more = rx.EnableNotifyMore()
			}
			if more {
				rx.DisableNotify()
				continue
			}
		}
		// A descriptor left out is set to -1, not just given no
		// events: ppoll reports a hang-up (brique-netd gone) or an
		// invalid descriptor whatever was asked, and the loop would
		// spin.
		fds[1].Fd = -1
		if !full && !rxDead && !rxPause {
			fds[1].Fd = int32(pb.PollFD())
		}
		// After a failed read (not the backend's end), the descriptor
		// may stay readable: wait a little instead of spinning on it.
		var timeout *unix.Timespec
		if rxPause {
			t := unix.NsecToTimespec(int64(rxErrorPause))
			timeout = &t
		}
		_, err := unix.Ppoll(fds, timeout, nil)
		rxPause = false
		if err != nil && err != unix.EINTR {
			d.cfg.OnError(fmt.Errorf("virtio-net: ppoll: %w", err))
		}
		if fds[0].Revents != 0 {
			var b [8]byte
			if n, _ := unix.Read(d.bell, b[:]); n == len(b) {
				d.kicks.Add(binary.LittleEndian.Uint64(b[:]))
			}
		}
		tx.DisableNotify()
		rx.DisableNotify()
	}
}

// ring wakes the I/O loop (from the vCPU thread, on a kick, or from Reset).
func (d *Device) ring() {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	unix.Write(d.bell, one[:])
}
