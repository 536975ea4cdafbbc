package p9

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
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
func FindServer() (string, error) { return helperproc.Find(serverSpec) }

// serverSpec describes brique-9pd to package helperproc.
var serverSpec = helperproc.FindSpec{
	Name:     ServerName,
	Env:      ServerEnv,
	Sentinel: ErrNoServer,
	What:     "host directory volumes are served by that separate program",
	Cmd:      "./cmd/brique-9pd",
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
	proc   *helperproc.Process
	maxMsg int
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
// it (helperproc.Start). Call LaunchServer before the monitor installs
// its seccomp filter.
func LaunchServer(path string, exports []Export, opts ServerOptions) (*Server, []*Socket, error) {
	if len(exports) == 0 {
		return nil, nil, errors.New("9p server: nothing to export")
	}
	path, err := helperproc.Resolve(path, serverSpec)
	if err != nil {
		return nil, nil, err
	}
	if opts.MaxMessage == 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	var mine, theirs []*Socket
	defer func() {
		for _, s := range theirs {
			s.Close() // the server has its copies (or did not start)
		}
	}()
	fail := func(err error) (*Server, []*Socket, error) {
		for _, s := range mine {
			s.Close()
		}
		return nil, nil, fmt.Errorf("volumes: %w", err)
	}
	maxMsg := opts.MaxMessage
	args := []string{ServerName}
	if opts.Debug {
		args = append(args, "-debug")
	}
	var files []*os.File // descriptors 3, 4, ...
	for i, e := range exports {
		a, b, err := SocketPair(opts.MaxMessage)
		if err != nil {
			return fail(err)
		}
		mine, theirs = append(mine, a), append(theirs, b)
		maxMsg = min(maxMsg, a.MessageLimit(), b.MessageLimit())
		spec := strconv.Itoa(3+2*i) + ":" + strconv.Itoa(4+2*i)
		if e.ReadOnly {
			spec += ":ro"
		}
		args = append(args, spec)
		files = append(files, b.File(), e.Dir)
	}
	if maxMsg < MinMessage {
		return fail(fmt.Errorf("the socket buffers hold %d-byte messages, less than the %d bytes 9P needs (raise net.core.wmem_max)", maxMsg, MinMessage))
	}
	args = append(args[:1], append([]string{"-msize", strconv.Itoa(maxMsg)}, args[1:]...)...)

	proc, err := helperproc.Start(helperproc.Cmd{Path: path, Args: args, Stderr: opts.Stderr, ExtraFiles: files})
	if err != nil {
		return fail(err)
	}
	s := &Server{proc: proc, maxMsg: maxMsg, closed: make(chan struct{})}
	if opts.OnExit != nil {
		go func() {
			state, err := proc.Wait()
			select {
			case <-s.closed:
				return
			default:
			}
			if err == nil && !state.Success() {
				opts.OnExit(fmt.Errorf("%s exited (%v)", ServerName, state))
			}
		}()
	}
	return s, mine, nil
}

// MaxMessage is the msize cap that the sockets allow: give it to the
// devices (Config.MaxMessage).
func (s *Server) MaxMessage() int { return s.maxMsg }

// Process is the server's process.
func (s *Server) Process() *os.Process { return s.proc.Proc() }

// Close waits (at most ServerExitTimeout) for the server to exit, which it
// does once every socket is closed, and kills it after that. Close the
// devices (or the sockets) first.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	if !s.proc.ExitWithin(ServerExitTimeout) {
		<-s.proc.Done()
		return fmt.Errorf("volumes: %s (pid %d) did not exit within %v of its sockets closing; killed", ServerName, s.proc.Proc().Pid, ServerExitTimeout)
	}
	if state, err := s.proc.Wait(); err == nil && !state.Success() {
		return fmt.Errorf("volumes: %s %v", ServerName, state)
	}
	return nil
}
