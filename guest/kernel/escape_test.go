package kernel

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestNoHeapAllocation enforces the first rule of restricted code (see the
// package doc): nothing in this package may allocate, because it runs
// before the Go runtime and inside system calls, without a real g. The
// compiler's escape analysis names every value that would go to the heap.
func TestNoHeapAllocation(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	// The kernel and the ABI package it uses from restricted code.
	cmd := exec.Command("go", "build", "-gcflags=-m", "-o", "/dev/null", ".", "../../abi")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil && runtime.GOOS == "linux" {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "escapes to heap") || strings.Contains(line, "moved to heap") {
			if strings.Contains(line, "_test.go") {
				continue
			}
			t.Errorf("heap allocation in the library OS: %s", line)
		}
	}
}
