package p9_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestP9Deps keeps the device, which the monitor links, free of the 9P
// library (it imports package net: a cgo binary that the monitor's
// seccomp filter kills) and of package net itself; the library runs in
// brique-9pd (docs/decisions/009-volumes-9p.md).
func TestP9Deps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "brique.dev/brique/monitor/virtio/p9").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "hugelgupf") || p == "net" || p == "runtime/cgo" || p == "os/user" {
			t.Errorf("monitor/virtio/p9 depends on %s", p)
		}
	}
}
