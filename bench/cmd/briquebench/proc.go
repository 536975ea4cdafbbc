package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runResult is one child process run: its whole-process wall time (from
// fork/exec to wait returning), the time to its first line of output,
// exit status, output and peak resident set size as reported by the kernel
// when it was reaped.
type runResult struct {
	Wall     time.Duration
	FirstOut time.Duration // fork/exec to the first matching stdout line; 0 if none came
	Exit     int           // -1 if killed by a signal
	Stdout   string
	Stderr   string
	// MaxRSS is the peak resident set in KiB: for run and runFirst,
	// ru_maxrss from wait4 (overstated: see runner.runMem); for runMem,
	// what the launcher measured.
	MaxRSS   int64
	TimedOut bool
	Err      error // the process could not be started or waited for
}

// ok reports whether the run exited 0 and printed want on stdout.
func (r runResult) ok(want string) bool {
	return r.Err == nil && !r.TimedOut && r.Exit == 0 && r.Stdout == want
}

// describe says in one line why a run failed, for the report.
func (r runResult) describe(want string) string {
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case r.TimedOut:
		return "timed out"
	case r.Exit != 0:
		return fmt.Sprintf("exit status %d: %s", r.Exit, oneLine(r.Stderr+" "+r.Stdout))
	case r.Stdout != want:
		return fmt.Sprintf("unexpected output %q (stderr %q)", clip(r.Stdout, 120), clip(r.Stderr, 200))
	}
	return "ok"
}

// runner starts children the same way for every competitor: os.StartProcess
// (clone+exec) with stdin from /dev/null, stdout to a pipe that a goroutine
// reads (to timestamp the first line as it arrives) and stderr to a file.
type runner struct {
	dir     string
	timeout time.Duration
	devnull *os.File
	errf    *os.File
	launch  *launcher // how runMem measures peak RSS; nil: wait4's ru_maxrss
}

func newRunner(dir string, timeout time.Duration) (*runner, error) {
	r := &runner{dir: dir, timeout: timeout}
	var err error
	if r.devnull, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	if r.errf, err = os.CreateTemp(dir, "stderr-"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *runner) close() {
	r.devnull.Close()
	r.errf.Close()
}

// run runs argv (argv[0] must be a path) and waits for it; FirstOut is the
// time to its first line of output.
func (r *runner) run(argv []string) runResult { return r.runFirst(argv, "") }

// drainGrace bounds how long the output of a child that has exited is
// still read: a grandchild that inherited the pipe and lives on would
// otherwise keep it open forever.
const drainGrace = 5 * time.Second

// runFirst runs argv and waits for it. FirstOut is the time from just
// before clone+exec to the arrival of the first stdout line that ends with
// first (after dropping terminal escapes and carriage returns, see
// lineEndsWith), or of the first line at all when first is "".
//
// The pipe is a plain blocking one, read by a goroutine that sleeps in
// poll(2) on it: the kernel wakes that thread as soon as the child writes,
// which times the output more tightly than Go's network poller would on a
// busy machine.
func (r *runner) runFirst(argv []string, first string) runResult {
	return r.runProc(argv, first, false)
}

// runProc is runFirst; with group the child gets a process group of its
// own, all of which a timeout kills (a launcher's child as well).
func (r *runner) runProc(argv []string, first string, group bool) runResult {
	var res runResult
	if err := r.errf.Truncate(0); err != nil {
		res.Err = err
		return res
	}
	if _, err := r.errf.Seek(0, io.SeekStart); err != nil {
		res.Err = err
		return res
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		res.Err = fmt.Errorf("pipe: %w", err)
		return res
	}
	rfd := fds[0]
	pw := os.NewFile(uintptr(fds[1]), "stdout-pipe")
	attr := &os.ProcAttr{Dir: r.dir, Files: []*os.File{r.devnull, pw, r.errf}}
	if group {
		attr.Sys = &syscall.SysProcAttr{Setpgid: true}
	}

	var stop atomic.Bool
	type output struct {
		data  []byte
		first time.Duration
		err   error
	}
	outc := make(chan output, 1)
	start := time.Now()
	go func() {
		var o output
		var sc lineScanner
		buf := make([]byte, 64<<10)
		pfd := []unix.PollFd{{Fd: int32(rfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(pfd, 100)
			if err == unix.EINTR || (err == nil && n == 0) {
				if stop.Load() {
					o.err = fmt.Errorf("stdout of %s still open %v after it exited (a descendant kept it)", argv[0], drainGrace)
					break
				}
				continue
			}
			if err != nil {
				o.err = fmt.Errorf("poll: %w", err)
				break
			}
			n, err = unix.Read(rfd, buf)
			now := time.Since(start)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err != nil {
				o.err = fmt.Errorf("reading stdout: %w", err)
				break
			}
			if n == 0 {
				break // EOF
			}
			o.data = append(o.data, buf[:n]...)
			if o.first == 0 && sc.feed(buf[:n], first) {
				o.first = now
			}
		}
		unix.Close(rfd)
		outc <- o
	}()
	p, err := os.StartProcess(argv[0], argv, attr)
	pw.Close() // the reader sees EOF at once if the child did not start
	if err != nil {
		<-outc
		res.Err = fmt.Errorf("start %s: %w", argv[0], err)
		return res
	}
	timer := time.AfterFunc(r.timeout, func() {
		if group {
			syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
		p.Kill()
	})
	st, err := p.Wait()
	res.Wall = time.Since(start)
	if !timer.Stop() {
		res.TimedOut = true
	}
	var o output
	select {
	case o = <-outc:
	case <-time.After(drainGrace):
		stop.Store(true)
		o = <-outc
	}
	if err != nil {
		res.Err = fmt.Errorf("wait %s: %w", argv[0], err)
		return res
	}
	res.Exit = st.ExitCode()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss
	}
	res.Stdout, res.FirstOut = string(o.data), o.first
	if o.err != nil {
		res.Err = o.err
		return res
	}
	if res.Stderr, err = readAll(r.errf); err != nil {
		res.Err = err
	}
	return res
}

// lineScanner finds complete lines in a stream fed in chunks.
type lineScanner struct{ partial []byte }

// feed adds a chunk and reports whether a line completed in it ends with
// want (every line does when want is "").
func (s *lineScanner) feed(chunk []byte, want string) bool {
	found := false
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			s.partial = append(s.partial, chunk...)
			break
		}
		line := append(s.partial, chunk[:i]...)
		s.partial = s.partial[:0]
		chunk = chunk[i+1:]
		if !found && lineEndsWith(string(line), want) {
			found = true
		}
	}
	return found
}

// lineEndsWith reports whether line, without carriage returns and ANSI
// terminal escapes (a serial console's output carries both: SeaBIOS clears
// the screen just before the guest's first line), ends with want.
func lineEndsWith(line, want string) bool {
	return strings.HasSuffix(stripTerminal(line), want)
}

// stripTerminal removes carriage returns and ANSI escape sequences: CSI
// (ESC [ parameters final-byte) and two-byte ESC sequences such as ESC c.
func stripTerminal(s string) string {
	if !strings.ContainsAny(s, "\r\x1b") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r':
		case c == 0x1b && i+1 < len(s) && s[i+1] == '[':
			i += 2
			for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
				i++
			}
		case c == 0x1b:
			i++ // ESC and the one byte after it
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func readAll(f *os.File) (string, error) {
	b, err := os.ReadFile(f.Name())
	return string(b), err
}

// command runs a set-up command (builds, version queries) and returns its
// combined output; the error names the command and quotes its output.
func command(dir string, env []string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || len(out) > 0 {
			return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, clip(strings.TrimSpace(string(out)), 2000))
		}
		return string(out), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

func oneLine(s string) string {
	return clip(strings.Join(strings.Fields(s), " "), 300)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
