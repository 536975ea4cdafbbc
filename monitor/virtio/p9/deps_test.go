package p9_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestP9Deps keeps the device, which the monitor links, free of the 9P
// library (it imports package net: a cgo binary that the monitor's
// seccomp filter kills) and of package net itself; the library runs in
// brique-9pd (docs/decisions/009-volumes-9p.md). The same holds for the
// test message builders (p9test), which the seccomp child links. And no
// program links the test helpers under internal/.
func TestP9Deps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	deps := func(pkgs ...string) []string {
		t.Helper()
		out, err := exec.Command(gobin, append([]string{"list", "-deps"}, pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", pkgs, err)
		}
		return strings.Fields(string(out))
	}
	for _, pkg := range []string{"brique.dev/brique/monitor/virtio/p9", "brique.dev/brique/monitor/virtio/p9/internal/p9test"} {
		for _, p := range deps(pkg) {
			if strings.Contains(p, "hugelgupf") || p == "net" || p == "runtime/cgo" || p == "os/user" {
				t.Errorf("%s depends on %s", pkg, p)
			}
		}
	}
	for _, p := range deps("brique.dev/brique/cmd/brique", "brique.dev/brique/cmd/brique-9pd") {
		if strings.HasPrefix(p, "brique.dev/brique/monitor/virtio/p9/internal/") {
			t.Errorf("a command depends on the test helper %s", p)
		}
	}
}
