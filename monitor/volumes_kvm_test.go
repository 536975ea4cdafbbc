package monitor_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"brique.dev/brique/internal/kvmtest"
	"brique.dev/brique/monitor"
)

// childrenNamed lists this process's children whose command is name.
func childrenNamed(name string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i || s[i+1:j] != name {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestMonitorVolumes boots hello with two volumes: the guest does not
// mount them yet, but the monitor starts brique-9pd, puts the devices on
// the bus and the guest still boots; the server is gone after the run.
func TestMonitorVolumes(t *testing.T) {
	kvmtest.RequireKVM(t)
	server := filepath.Join(t.TempDir(), "brique-9pd")
	if out, err := exec.Command("go", "build", "-o", server, "brique.dev/brique/cmd/brique-9pd").CombinedOutput(); err != nil {
		t.Fatalf("go build brique-9pd: %v\n%s", err, out)
	}
	img := buildExampleImage(t, "hello")
	var stdout, stderr bytes.Buffer
	res, err := monitor.Run(monitor.Config{
		Image:        img,
		Args:         []string{"hello"},
		Stdout:       &stdout,
		Stderr:       &stderr,
		Volumes:      []monitor.Volume{{Host: t.TempDir(), Guest: "/data"}, {Host: t.TempDir(), Guest: "/ro", ReadOnly: true}},
		VolumeServer: server,
	})
	if err != nil || res.ExitCode != 0 || !strings.Contains(stdout.String(), "Hello") {
		t.Fatalf("Run: %v, exit %d\nstdout:\n%s\nstderr:\n%s", err, res.ExitCode, &stdout, &stderr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(childrenNamed("brique-9pd")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("brique-9pd still runs after the VM: %v", childrenNamed("brique-9pd"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A bad volume fails before anything starts.
	_, err = monitor.Run(monitor.Config{Image: img, Args: []string{"hello"}, Stdout: &stdout, Stderr: &stderr,
		Volumes: []monitor.Volume{{Host: "/nonexistent", Guest: "/data"}}, VolumeServer: server})
	if !errors.Is(err, monitor.ErrVolume) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing host directory: %v", err)
	}
	// A missing server is a clear error.
	_, err = monitor.Run(monitor.Config{Image: img, Args: []string{"hello"}, Stdout: &stdout, Stderr: &stderr,
		Volumes: []monitor.Volume{{Host: t.TempDir(), Guest: "/data"}}, VolumeServer: "/nonexistent/brique-9pd"})
	if err == nil || !strings.Contains(err.Error(), "brique-9pd") {
		t.Errorf("missing server: %v", err)
	}
}
