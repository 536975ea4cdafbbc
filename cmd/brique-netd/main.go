// Command brique-netd is Brique's user-mode network daemon: it runs
// gvisor-tap-vsock's virtual network (a gateway with DHCP and DNS, NAT to
// the host through its sockets, port forwards) for one VM, on Ethernet
// frames exchanged with the monitor over a SOCK_SEQPACKET unix socket, one
// frame per message. It needs no privilege.
//
// brique run starts it (monitor/virtio/net.StartUserNet); it is not meant
// to be run by hand:
//
//	brique-netd [-fd N] [-p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]]... [-mtu N] [-debug]
//
// The socket is descriptor -fd (default 3). Once the port forwards listen
// it writes "ready\n" to its standard output (or "error: MESSAGE\n" and
// exits with status 1 if it cannot start), then closes it. It exits with
// status 0 when the monitor closes its end of the socket (the VM ended,
// or the monitor died) and on SIGTERM or SIGINT. It writes to its
// standard error only with -debug.
//
// The network runs in its own process, not in the monitor, because
// linking gvisor costs the monitor ~13 ms of start-up and ~3.5 MB (see
// docs/decisions/008-netd.md); a bonus is that the monitor keeps its
// strict seccomp filter (no socket, connect or accept) while the network
// stack that parses guest traffic runs elsewhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdnet "net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/net/usernet"
	"brique.dev/brique/monitor/virtio/netconf"
)

type forwards []vnet.PortForward

func (f *forwards) String() string {
	var s []string
	for _, p := range *f {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (f *forwards) Set(v string) error {
	p, err := vnet.ParsePortForward(v)
	if err != nil {
		return err
	}
	*f = append(*f, p)
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("brique-netd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var fwd forwards
	fd := fs.Int("fd", vnet.NetdFD, "descriptor of the SOCK_SEQPACKET socket to the monitor")
	fs.Var(&fwd, "p", "forward a host port to the guest: [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp] (repeatable)")
	mtu := fs.Int("mtu", netconf.UserMTU, "MTU of the virtual network")
	debug := fs.Bool("debug", false, "log to standard error (every frame, among other things)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintf(os.Stderr, "usage: brique-netd [-fd N] [-p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]]... [-mtu N] [-debug]\n\n"+
				"brique-netd is started by brique run with one end of a SOCK_SEQPACKET socket pair as descriptor -fd.\n\n")
			fs.PrintDefaults()
			return 2
		}
		return fail(*debug, err)
	}
	if fs.NArg() > 0 {
		return fail(*debug, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	logf := func(format string, a ...any) {
		if *debug {
			fmt.Fprintf(os.Stderr, "brique-netd: "+format+"\n", a...)
		}
	}
	// A monitor that went away must not kill us through SIGPIPE on
	// stderr; the socket's end of file says it went away.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	conn, err := socket(*fd)
	if err != nil {
		return fail(*debug, err)
	}
	var log io.Writer
	if *debug {
		log = os.Stderr
	}
	n, err := usernet.New(usernet.Config{Forwards: fwd, MTU: *mtu, Log: log, Debug: *debug})
	if err != nil {
		conn.Close()
		return fail(*debug, err)
	}
	if _, err := os.Stdout.WriteString(vnet.NetdReady + "\n"); err != nil {
		logf("writing %q: %v", vnet.NetdReady, err)
	}
	quietStdout()
	logf("ready: MTU %d, forwards %v", *mtu, fwd.String())

	err = n.Serve(ctx, conn)
	switch {
	case ctx.Err() != nil:
		logf("signalled, exiting")
	case err != nil:
		logf("%v", err)
		return 1
	default:
		logf("the monitor closed the socket, exiting")
	}
	return 0
}

// socket checks that fd is a SOCK_SEQPACKET socket and returns it as a
// connection.
func socket(fd int) (stdnet.Conn, error) {
	const how = "brique-netd is started by brique run with one end of a SOCK_SEQPACKET socket pair as descriptor -fd"
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.EBADF):
		return nil, fmt.Errorf("descriptor %d is not open (%s)", fd, how)
	case errors.Is(err, unix.ENOTSOCK):
		return nil, fmt.Errorf("descriptor %d is not a socket (%s)", fd, how)
	case err != nil:
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	case typ != unix.SOCK_SEQPACKET:
		return nil, fmt.Errorf("descriptor %d is a socket of type %d, not SOCK_SEQPACKET (%s)", fd, typ, how)
	}
	f := os.NewFile(uintptr(fd), "monitor socket")
	defer f.Close()
	conn, err := stdnet.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return conn, nil
}

// fail reports err as the readiness line (and on stderr with -debug).
func fail(debug bool, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(os.Stdout, "%s%s\n", vnet.NetdError, msg)
	if debug {
		fmt.Fprintf(os.Stderr, "brique-netd: %s\n", msg)
	}
	return 1
}

// quietStdout points standard output at /dev/null once the readiness
// line is written: the monitor stops reading it.
func quietStdout() {
	null, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Dup3(null, 1, 0)
	unix.Close(null)
}
