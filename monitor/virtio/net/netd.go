package net

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"brique.dev/brique/monitor/helperproc"
	"brique.dev/brique/monitor/virtio/netconf"
)

// NetdName is the user-mode network daemon's executable name.
const NetdName = "brique-netd"

// ErrNoNetd is returned (wrapped) by FindNetd and StartUserNet when the
// daemon's executable cannot be found.
var ErrNoNetd = errors.New(NetdName + " not found")

// Netd's interface, shared with cmd/brique-netd.
const (
	// NetdFD is the descriptor number of the daemon's end of the socket
	// pair (its -fd flag).
	NetdFD = 3
	// NetdReady is the line the daemon writes on its standard output
	// once its port forwards listen; a line starting with NetdError
	// reports why it could not start.
	NetdReady = "ready"
	NetdError = "error: "
	// DefaultNetdTimeout bounds StartUserNet's wait for NetdReady.
	DefaultNetdTimeout = 10 * time.Second
)

// NetdEnv names an environment variable that, when set, gives FindNetd
// the daemon's path.
const NetdEnv = "BRIQUE_NETD"

// FindNetd returns the path of the brique-netd executable: $BRIQUE_NETD
// if set, else next to the running executable (where go install and go
// build -o DIR put both commands), else in $PATH. The error says how to
// build it.
func FindNetd() (string, error) { return helperproc.Find(netdSpec) }

// netdSpec describes brique-netd to package helperproc.
var netdSpec = helperproc.FindSpec{
	Name:     NetdName,
	Env:      NetdEnv,
	Sentinel: ErrNoNetd,
	What:     "the user-mode network runs in that separate program",
	Cmd:      "./cmd/brique-netd",
}

// UserNetOptions configures StartUserNet.
type UserNetOptions struct {
	// MTU of the virtual network (netconf.UserMTU if 0); give the
	// device the same value.
	MTU int
	// Debug starts the daemon with -debug: it then logs (every frame
	// among other things) to Stderr.
	Debug bool
	// Stderr receives the daemon's standard error (nil: discarded). The
	// daemon writes there only with Debug, or if it crashes.
	Stderr io.Writer
	// Timeout bounds the wait for the daemon to be ready
	// (DefaultNetdTimeout if 0).
	Timeout time.Duration
}

// UserNet is the user-mode network backend: a socket backend connected
// to a brique-netd process that runs gvisor-tap-vsock's virtual network
// (see package usernet). Closing it closes the socket, which makes the
// daemon exit.
type UserNet struct {
	*Socket
	proc     *helperproc.Process
	path     string
	forwards []PortForward
	debug    bool

	readyDone chan struct{} // closed when readyErr is set
	readyErr  error
}

// StartUserNet starts the user-mode network daemon (LaunchUserNet) and
// waits until it is ready (WaitReady): its port forwards listen.
func StartUserNet(netdPath string, forwards []PortForward, opts UserNetOptions) (*UserNet, error) {
	u, err := LaunchUserNet(netdPath, forwards, opts)
	if err != nil {
		return nil, err
	}
	if err := u.WaitReady(); err != nil {
		u.Socket.Close()
		return nil, err
	}
	return u, nil
}

// LaunchUserNet starts the user-mode network daemon netdPath (FindNetd's
// result if empty) with forwards and returns the backend connected to
// it, without waiting for the daemon to be ready: frames written before
// then wait in the socket buffer. Call WaitReady before relying on the
// port forwards (the daemon takes ~20 ms to start, which the monitor can
// spend setting up the VM).
//
// The daemon gets one end of a SOCK_SEQPACKET socket pair as descriptor
// NetdFD, /dev/null as standard input, a pipe as standard output (for
// the NetdReady line) and opts.Stderr. It runs in a process group of its
// own, so that a Ctrl-C at the terminal (which the monitor forwards to
// the guest) does not stop it. It exits when the socket is closed (by
// Close, or because the monitor exited) or on SIGTERM.
//
// Call it before the monitor installs its seccomp filter (it forks and
// executes); WaitReady and the backend only read, write and close.
func LaunchUserNet(netdPath string, forwards []PortForward, opts UserNetOptions) (*UserNet, error) {
	netdPath, err := helperproc.Resolve(netdPath, netdSpec)
	if err != nil {
		return nil, err
	}
	if opts.MTU == 0 {
		opts.MTU = netconf.UserMTU
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultNetdTimeout
	}
	deadline := time.Now().Add(opts.Timeout)
	args := []string{NetdName, "-fd", strconv.Itoa(NetdFD), "-mtu", strconv.Itoa(opts.MTU)}
	for _, f := range forwards {
		args = append(args, "-p", f.String())
	}
	if opts.Debug {
		args = append(args, "-debug")
	}

	mine, theirs, err := helperproc.SocketPair(1 << 20) // room for a burst of frames each way
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	far := os.NewFile(uintptr(theirs), NetdName+" socket")
	defer far.Close() // the daemon has its copy
	sock, err := NewSocketFD(mine, NetdName)
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	defer readyW.Close() // the daemon has its copy
	// Descriptors 3 to NetdFD (/dev/null below it, were there any).
	extra := make([]*os.File, NetdFD-2)
	extra[NetdFD-3] = far
	proc, err := helperproc.Start(helperproc.Cmd{
		Path:       netdPath,
		Args:       args,
		Stdout:     readyW,
		Stderr:     opts.Stderr,
		ExtraFiles: extra,
	})
	if err != nil {
		sock.Close()
		readyR.Close()
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	u := &UserNet{
		Socket:    sock,
		proc:      proc,
		path:      netdPath,
		forwards:  append([]PortForward(nil), forwards...),
		debug:     opts.Debug,
		readyDone: make(chan struct{}),
	}
	go func() {
		defer close(u.readyDone)
		defer readyR.Close()
		line, err := readLine(readyR, deadline)
		switch {
		case err == nil && line == NetdReady:
			return
		case err == nil && strings.HasPrefix(line, NetdError):
			u.readyErr = errors.New(strings.TrimPrefix(line, NetdError))
		case err == nil:
			u.readyErr = fmt.Errorf("unexpected first line %q (is %s a %s executable?)", line, netdPath, NetdName)
		case errors.Is(err, os.ErrDeadlineExceeded):
			u.readyErr = fmt.Errorf("not ready after %v", opts.Timeout)
		default:
			u.readyErr = err // io.EOF: it exited; WaitReady says how
		}
	}()
	return u, nil
}

// WaitReady waits until the daemon reports that it is ready (its port
// forwards listen), or the launch's timeout passes. If it is not ready,
// WaitReady makes sure the daemon is gone and says why (for example a
// forwarded port that is in use); the caller still closes the backend.
func (u *UserNet) WaitReady() error {
	<-u.readyDone
	if u.readyErr == nil {
		return nil
	}
	// The socket stays open: the device's I/O loop may be polling it
	// already (the guest boots meanwhile); Close, through the device,
	// closes it.
	u.proc.Kill()
	gone := u.proc.ExitWithin(NetdExitTimeout)
	why := u.readyErr.Error()
	if errors.Is(u.readyErr, io.EOF) {
		why = "exited without becoming ready"
		if gone {
			if state, _ := u.proc.Wait(); state != nil {
				why = fmt.Sprintf("exited (%v) without becoming ready", state)
			}
		}
		if !u.debug {
			why += " (run it with -debug to see more)"
		}
	}
	return fmt.Errorf("user-mode network: %s: %s", NetdName, why)
}

// readLine reads the daemon's first line (without its newline) before
// deadline.
func readLine(r *os.File, deadline time.Time) (string, error) {
	r.SetReadDeadline(deadline)
	var buf []byte
	b := make([]byte, 256)
	for len(buf) < 4096 {
		n, err := r.Read(b)
		buf = append(buf, b[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return string(buf[:i]), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("first line too long")
}

// Forwards lists the port forwards the daemon serves.
func (u *UserNet) Forwards() []PortForward { return append([]PortForward(nil), u.forwards...) }

// Process is the daemon's process.
func (u *UserNet) Process() *os.Process { return u.proc.Proc() }

// DefaultMAC implements MACDefaulter: the daemon's DHCP server gives
// netconf.GuestIP to netconf.GuestMAC.
func (u *UserNet) DefaultMAC() HardwareAddr {
	return HardwareAddr(netconf.GuestMAC6[:])
}

// NetdExitTimeout bounds Close's wait for the daemon to exit.
const NetdExitTimeout = 2 * time.Second

// Close closes the socket, which makes the daemon exit, and waits (at
// most NetdExitTimeout) until it has. (The monitor's seccomp filter allows
// wait4 and waitid for this; should waiting fail anyway, Close returns
// once the socket is closed and the daemon exits on its own.)
func (u *UserNet) Close() error {
	err := u.Socket.Close()
	if !u.proc.ExitWithin(NetdExitTimeout) {
		return errors.Join(err, fmt.Errorf("user-mode network: %s (pid %d) did not exit within %v of its socket closing; killed", NetdName, u.proc.Proc().Pid, NetdExitTimeout))
	}
	state, werr := u.proc.Wait()
	if werr != nil {
		return err // cannot wait (seccomp): not the daemon's fault
	}
	if !state.Success() {
		return errors.Join(err, fmt.Errorf("user-mode network: %s %v", NetdName, state))
	}
	return err
}

// Wait blocks until the daemon has exited (or cannot be waited for) and
// returns its state (nil if it cannot be waited for).
func (u *UserNet) Wait() *os.ProcessState {
	state, _ := u.proc.Wait()
	return state
}
