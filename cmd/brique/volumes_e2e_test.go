package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"brique.dev/brique/internal/kvmtest"
)

var (
	server9pOnce sync.Once
	server9pErr  error
)

// build9pd puts brique-9pd next to the brique binary, where brique looks
// for it.
func build9pd(t *testing.T) {
	t.Helper()
	server9pOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", workDir, "./cmd/brique-9pd")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			server9pErr = err
			t.Logf("%s", out)
		}
	})
	if server9pErr != nil {
		t.Fatalf("building brique-9pd: %v", server9pErr)
	}
}

// TestVolumesRun: brique run -v starts the volume server and boots a
// program that cannot open files (hello: the warning says -v has no
// effect), under the seccomp filter; a bad -v is a usage error.
func TestVolumesRun(t *testing.T) {
	kvmtest.RequireKVM(t)
	build9pd(t)
	img := exampleImage(t, "hello")
	rw, ro := t.TempDir(), t.TempDir()
	r := brique(t, "", "run", "-v", rw+":/data", "--volume", ro+":/ro:ro", img)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Hello") || !strings.Contains(r.Stderr, "-v has no effect") {
		t.Errorf("brique run with volumes:\n%s", r)
	}
	checkCleanFailure(t, brique(t, "", "run", "-v", filepath.Join(rw, "missing")+":/data", img), 2, "does not exist")
	checkCleanFailure(t, brique(t, "", "run", "-v", rw+":data", img), 2, "absolute")
	checkCleanFailure(t, brique(t, "", "run", "-v", rw+":/data", "-v", ro+":/data", img), 2, "already")
	if ents, _ := os.ReadDir(rw); len(ents) != 0 {
		t.Errorf("the volume changed: %v", ents)
	}
}
