package net_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// seccompChild builds testdata/seccompchild, a stand-in for the monitor
// (no package net, no cgo: this test binary links both).
func seccompChild(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	p := filepath.Join(t.TempDir(), "seccompchild")
	cmd := exec.Command(gobin, "build", "-o", p, "./testdata/seccompchild")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build seccompchild: %v\n%s", err, out)
	}
	return p
}

// TestUserNetUnderSeccomp checks that the user-mode backend keeps
// working, and closes, under the monitor's seccomp allow-list, and that
// the daemon then exits.
func TestUserNetUnderSeccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the monitor's filter is for amd64")
	}
	child, netd := seccompChild(t), netd(t)
	subreaper(t)
	cmd := exec.Command(child, netd, "seccomp")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("child: %s", bytes.TrimSpace(out))
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.Bytes())
	}
	var pid int
	fmt.Sscanf(string(out), "pid %d", &pid)
	if pid <= 0 {
		t.Fatalf("no daemon pid in %q", out)
	}
	if !strings.Contains(string(out), "daemon state exit status 0") {
		waitGone(t, pid) // the child could not wait for it
	}
}

// TestHelperKillUnderSeccomp checks that a helper process (brique-netd,
// brique-9pd) that does not exit when its socket closes can still be
// killed once the monitor's filter is in place.
func TestHelperKillUnderSeccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the monitor's filter is for amd64")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal("no sleep command")
	}
	// (sleep takes its duration from the arguments: the child gives none,
	// so use a script that never exits by itself.)
	script := filepath.Join(t.TempDir(), "stubborn")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+sleep+" 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := seccompChild(t)
	subreaper(t)
	out, err := exec.Command(child, "kill", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestUserNetMonitorDies checks that the daemon exits when the monitor
// dies without closing anything.
func TestUserNetMonitorDies(t *testing.T) {
	child, netd := seccompChild(t), netd(t)
	subreaper(t)
	cmd := exec.Command(child, netd, "die")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := io.ReadAll(out) // until the child closes its stdout
	var pid int
	fmt.Sscanf(string(line), "pid %d", &pid)
	cmd.Process.Kill()
	cmd.Wait()
	if pid <= 0 {
		t.Fatalf("no daemon pid in %q: %s", line, stderr.Bytes())
	}
	waitGone(t, pid)
}

// subreaper makes this process the child subreaper of its descendants
// for the test: a daemon orphaned by the child comes to us, and waitGone
// reaps it.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// waitGone waits until the daemon pid, orphaned by the child and
// reparented to this process (subreaper), has exited with status 0, and
// reaps it.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(brique-netd pid %d): %v (not reparented to the test?)", pid, err)
		}
		if got == pid {
			if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("brique-netd (pid %d): wait status %#x, want exit status 0", pid, uint32(ws))
			}
			return
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			t.Fatalf("brique-netd (pid %d) still runs: %s", pid, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTAPUnderSeccomp checks that the TAP backend works under the
// monitor's seccomp allow-list (read and write, not readv and writev).
func TestTAPUnderSeccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the monitor's filter is for amd64")
	}
	ns := netns(t)
	child := seccompChild(t)
	cmd := exec.Command("ip", "netns", "exec", ns, child, "tap", "bq2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 64)
	n, _ := stdout.Read(buf)
	if string(buf[:n]) != "open\n" {
		cmd.Wait()
		t.Fatalf("child: %q %s", buf[:n], stderr.Bytes())
	}
	ipIn(t, ns, "addr", "add", "10.99.2.1/24", "dev", "bq2")
	ipIn(t, ns, "link", "set", "bq2", "up")
	stdin.Write([]byte("go\n"))
	rest, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	if err != nil || strings.TrimSpace(string(rest)) != "ok" {
		t.Fatalf("child: %v: %s%s", err, rest, stderr.Bytes())
	}
}
