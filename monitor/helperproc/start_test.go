package helperproc_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
)

func TestResolve(t *testing.T) {
	dir, exe, plain := files(t)
	if p, err := helperproc.Resolve(exe, spec()); err != nil || p != exe {
		t.Errorf("Resolve(%s) = %q, %v", exe, p, err)
	}
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct{ path, want string }{
		{missing, "brique-testhelper not found at " + missing + ": testing runs in that separate program; build it with `go build -o " + missing + " ./cmd/brique-testhelper`"},
		{plain, plain + " is not an executable file; build it with `go build -o " + plain + " ./cmd/brique-testhelper`"},
		{dir, dir + " is not an executable file"},
	} {
		p, err := helperproc.Resolve(c.path, spec())
		if p != "" || !errors.Is(err, errNoHelper) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%s) = %q, %v; want an error with %q", c.path, p, err, c.want)
		}
	}
	// An empty path is Find's business.
	t.Setenv("BRIQUE_TESTHELPER", exe)
	if p, err := helperproc.Resolve("", spec()); err != nil || p != exe {
		t.Errorf(`Resolve("") with $BRIQUE_TESTHELPER=%s = %q, %v`, exe, p, err)
	}
}

func TestSocketPair(t *testing.T) {
	// The kernel doubles the size asked for (socket(7)).
	const size = 16 << 10
	mine, theirs, err := helperproc.SocketPair(size)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range []int{mine, theirs} {
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_SEQPACKET {
			t.Errorf("socket type %d, %v; want SOCK_SEQPACKET", typ, err)
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Errorf("descriptor flags %#x, %v: not close-on-exec", fl, err)
		}
		if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || n != 2*size {
			t.Errorf("SO_SNDBUF %d, %v; want %d", n, err, 2*size)
		}
		if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil || n != 2*size {
			t.Errorf("SO_RCVBUF %d, %v; want %d", n, err, 2*size)
		}
	}
	a, err := helperproc.NewSeqPacket(mine, "mine")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := helperproc.NewSeqPacket(theirs, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("Read = %q, %v", buf[:n], err)
	}
}

// TestStart starts a shell as the helper: its descriptors, standard
// error, process group and exit status are what Start promises.
func TestStart(t *testing.T) {
	sh, err := findCmd("sh")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var stderr strings.Builder
	// Descriptor 3 is the pipe, 4 /dev/null (a nil entry), 5 out.
	script := `read line <&3 && echo "got $line" >&5 && cat <&4 >&5 && echo "to stderr" >&2 && exit 7`
	p, err := helperproc.Start(helperproc.Cmd{
		Path:       sh,
		Args:       []string{"sh", "-c", script},
		Stderr:     &stderr,
		ExtraFiles: []*os.File{r, nil, out},
	})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	// The helper waits for a line on descriptor 3, so it is still
	// running while its process group is checked.
	pid := p.Proc().Pid
	if pgid, err := unix.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("the helper's process group is %d, %v; want its own (%d)", pgid, err, pid)
	}
	w.WriteString("hello\n")
	w.Close()
	if !p.ExitWithin(10 * time.Second) {
		t.Fatal("the helper did not exit")
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after ExitWithin")
	}
	state, err := p.Wait()
	if err != nil || state.ExitCode() != 7 {
		t.Errorf("Wait = %v, %v; want exit status 7", state, err)
	}
	if stderr.String() != "to stderr\n" {
		t.Errorf("standard error %q", stderr.String())
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != "got hello\n" {
		t.Errorf("descriptor 5 got %q", b)
	}
	// Reaped: waiting again for the pid fails.
	if _, err := unix.Wait4(pid, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("wait4(%d) after Wait: %v, want ECHILD", pid, err)
	}
}

// TestStartKill: ExitWithin kills a helper that does not exit in time.
func TestStartKill(t *testing.T) {
	sh, err := findCmd("sh")
	if err != nil {
		t.Fatal(err)
	}
	p, err := helperproc.Start(helperproc.Cmd{Path: sh, Args: []string{"sh", "-c", "exec sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.ExitWithin(50 * time.Millisecond) {
		t.Fatal("sleep 30 exited at once")
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("the helper is still running after ExitWithin")
	}
	state, err := p.Wait()
	if err != nil || state.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Wait = %v, %v; want killed", state, err)
	}
}

func TestStartMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	p, err := helperproc.Start(helperproc.Cmd{Path: missing, Args: []string{"missing"}, Stderr: &strings.Builder{}})
	if p != nil || err == nil || !strings.HasPrefix(err.Error(), "starting "+missing+": ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start(%s) = %v, %v", missing, p, err)
	}
}

// findCmd finds a command in the usual places.
func findCmd(name string) (string, error) {
	for _, dir := range []string{"/bin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if helperproc.IsExecutable(p) {
			return p, nil
		}
	}
	return "", errors.New("no " + name)
}
