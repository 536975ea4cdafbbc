package p9_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

// build builds a command of the module into a temporary directory.
func build(t *testing.T, pkg, name string, env ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	p := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(gobin, "build", "-o", p, pkg)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return p
}

var (
	serverOnce sync.Once
	serverPath string
	serverDir  string
)

// serverBin builds brique-9pd once per test binary.
func serverBin(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() {
		serverDir, _ = os.MkdirTemp("", "brique-9pd-test-")
		cmd := exec.Command("go", "build", "-o", filepath.Join(serverDir, p9.ServerName), "brique.dev/brique/cmd/brique-9pd")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("go build brique-9pd: %v\n%s", err, out)
			return
		}
		serverPath = filepath.Join(serverDir, p9.ServerName)
	})
	if serverPath == "" {
		t.Fatal("could not build brique-9pd")
	}
	return serverPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if serverDir != "" {
		os.RemoveAll(serverDir)
	}
	os.Exit(code)
}

func openDir(t *testing.T, p string) *os.File {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), p)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestP9LaunchServer runs brique-9pd on two directories, one read-only,
// and checks that it exits once the sockets are closed.
func TestP9LaunchServer(t *testing.T) {
	rw, ro := t.TempDir(), t.TempDir()
	srv, socks, err := p9.LaunchServer(serverBin(t), []p9.Export{{Dir: openDir(t, rw)}, {Dir: openDir(t, ro), ReadOnly: true}}, p9.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 || srv.MaxMessage() < p9.MinMessage {
		t.Fatalf("%d sockets, msize cap %d", len(socks), srv.MaxMessage())
	}
	call := func(s *p9.Socket, m []byte) []byte {
		t.Helper()
		if err := s.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, srv.MaxMessage()+1)
		n, err := s.ReadMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		return b[:n]
	}
	for i, s := range socks {
		call(s, p9test.Version(8192))
		call(s, p9test.Attach(1, 1))
		b := call(s, p9test.Msg(p9test.Tlcreate, 2, uint32(1), "new", uint32(1), uint32(0o644), uint32(0)))
		switch {
		case i == 0 && p9test.Type(b) != p9test.Tlcreate+1:
			t.Errorf("create in the read-write volume: % x", b)
		case i == 1 && (p9test.Type(b) != p9test.Rlerror || p9.Message(b).U32(7) != uint32(unix.EROFS)):
			t.Errorf("create in the read-only volume: % x", b)
		}
	}
	if _, err := os.Stat(filepath.Join(rw, "new")); err != nil {
		t.Errorf("not created: %v", err)
	}
	for _, s := range socks {
		s.Close()
	}
	if err := srv.Close(); err != nil {
		t.Errorf("the server did not exit cleanly: %v", err)
	}
}

// TestP9LaunchServerDies: OnExit reports a server that dies.
func TestP9LaunchServerDies(t *testing.T) {
	exited := make(chan error, 1)
	srv, socks, err := p9.LaunchServer(serverBin(t), []p9.Export{{Dir: openDir(t, t.TempDir())}}, p9.ServerOptions{
		OnExit: func(err error) { exited <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer socks[0].Close()
	srv.Process().Signal(syscall.SIGKILL)
	select {
	case err := <-exited:
		if !strings.Contains(err.Error(), "killed") {
			t.Errorf("OnExit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not called")
	}
}

func TestP9FindServer(t *testing.T) {
	t.Setenv(p9.ServerEnv, "/nonexistent/brique-9pd")
	if _, err := p9.FindServer(); !errors.Is(err, p9.ErrNoServer) || !strings.Contains(err.Error(), "go build") {
		t.Errorf("FindServer with a bad $%s: %v", p9.ServerEnv, err)
	}
	t.Setenv(p9.ServerEnv, serverBin(t))
	if p, err := p9.FindServer(); err != nil || p != serverBin(t) {
		t.Errorf("FindServer: %q, %v", p, err)
	}
	if _, _, err := p9.LaunchServer("/nonexistent/brique-9pd", []p9.Export{{Dir: openDir(t, t.TempDir())}}, p9.ServerOptions{}); !errors.Is(err, p9.ErrNoServer) {
		t.Errorf("LaunchServer of a missing program: %v", err)
	}
}

// TestP9UnderSeccomp: what the monitor does with the server once its
// seccomp filter is installed (read and write the socket, wait for the
// server) works under the real filter.
func TestP9UnderSeccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the monitor's filter is for amd64")
	}
	child := build(t, "./testdata/seccompchild", "seccompchild", "CGO_ENABLED=0")
	dir := t.TempDir()
	cmd := exec.Command(child, serverBin(t), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.Bytes())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hello")); string(b) != "written under seccomp" {
		t.Errorf("the file has %q", b)
	}
}
