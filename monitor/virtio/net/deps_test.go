package net_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps this package, which the monitor links, free of gVisor
// and gvisor-tap-vsock (~6 ms more at every monitor start and ~6 MB) and
// of package net (a dynamically linked cgo binary, ~0.7 ms more):
// docs/decisions/008-netd.md.
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "brique.dev/brique/monitor/virtio/net").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "gvisor") || p == "net" || p == "runtime/cgo" || p == "os/user" {
			t.Errorf("monitor/virtio/net depends on %s", p)
		}
	}
}
