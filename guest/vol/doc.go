// Package vol is the guest side of Brique's host volumes (`brique run -v
// HOSTDIR:GUESTDIR[:ro]`): a service thread (docs/decisions/010, service
// kernel.SvcVolume) that performs the file system calls the kernel
// forwards for paths under a volume's directory and for the descriptors it
// opened there, as a 9P2000.L client of the monitor's virtio-9p devices
// (monitor/virtio/p9, served on the host by brique-9pd). Linux/amd64 only
// (the Brique guest).
//
// # Wiring
//
// The monitor announces each volume on the guest command line with one
// word "brique.vol=<tag>:<guestdir>[:ro]"; volume i (the order of those
// words, as the kernel counts them) is the virtio-9p device (device ID 9)
// whose configuration space holds <tag> (le16 length, then the bytes). At
// init, for each volume, the package negotiates msize (Tversion
// "9P2000.L", 128 KiB), attaches the root, then registers the service and
// starts its thread. Without volumes (or on the host, under go test) it
// does nothing, so programs can link it unconditionally: a program gets it
// by importing it for its side effects, or from the builder. The service
// thread keeps a P while it waits for requests (as the network's does), so
// init raises GOMAXPROCS by one.
//
// The 9P client is github.com/hugelgupf/p9's (the library brique-9pd
// serves with), over transport, a virtio-9p driver that turns each
// T-message the client writes into one descriptor chain and hands back
// R-messages as the device completes them (the client matches tags). The
// library imports package net for net.Buffers only; built without cgo,
// that adds pure Go code.
//
// # Calls
//
// The service thread serves one call at a time, synchronously: it sends
// the 9P requests the call needs and waits for each reply
// (SysWaitDevice), so a slow fsync delays the volumes' other calls, never
// the program's other work. Paths are walked from the root fid at each
// call (one Twalk for the whole path when no symbolic link is in the way)
// and the fids clunked afterwards; an open descriptor keeps one opened fid
// (its object), its file offset, and its path for the calls relative to
// it and for fchdir (the service answers with the directory's guest path,
// which the kernel makes the working directory). Reads and writes larger
// than a message are split by the library; readv, writev, preadv and
// pwritev go iovec by iovec.
// fsync returns after the host's Rfsync, hence after fsync(2) on the
// host. Error numbers of Rlerror are Linux's and pass through; a volume
// that could not be mounted answers EIO.
//
// # Symbolic links
//
// The host never follows a link (brique-9pd walks one component at a
// time, confined to the directory); this package resolves them as Linux
// does, at most 40 per resolution (ELOOP), not following the last
// component where Linux does not (lstat, unlink, rename, readlink,
// O_NOFOLLOW, O_CREAT|O_EXCL, AT_SYMLINK_NOFOLLOW). A relative target is
// resolved from the link's directory. Where ".." (in a target, or in a
// path relative to an open directory) climbs above a volume's root, and
// for absolute targets, resolution goes on lexically in the guest's file
// name space: a path that lands inside a volume (this one or another) is
// followed there, and any other one fails with ENOENT: the service cannot
// open the guest's own files (its root file system, /tmp) on a program's
// behalf, and nothing on the host outside the volumes can be named at all.
//
// # Limits
//
// Calls run as the guest's root user: access(2) checks only existence,
// EROFS and execute bits; the host's permissions (brique-9pd runs as the
// user who started brique) decide the rest. A volume mounted inside
// another (-v a:/data -v b:/data/sub) is not seen by lookups that start in
// the outer one and walk through it. Object paths follow renames made
// through the service, not renames made on the host.
package vol
