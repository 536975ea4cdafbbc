package p9

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerName is the 9P file server's executable name (cmd/brique-9pd).
const ServerName = "brique-9pd"

// ServerEnv names an environment variable that, when set, gives
// FindServer the server's path.
const ServerEnv = "BRIQUE_9PD"

// ErrNoServer is returned (wrapped) by FindServer and LaunchServer when
// the server's executable cannot be found.
var ErrNoServer = errors.New(ServerName + " not found")

// ServerExitTimeout bounds Server.Close's wait for the server to exit.
const ServerExitTimeout = 5 * time.Second

// FindServer returns the path of the brique-9pd executable: $BRIQUE_9PD
// if set, else next to the running executable (where go install and go
// build -o DIR put the commands), else in $PATH. The error says how to
// build it.
func FindServer() (string, error) {
	build := "`go build -o DIR ./cmd/brique-9pd` (in the brique module)"
	if p := os.Getenv(ServerEnv); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%w: $%s is %s, which is not an executable file; build it with %s", ErrNoServer, ServerEnv, p, strings.Replace(build, "DIR", p, 1))
		}
		return p, nil
	}
	dir := ""
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir = filepath.Dir(exe)
		if p := filepath.Join(dir, ServerName); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(ServerName); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, nil
	}
	where := "$PATH"
	if dir != "" && !strings.Contains(dir, "go-build") { // not go run's temporary directory
		where = dir + " or $PATH"
		build = strings.Replace(build, "DIR", dir, 1)
	} else {
		build = "`go install ./cmd/brique-9pd` (in the brique module)"
	}
	return "", fmt.Errorf("%w in %s: host directory volumes are served by that separate program; build it with %s, or set $%s to its path", ErrNoServer, where, build, ServerEnv)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Export is one host directory the server exports.
type Export struct {
	// Dir is the directory, opened by the caller (O_PATH|O_DIRECTORY is
	// enough): the server gets this very directory, whatever happens to
	// its path afterwards. The caller keeps it and may close it once
	// LaunchServer returns.
	Dir      *os.File
	ReadOnly bool
}

// ServerOptions configures LaunchServer.
type ServerOptions struct {
	// MaxMessage is the msize cap the devices will use
	// (DefaultMaxMessage if 0); the sockets are sized for it.
	MaxMessage int
	// Debug starts the server with -debug: it logs every message to
	// Stderr.
	Debug bool
	// Stderr receives the server's standard error (nil: discarded).
	Stderr io.Writer
	// OnExit, if not nil, is called (from another goroutine) when the
	// server exits with a failure status before Close: the volumes
	// answer EIO from then on.
	OnExit func(error)
}

// Server is a running brique-9pd.
type Server struct {
	proc   *os.Process
	maxMsg int
	done   chan struct{} // closed once proc has been waited for
	state  *os.ProcessState
	err    error
	closed chan struct{} // closed by Close: the exit is expected
	once   sync.Once
}

// LaunchServer starts brique-9pd at path (FindServer's result if empty)
// serving exports, and returns it with one socket per export, in order:
// give each to a device (New). The server exits when all the sockets are
// closed (by the devices' Close, or because the monitor exited), after
// finishing the requests it has.
//
// The server gets /dev/null as standard input and output, opts.Stderr,
// and for export i its end of the socket pair as descriptor 3+2i and the
// directory as 4+2i. It runs in its own process group, so that a Ctrl-C
// at the terminal (which the monitor forwards to the guest) does not stop
// it. Call LaunchServer before the monitor installs its seccomp filter.
func LaunchServer(path string, exports []Export, opts ServerOptions) (*Server, []*Socket, error) {
	if len(exports) == 0 {
		return nil, nil, errors.New("9p server: nothing to export")
	}
	if path == "" {
		p, err := FindServer()
		if err != nil {
			return nil, nil, err
		}
		path = p
	}
	if !isExecutable(path) {
		return nil, nil, fmt.Errorf("volumes: %w at %s: build it with `go build -o %s ./cmd/brique-9pd` (in the brique module)", ErrNoServer, path, path)
	}
	if opts.MaxMessage == 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	var mine, theirs []*Socket
	closeAll := func() {
		for _, s := range append(mine, theirs...) {
			s.Close()
		}
	}
	maxMsg := opts.MaxMessage
	args := []string{ServerName}
	if opts.Debug {
		args = append(args, "-debug")
	}
	for i, e := range exports {
		a, b, err := SocketPair(opts.MaxMessage)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("volumes: %w", err)
		}
		mine, theirs = append(mine, a), append(theirs, b)
		maxMsg = min(maxMsg, a.MessageLimit(), b.MessageLimit())
		spec := strconv.Itoa(3+2*i) + ":" + strconv.Itoa(4+2*i)
		if e.ReadOnly {
			spec += ":ro"
		}
		args = append(args, spec)
	}
	if maxMsg < MinMessage {
		closeAll()
		return nil, nil, fmt.Errorf("volumes: the socket buffers hold %d-byte messages, less than the %d bytes 9P needs (raise net.core.wmem_max)", maxMsg, MinMessage)
	}
	args = append(args[:1], append([]string{"-msize", strconv.Itoa(maxMsg)}, args[1:]...)...)

	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("volumes: %w", err)
	}
	defer devnull.Close()
	stderr := devnull
	var copyDone chan struct{}
	switch w := opts.Stderr.(type) {
	case nil:
	case *os.File:
		stderr = w
	default:
		r, pw, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("volumes: %w", err)
		}
		defer pw.Close()
		stderr = pw
		copyDone = make(chan struct{})
		go copyLog(w, r, copyDone)
	}
	files := []*os.File{devnull, devnull, stderr}
	for i, e := range exports {
		files = append(files, theirs[i].File(), e.Dir)
	}
	proc, err := os.StartProcess(path, args, &os.ProcAttr{
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	for _, s := range theirs {
		s.Close() // the server has its copies
	}
	theirs = nil
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("volumes: starting %s: %w", path, err)
	}
	s := &Server{proc: proc, maxMsg: maxMsg, done: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		s.state, s.err = proc.Wait()
		if copyDone != nil {
			<-copyDone
		}
		close(s.done)
		select {
		case <-s.closed:
			return
		default:
		}
		if opts.OnExit != nil && s.err == nil && !s.state.Success() {
			opts.OnExit(fmt.Errorf("%s exited (%v)", ServerName, s.state))
		}
	}()
	return s, mine, nil
}

// copyLog copies the server's stderr to w.
func copyLog(w io.Writer, r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if n > 0 {
			w.Write(b[:n])
		}
		if err != nil {
			return
		}
	}
}

// MaxMessage is the msize cap that the sockets allow: give it to the
// devices (Config.MaxMessage).
func (s *Server) MaxMessage() int { return s.maxMsg }

// Process is the server's process.
func (s *Server) Process() *os.Process { return s.proc }

// Close waits (at most ServerExitTimeout) for the server to exit, which it
// does once every socket is closed, and kills it after that. Close the
// devices (or the sockets) first.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	select {
	case <-s.done:
	case <-time.After(ServerExitTimeout):
		s.proc.Signal(syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("volumes: %s (pid %d) did not exit within %v of its sockets closing; killed", ServerName, s.proc.Pid, ServerExitTimeout)
	}
	if s.err == nil && !s.state.Success() {
		return fmt.Errorf("volumes: %s %v", ServerName, s.state)
	}
	return nil
}
