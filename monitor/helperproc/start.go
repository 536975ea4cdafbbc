package helperproc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Resolve returns the helper executable to start: Find(spec)'s result if
// path is empty, else path, if it is an executable file. Its errors wrap
// spec.Sentinel and say how to build the helper.
func Resolve(path string, spec FindSpec) (string, error) {
	if path == "" {
		return Find(spec)
	}
	if IsExecutable(path) {
		return path, nil
	}
	switch _, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w at %s: %s; build it with `go build -o %s %s` (in the brique module)", spec.Sentinel, path, spec.What, path, spec.Cmd)
	case err != nil:
		return "", fmt.Errorf("%w: %v", spec.Sentinel, err)
	}
	return "", fmt.Errorf("%w: %s is not an executable file; build it with `go build -o %s %s` (in the brique module)", spec.Sentinel, path, path, spec.Cmd)
}

// SocketPair returns the two descriptors of a new unix SOCK_SEQPACKET
// socket pair, both close-on-exec, whose send and receive buffers were
// asked for bufSize bytes (the kernel caps the request at
// net.core.wmem_max and rmem_max, and doubles it). One end is the
// monitor's (NewSeqPacket), the other goes to the helper (Cmd.ExtraFiles).
func SocketPair(bufSize int) (mine, theirs int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socketpair: %w", err)
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufSize)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufSize)
	}
	return fds[0], fds[1], nil
}

// Cmd is a helper process for Start.
type Cmd struct {
	// Path is the executable (see Resolve).
	Path string
	// Args is the helper's argument list, its name first (argv).
	Args []string
	// Stdout is the helper's standard output (nil: /dev/null), such as
	// the write end of a pipe it reports on.
	Stdout *os.File
	// Stderr receives what the helper writes to its standard error (nil:
	// discarded); see StderrFile.
	Stderr io.Writer
	// ExtraFiles become the helper's descriptors 3, 4, ... in order (a
	// nil entry: /dev/null).
	ExtraFiles []*os.File
}

// Process is a helper process started by Start. A goroutine waits for
// it from the start, so that it is reaped as soon as it exits.
type Process struct {
	proc  *os.Process
	done  chan struct{} // closed once proc has been waited for
	state *os.ProcessState
	err   error
}

// Start starts c.Path with /dev/null as standard input, c.Stdout,
// c.Stderr and c.ExtraFiles, in a process group of its own, so that a
// Ctrl-C at the terminal (which the monitor forwards to the guest) does
// not reach it. Start closes none of c's files: the helper has its own
// copies, and the caller closes its copies once Start returns.
//
// Call it before the monitor installs its seccomp filter (it forks and
// executes); waiting for the process afterwards needs only wait4 or
// waitid, which the filter allows.
//
// Its errors carry no prefix (the caller adds its own).
func Start(c Cmd) (*Process, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	stdout := c.Stdout
	if stdout == nil {
		stdout = devnull
	}
	stderr, copied, err := StderrFile(c.Stderr, devnull)
	if err != nil {
		return nil, err
	}
	if copied != nil {
		defer stderr.Close() // the process has its copy; the copier's end of file
	}
	files := []*os.File{devnull, stdout, stderr}
	for _, f := range c.ExtraFiles {
		if f == nil {
			f = devnull
		}
		files = append(files, f)
	}
	proc, err := os.StartProcess(c.Path, c.Args, &os.ProcAttr{
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.Path, err)
	}
	p := &Process{proc: proc, done: make(chan struct{})}
	go func() {
		p.state, p.err = proc.Wait()
		if copied != nil {
			<-copied
		}
		close(p.done)
	}()
	return p, nil
}

// Proc is the helper's process (to signal it, or for its pid). Do not
// wait for it: Process does.
func (p *Process) Proc() *os.Process { return p.proc }

// Done is closed once the helper has exited and been reaped (or cannot
// be waited for) and everything it wrote to its standard error has
// reached Cmd.Stderr.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits until Done is closed and returns how the helper ended, or
// the error of waiting for it (such as a seccomp filter that refuses
// waitid; the state is then nil).
func (p *Process) Wait() (*os.ProcessState, error) {
	<-p.done
	return p.state, p.err
}

// ExitWithin waits at most d for Done and reports whether it came. If it
// did not, ExitWithin kills the helper (SIGKILL) before it returns false,
// but does not wait for it to be reaped.
func (p *Process) ExitWithin(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.Kill()
		return false
	}
}

// Kill sends SIGKILL to the helper (nothing if it is gone already).
func (p *Process) Kill() { p.proc.Signal(syscall.SIGKILL) }
