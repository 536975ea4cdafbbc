package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps package net and cgo out of the brique command: importing
// net links the cgo resolver, whose runtime creates threads with
// pthread_create (clone3), which the monitor's seccomp filter refuses once
// the VM runs; the process then aborts under load ("pthread_create
// failed"), as it did once.
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "brique.dev/brique/cmd/brique").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "net" || p == "runtime/cgo" || p == "os/user" {
			t.Errorf("cmd/brique depends on %s", p)
		}
	}
}
