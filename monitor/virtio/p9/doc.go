// Package p9 is Brique's virtio 9P transport device (device ID 9, as
// Linux's net/9p/trans_virtio.c and QEMU's virtio-9p drive it), which
// shows a host directory to the guest over 9P2000.L, and the launcher of
// brique-9pd, the process that serves it. Linux/amd64, like the monitor.
//
// # Device
//
// Feature VIRTIO_9P_MOUNT_TAG (bit 0); configuration space: le16 tag
// length, then the mount tag ("vol0", ...). One request queue of up to
// QueueSize entries. Each request is a descriptor chain: its readable
// buffers hold one T-message, its writable buffers receive the
// R-message, whose length goes in the used ring. The device does not
// decode 9P (wire.go names the few fields it touches): it
//
//   - checks the header: size at least 7, within the readable bytes and
//     the negotiated msize; NOTAG only on Tversion;
//   - caps the msize a Tversion asks for (Config.MaxMessage) and clamps
//     the count of Tread and Treaddir to the reply buffer, so every
//     reply fits its chain;
//   - replaces the tag with a slot number of its own (Slots), restored in
//     the reply, so replies find their chain even when the driver reuses
//     a tag or resets the device while the server works (the old replies
//     are dropped); Tflush's oldtag is translated the same way;
//   - sends the message to the server (Backend) and completes the chain
//     when the reply comes, in any order: requests are concurrent.
//
// A request it refuses gets an Rlerror (EINVAL, EMSGSIZE, or EIO once the
// server is gone), or an empty used buffer if the chain has no room for
// one; nothing the driver writes panics or blocks the device (FuzzP9).
// One goroutine owns the queue: it pops and forwards requests, and
// completes the chains with the replies that a second goroutine reads
// from the backend. Like virtio-net it polls the queue for Config.Poll
// after its last work, but only while the server has nothing of its to
// do, then sleeps until the driver notifies the queue or a reply comes.
//
// # Server
//
// The 9P server runs in brique-9pd (cmd/brique-9pd: packages server and
// localfs), not in the monitor: the 9P library it uses imports package
// net, which would make the monitor a cgo binary that its seccomp filter
// kills (docs/decisions/009-volumes-9p.md). LaunchServer starts it with
// one SOCK_SEQPACKET socket pair per volume (Socket: one 9P message per
// socket message; read and write only, which the filter allows) and the
// host directory, opened by the monitor. This package imports neither
// the library nor package net (TestP9Deps).
//
// Wiring (monitor/volumes.go): for each volume, a device on the VM's bus
// with mount tag VolumeTag(i), and the guest command line word
// "brique.vol=<tag>:<guestdir>[:ro]".
package p9
