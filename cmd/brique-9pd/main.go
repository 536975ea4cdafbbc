// Command brique-9pd is Brique's host directory server: it serves the
// volumes of one VM (brique run -v HOSTDIR:GUESTDIR[:ro]) over 9P2000.L,
// each on one end of a SOCK_SEQPACKET socket pair (one 9P message per
// socket message) whose other end is the monitor's virtio-9p device.
//
// brique run starts it (monitor/virtio/p9.LaunchServer); it is not meant
// to be run by hand:
//
//	brique-9pd [-debug] [-msize N] SOCKFD:DIRFD[:ro]...
//
// For each volume, SOCKFD is the socket and DIRFD the host directory,
// opened by the monitor (so a path that changes after the check does not
// matter). The files are served by package localfs, confined to the
// directory (openat2 with RESOLVE_BENEATH, no symlink followed on the
// host). It exits with status 0 when the monitor has closed every socket
// (the VM ended, or the monitor died), after finishing the requests in
// flight, and with status 1 if it cannot start (the reason on its
// standard error). It writes to its standard error only then, or with
// -debug.
//
// The server runs in its own process, not in the monitor, because the 9P
// library it uses (github.com/hugelgupf/p9) imports package net, which
// would make the monitor a cgo binary that its seccomp filter kills (see
// docs/decisions/009-volumes-9p.md); a bonus is that the monitor's
// filter still refuses every file system call.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"

	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/localfs"
	"brique.dev/brique/monitor/virtio/p9/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// volume is one SOCKFD:DIRFD[:ro] argument.
type volume struct {
	sock, dir int
	readOnly  bool
}

func parseVolume(s string) (volume, error) {
	parts := strings.Split(s, ":")
	bad := fmt.Errorf("volume %q: want SOCKFD:DIRFD[:ro]", s)
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
		return volume{}, bad
	}
	sock, err1 := strconv.Atoi(parts[0])
	dir, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || sock < 3 || dir < 3 || sock == dir {
		return volume{}, bad
	}
	return volume{sock: sock, dir: dir, readOnly: len(parts) == 3}, nil
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(p9.ServerName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	debug := fs.Bool("debug", false, "log every 9P request to standard error")
	msize := fs.Int("msize", p9.DefaultMaxMessage, "largest 9P message (msize) accepted")
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", p9.ServerName, err)
		return 1
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: %s [-debug] [-msize N] SOCKFD:DIRFD[:ro]...\n\n%s is started by brique run with, for each volume, one end of a SOCK_SEQPACKET socket pair and the host directory as descriptors.\n", p9.ServerName, p9.ServerName)
			return 2
		}
		return fail(err)
	}
	if fs.NArg() == 0 {
		return fail(errors.New("no volume to serve"))
	}
	if *msize < p9.MinMessage || *msize > 4<<20 {
		return fail(fmt.Errorf("-msize %d out of range [%d, %d]", *msize, p9.MinMessage, 4<<20))
	}
	var vols []volume
	for _, a := range fs.Args() {
		v, err := parseVolume(a)
		if err != nil {
			return fail(err)
		}
		vols = append(vols, v)
	}
	logger := log.New(stderr, p9.ServerName+": ", log.Lmicroseconds)
	logf := func(string, ...any) {}
	if *debug {
		logf = logger.Printf
	}
	type served struct {
		sock *p9.Socket
		fs   *localfs.Attacher
		tag  string
	}
	var all []served
	for i, v := range vols {
		dir := os.NewFile(uintptr(v.dir), fmt.Sprintf("volume %d directory (fd %d)", i, v.dir))
		a, err := localfs.New(dir, v.readOnly)
		dir.Close()
		if err != nil {
			return fail(err)
		}
		s, err := p9.NewSocket(v.sock, fmt.Sprintf("volume %d (fd %d)", i, v.sock))
		if err != nil {
			return fail(err)
		}
		all = append(all, served{s, a, fmt.Sprintf("volume %d", i)})
	}
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.fs.Close()
			vlogf := func(format string, args ...any) { logf(s.tag+": "+format, args...) }
			err := server.Serve(s.sock, s.fs, server.Options{MaxMessage: *msize, Logf: vlogf, Debug: *debug})
			if err != nil {
				logger.Printf("%s: %v", s.tag, err)
			}
		}()
	}
	wg.Wait()
	return 0
}
