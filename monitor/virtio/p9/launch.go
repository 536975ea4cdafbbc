package p9

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"brique.dev/brique/monitor/helperproc"
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
	return helperproc.Find(helperproc.FindSpec{
		Name:     ServerName,
		Env:      ServerEnv,
		Sentinel: ErrNoServer,
		What:     "host directory volumes are served by that separate program",
		Cmd:      "./cmd/brique-9pd",
	})
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
	if !helperproc.IsExecutable(path) {
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
	stderr, copyDone, err := helperproc.StderrFile(opts.Stderr, devnull)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("volumes: %w", err)
	}
	if copyDone != nil {
		defer stderr.Close() // the process has its copy
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
