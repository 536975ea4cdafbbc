package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// runResult is one child process run: its whole-process wall time (from
// fork/exec to wait returning), exit status, output and peak resident set
// size as reported by the kernel when it was reaped.
type runResult struct {
	Wall     time.Duration
	Exit     int // -1 if killed by a signal
	Stdout   string
	Stderr   string
	MaxRSS   int64 // ru_maxrss in KiB: max over the process and the children it reaped
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
// (clone+exec) with stdin from /dev/null and stdout/stderr sent to files, so
// no goroutine copies output while the clock runs.
type runner struct {
	dir     string
	timeout time.Duration
	devnull *os.File
	out     *os.File
	errf    *os.File
}

func newRunner(dir string, timeout time.Duration) (*runner, error) {
	r := &runner{dir: dir, timeout: timeout}
	var err error
	if r.devnull, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	if r.out, err = os.CreateTemp(dir, "stdout-"); err != nil {
		return nil, err
	}
	if r.errf, err = os.CreateTemp(dir, "stderr-"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *runner) close() {
	r.devnull.Close()
	r.out.Close()
	r.errf.Close()
}

// run runs argv (argv[0] must be a path) and waits for it.
func (r *runner) run(argv []string) runResult {
	var res runResult
	for _, f := range []*os.File{r.out, r.errf} {
		if err := f.Truncate(0); err != nil {
			res.Err = err
			return res
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			res.Err = err
			return res
		}
	}
	attr := &os.ProcAttr{Dir: r.dir, Files: []*os.File{r.devnull, r.out, r.errf}}

	start := time.Now()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		res.Err = fmt.Errorf("start %s: %w", argv[0], err)
		return res
	}
	timer := time.AfterFunc(r.timeout, func() { p.Kill() })
	st, err := p.Wait()
	res.Wall = time.Since(start)
	if !timer.Stop() {
		res.TimedOut = true
	}
	if err != nil {
		res.Err = fmt.Errorf("wait %s: %w", argv[0], err)
		return res
	}
	res.Exit = st.ExitCode()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss
	}
	res.Stdout, err = readAll(r.out)
	if err == nil {
		res.Stderr, err = readAll(r.errf)
	}
	if err != nil {
		res.Err = err
	}
	return res
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
