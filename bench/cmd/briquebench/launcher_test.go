package main

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestParseTimeMaxRSS(t *testing.T) {
	for in, want := range map[string]int64{
		"1864\n": 1864,
		"Command exited with non-zero status 3\n12576\n": 12576,
		"448": 448,
	} {
		if got, err := parseTimeMaxRSS(in); err != nil || got != want {
			t.Errorf("parseTimeMaxRSS(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "\n", "Command terminated by signal 9\n", "-1\n", "12 KiB\n"} {
		if _, err := parseTimeMaxRSS(bad); err == nil {
			t.Errorf("parseTimeMaxRSS(%q) succeeded", bad)
		}
	}
}

func TestParseHostMem(t *testing.T) {
	stderr := "noise\nbrique: host memory: peak RSS 12576 KiB = guest RAM 6144 KiB + monitor private 1096 KiB + shared file pages (brique binary, image) 5584 KiB\n" +
		"brique: exit 0; monitor set-up 1.487ms, total 4.332ms; 2 VM exits; guest allocated 1548 KiB beyond its image\n"
	h, err := parseHostMem(stderr)
	if err != nil {
		t.Fatal(err)
	}
	if h != (hostMem{Peak: 12576, Guest: 6144, Private: 1096, Shared: 5584}) {
		t.Errorf("parseHostMem = %+v", h)
	}
	if _, err := parseHostMem("brique: exit 0; total 1ms\n"); err == nil {
		t.Error("parseHostMem without the line succeeded")
	}
}

// TestExitELF checks that the floor program is a valid executable that
// exits 0.
func TestExitELF(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("linux/amd64 only")
	}
	path := filepath.Join(t.TempDir(), "exit0")
	if err := writeExitELF(path); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || len(f.Progs) != 1 {
		t.Errorf("ELF header: machine %v type %v, %d program headers", f.Machine, f.Type, len(f.Progs))
	}
	f.Close()
	if out, err := exec.Command(path).CombinedOutput(); err != nil {
		t.Fatalf("running it: %v (%q)", err, out)
	}
}

// TestRunMem is the reason for the launcher: a child the harness starts
// itself reports at least the harness's own peak RSS, one started through
// GNU time does not.
func TestRunMem(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("linux/amd64 only")
	}
	dir := t.TempDir()
	r, err := newRunner(dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	exit0 := filepath.Join(dir, "exit0")
	if err := writeExitELF(exit0); err != nil {
		t.Fatal(err)
	}
	// Raise the harness's own high-water mark well above anything the
	// launcher could have.
	const bigKiB = 64 << 10
	big := make([]byte, bigKiB<<10)
	for i := range big {
		big[i] = 1
	}
	direct := r.run([]string{exit0})
	runtime.KeepAlive(big)
	if direct.Err != nil || direct.Exit != 0 {
		t.Fatalf("direct run: %+v", direct)
	}
	if hwm := selfMaxRSS(); hwm < bigKiB {
		t.Errorf("selfMaxRSS = %d KiB after touching %d KiB", hwm, bigKiB)
	}
	if direct.MaxRSS < bigKiB {
		t.Logf("direct child's ru_maxrss %d KiB is below the harness's %d KiB: this kernel does not carry it over", direct.MaxRSS, selfMaxRSS())
	}

	l := setupLauncher(r, "/usr/bin/time", dir, 2)
	if !l.used() {
		// The fallback is wait4's ru_maxrss.
		if res := r.runMem([]string{exit0}); res.Err != nil || res.MaxRSS != r.run([]string{exit0}).MaxRSS && res.MaxRSS < bigKiB {
			t.Errorf("fallback runMem = %+v", res)
		}
		t.Skipf("no GNU time: %s", l.Why)
	}
	if len(l.FloorExit) != 2 || len(l.FloorTrue) != 2 {
		t.Fatalf("floor runs: %+v", l)
	}
	res := r.runMem([]string{exit0})
	if res.Err != nil || res.Exit != 0 || res.Stderr != "" {
		t.Fatalf("runMem = %+v", res)
	}
	if res.MaxRSS <= 0 || res.MaxRSS >= 8<<10 {
		t.Errorf("through GNU time, a program that only exits peaked at %d KiB (harness %d KiB)", res.MaxRSS, selfMaxRSS())
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		return
	}
	// The program's stderr stays its own, and its exit status comes through.
	res = r.runMem([]string{sh, "-c", "echo out; echo err >&2; exit 3"})
	if res.Err != nil || res.Exit != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Errorf("runMem of a failing program = %+v", res)
	}
}
