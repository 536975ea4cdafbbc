package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseVolbench(t *testing.T) {
	out := `volbench op=seqwrite bytes=8388608 ns=8388608
volbench op=create-fsync files=20 bytes=4096 ns=10000000
something else
volbench op=seqread bytes=8388608 ns=4194304
volbench op=seqread-warm bytes=8388608 ns=1048576
`
	rates, timed, err := parseVolbench(out, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"seqwrite": 1e9, "create-fsync": 2000, "seqread": 2e9, "seqread-warm": 8e9}
	if !reflect.DeepEqual(rates, want) {
		t.Errorf("rates = %v, want %v", rates, want)
	}
	if timed != 8388608+10000000+4194304+1048576 {
		t.Errorf("timed = %v", timed)
	}
	for _, bad := range []struct{ out, why string }{
		{"volbench op=seqwrite bytes=8388608 ns=1\nvolbench op=seqwrite bytes=8388608 ns=1\n", "a second seqwrite"},
		{"volbench op=seqwrite bytes=1048576 ns=1\n", "asked for 8 MiB"},
		{"volbench op=create-fsync files=19 bytes=4096 ns=1\n", "asked for 20 of 4096"},
		{"volbench op=create-fsync files=20 bytes=512 ns=1\n", "asked for 20 of 4096"},
		{"volbench op=seqread bytes=8388608 ns=0\n", "ns=0"},
		{"volbench op=unlink files=20 ns=1\n", "unknown op"},
		{"volbench op=seqread ns=1\n", "no bytes= field"},
	} {
		if _, _, err := parseVolbench(bad.out, 8, 20); err == nil || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("parseVolbench(%q) = %v, want an error with %q", bad.out, err, bad.why)
		}
	}
}

// writeVolDir writes what volbench's write phase leaves: a file of mib
// MiB and files small files.
func writeVolDir(t *testing.T, dir string, mib, files int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, volSeqName), make([]byte, mib*volChunk), 0o644); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, volSmallDir)
	if err := os.Mkdir(small, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < files; i++ {
		if err := os.WriteFile(filepath.Join(small, "f"+string(rune('a'+i))), make([]byte, volSmall), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckVolDir(t *testing.T) {
	dir := t.TempDir()
	writeVolDir(t, dir, 2, 3)
	if err := checkVolDir(dir, 2, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mib, files int
		why        string
	}{{3, 3, "want a regular file of 3145728"}, {2, 4, "holds 3 entries, want 4"}} {
		if err := checkVolDir(dir, c.mib, c.files); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("checkVolDir(%d MiB, %d files) = %v, want %q", c.mib, c.files, err, c.why)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, volSmallDir, "fb"), make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkVolDir(dir, 2, 3); err == nil || !strings.Contains(err.Error(), "fb:") {
		t.Errorf("checkVolDir with a short file = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkVolDir(dir, 2, 3); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("checkVolDir with an extra file = %v", err)
	}
}

// TestDropFromCache checks that the eviction runs and reports a share; it
// cannot require 0 (on a tmpfs nothing can be evicted).
func TestDropFromCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	share, err := dropFromCache(p)
	if err != nil {
		t.Fatal(err)
	}
	if share < 0 || share > 1 {
		t.Errorf("resident share %v, want within [0, 1]", share)
	}
	if _, err := dropFromCache(p + ".missing"); err == nil {
		t.Error("dropFromCache of a missing file: no error")
	}
}

// TestVolbenchOutput runs volbench natively, phase by phase as the
// scenario does, and checks what it prints and leaves: the program and
// the harness agree. It asserts no timing.
func TestVolbenchOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds volbench")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "volbench")
	if out, err := exec.Command("go", "build", "-o", bin, "brique.dev/brique/bench/programs/volbench").CombinedOutput(); err != nil {
		t.Fatalf("go build volbench: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "vol")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(phase string) map[string]float64 {
		t.Helper()
		out, err := exec.Command(bin, "-dir", dir, "-mib", "3", "-files", "7", "-phase", phase).Output()
		if err != nil {
			t.Fatalf("volbench -phase %s: %v", phase, err)
		}
		rates, _, err := parseVolbench(string(out), 3, 7)
		if err != nil {
			t.Fatal(err)
		}
		if phase != "all" && len(rates) != len(volPhase[phase]) {
			t.Errorf("-phase %s printed %v, want %v", phase, rates, volPhase[phase])
		}
		return rates
	}
	run("write")
	if err := checkVolDir(dir, 3, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := dropFromCache(filepath.Join(dir, volSeqName)); err != nil {
		t.Fatal(err)
	}
	run("read")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if rates := run("all"); len(rates) != len(volKeys) {
		t.Errorf("-phase all printed %v, want %v", rates, volKeys)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("-phase all left %d entries", len(left))
	}
	// A read of a file of the wrong size fails.
	run("write")
	if err := exec.Command(bin, "-dir", dir, "-mib", "4", "-phase", "read").Run(); err == nil {
		t.Error("volbench -phase read -mib 4 of a 3 MiB file: no error")
	}
}
