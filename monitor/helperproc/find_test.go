package helperproc_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"brique.dev/brique/monitor/helperproc"
)

var errNoHelper = errors.New("brique-testhelper not found")

func spec() helperproc.FindSpec {
	return helperproc.FindSpec{
		Name:     "brique-testhelper",
		Env:      "BRIQUE_TESTHELPER",
		Sentinel: errNoHelper,
		What:     "testing runs in that separate program",
		Cmd:      "./cmd/brique-testhelper",
	}
}

// files makes a directory with an executable file "helper" and a plain
// file "plain".
func files(t *testing.T) (dir, exe, plain string) {
	t.Helper()
	dir = t.TempDir()
	exe = filepath.Join(dir, "helper")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain = filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, exe, plain
}

func TestFindEnv(t *testing.T) {
	dir, exe, plain := files(t)
	t.Setenv("PATH", t.TempDir())

	t.Setenv("BRIQUE_TESTHELPER", exe)
	if p, err := helperproc.Find(spec()); err != nil || p != exe {
		t.Errorf("Find with $BRIQUE_TESTHELPER=%s = %q, %v", exe, p, err)
	}
	for _, bad := range []string{plain, dir, filepath.Join(dir, "missing")} {
		t.Setenv("BRIQUE_TESTHELPER", bad)
		p, err := helperproc.Find(spec())
		if p != "" || !errors.Is(err, errNoHelper) || !strings.Contains(err.Error(), "go build -o "+bad+" ./cmd/brique-testhelper") {
			t.Errorf("Find with $BRIQUE_TESTHELPER=%s = %q, %v", bad, p, err)
		}
	}
}

func TestFindPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "brique-testhelper")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRIQUE_TESTHELPER", "")
	t.Setenv("PATH", dir)
	if p, err := helperproc.Find(spec()); err != nil || p != exe {
		t.Errorf("Find with %s in $PATH = %q, %v", exe, p, err)
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("BRIQUE_TESTHELPER", "")
	t.Setenv("PATH", t.TempDir())
	p, err := helperproc.Find(spec())
	if p != "" || !errors.Is(err, errNoHelper) {
		t.Fatalf("Find without the helper = %q, %v", p, err)
	}
	for _, want := range []string{"$BRIQUE_TESTHELPER", "go install ./cmd/brique-testhelper", "testing runs in that separate program", "$PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Find's error %q does not mention %q", err, want)
		}
	}
}
