package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	line := "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 3 0 987654 12345678 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != 4242 || p.Comm != "a (weird) name" || p.State != 'S' || p.PPID != 17 || p.Start != 987654 || p.CPU != 3 {
		t.Errorf("parseStat = %+v", p)
	}
	for _, bad := range []string{"", "12 no parens", "x (c) S 1", "12 (c) S 1 2 3"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	// This process, for real.
	self, ok := readProc(os.Getpid())
	if !ok || self.PID != os.Getpid() || self.PPID != os.Getppid() || !alive(self) {
		t.Errorf("readProc(self) = %+v, %v", self, ok)
	}
	if alive(procInfo{PID: self.PID, Start: self.Start + 1}) {
		t.Error("alive accepted a different start time (a reused PID)")
	}
}

func TestTree(t *testing.T) {
	procs := map[int]procInfo{
		1: {PID: 1, PPID: 0}, 10: {PID: 10, PPID: 1}, 11: {PID: 11, PPID: 10},
		12: {PID: 12, PPID: 11}, 13: {PID: 13, PPID: 10}, 20: {PID: 20, PPID: 1},
	}
	var got []int
	for _, p := range tree(10, procs) {
		got = append(got, p.PID)
	}
	if len(got) != 4 || got[0] != 10 {
		t.Fatalf("tree(10) = %v, want 10 first and 4 processes", got)
	}
	seen := map[int]bool{}
	for _, pid := range got {
		seen[pid] = true
	}
	for _, pid := range []int{10, 11, 12, 13} {
		if !seen[pid] {
			t.Errorf("tree(10) = %v misses %d", got, pid)
		}
	}
	if got := tree(99, procs); len(got) != 0 {
		t.Errorf("tree(missing) = %v", got)
	}
}

func TestParseRollup(t *testing.T) {
	s := `00400000-7ffd253d2000 ---p 00000000 00:00 0                              [rollup]
Rss:               12596 kB
Pss:                4589 kB
Pss_Dirty:          9048 kB
Pss_Anon:           7220 kB
`
	m, err := parseRollup(s)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 12596 || m.PSS != 4589 || !m.HasPSS {
		t.Errorf("parseRollup = %+v", m)
	}
	if m, err := parseRollup("Rss: 8 kB\n"); err != nil || m.RSS != 8 || m.HasPSS {
		t.Errorf("parseRollup without Pss = %+v, %v", m, err)
	}
	for _, bad := range []string{"", "Pss: 3 kB\n", "Rss: 3 MB\n", "Rss: x kB\n"} {
		if _, err := parseRollup(bad); err == nil {
			t.Errorf("parseRollup(%q) succeeded", bad)
		}
	}
}

func TestParseKB(t *testing.T) {
	if n, err := parseKB(" 24322964 kB"); err != nil || n != 24322964 {
		t.Errorf("parseKB = %d, %v", n, err)
	}
	if _, err := parseKB("12"); err == nil {
		t.Error("parseKB accepted a value without kB")
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-10-amd64", true},
		{"vmlinuz-6.1.0-10-amd64", "vmlinuz-6.1.0-9-amd64", false},
		{"vmlinuz-5.10.0-20-amd64", "vmlinuz-6.1.0-1-amd64", true},
		{"vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64", false},
		{"vmlinuz-6.1", "vmlinuz-6.1.0", true},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestLineScanner(t *testing.T) {
	want := "Hello from a Brique unikernel!"
	var s lineScanner
	chunks := []string{"SeaBIOS (version 1.16.2)\r\nBooting from ROM..\x1bc\x1b[?7l\x1b[2JHello from a Br", "ique unikernel!\r", "\n[ 1.8] Kernel panic\r\n"}
	hits := []bool{false, false, true}
	for i, c := range chunks {
		if got := s.feed([]byte(c), want); got != hits[i] {
			t.Errorf("chunk %d: feed = %v, want %v", i, got, hits[i])
		}
	}
	var any lineScanner
	if any.feed([]byte("partial"), "") || !any.feed([]byte(" line\nmore"), "") {
		t.Error(`feed with want "" must report the first complete line`)
	}
}

func TestStripTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                     "plain",
		"crlf\r":                    "crlf",
		"\x1bc\x1b[?7l\x1b[2JHello": "Hello",
		"a\x1b[0;31mred\x1b[0m b":   "ared b",
		"trailing escape \x1b":      "trailing escape ",
		"unterminated \x1b[12":      "unterminated ",
	} {
		if got := stripTerminal(in); got != want {
			t.Errorf("stripTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQemuCheck(t *testing.T) {
	good := runResult{Stdout: "SeaBIOS\r\nBooting from ROM..\x1bc\x1b[2JHello from a Brique unikernel!\r\n[    1.8] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\r\n"}
	if why := qemuCheck(good); why != "" {
		t.Errorf("qemuCheck(good) = %q", why)
	}
	if !panicked(good.Stdout) {
		t.Error("panicked(good) = false")
	}
	for _, bad := range []runResult{
		{Stdout: "SeaBIOS\r\n[ 1.8] Kernel panic\r\n"},
		{Stdout: good.Stdout, Exit: 1},
		{Stdout: good.Stdout, TimedOut: true},
	} {
		if why := qemuCheck(bad); why == "" {
			t.Errorf("qemuCheck accepted %+v", bad)
		}
	}
}

func TestStopShort(t *testing.T) {
	for _, tc := range []struct {
		d    densityResult
		want string
	}{
		{densityResult{Stop: "reached the cap of 200"}, "cap"},
		{densityResult{Stop: "the 2m0s budget ran out"}, "time budget"},
		{densityResult{Stop: "MemAvailable fell to 1.9 GiB, below the 2.0 GiB floor"}, "memory floor"},
		{densityResult{Stop: "instance 3 did not become ready", Failure: "x"}, "an instance failed"},
	} {
		if got := stopShort(&tc.d); got != tc.want {
			t.Errorf("stopShort(%q) = %q, want %q", tc.d.Stop, got, tc.want)
		}
	}
}

func TestAvailDrop(t *testing.T) {
	d := densityResult{Started: 4, AvailBefore: 1000, AvailAfter: 600}
	if got := d.availDrop(); got != 100 {
		t.Errorf("availDrop = %v, want 100", got)
	}
	if got := (&densityResult{}).availDrop(); got != 0 {
		t.Errorf("availDrop with nothing started = %v", got)
	}
	d = densityResult{IdleCPU: 50 * time.Millisecond, IdleWindow: 2 * time.Second}
	if got := d.idleShare(); got != 0.025 {
		t.Errorf("idleShare = %v, want 0.025", got)
	}
	d = densityResult{Ready: []time.Duration{3, 1, 2}}
	if f, m, l := d.readyAt(); f != 3 || m != 1 || l != 2 {
		t.Errorf("readyAt = %v, %v, %v", f, m, l)
	}
}

func TestFmtKiBSigned(t *testing.T) {
	if got := fmtKiBSigned(-2048); !strings.HasPrefix(got, "−") || !strings.HasSuffix(got, "2.0 MiB") {
		t.Errorf("fmtKiBSigned(-2048) = %q", got)
	}
}

func TestRunFirst(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r, err := newRunner(t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	res := r.runFirst([]string{sh, "-c", "printf 'a\\nb'; printf 'c\\n'; echo oops >&2; exit 3"}, "bc")
	if res.Err != nil || res.Exit != 3 || res.Stdout != "a\nbc\n" || res.Stderr != "oops\n" {
		t.Fatalf("runFirst = %+v", res)
	}
	if res.FirstOut <= 0 || res.Wall <= 0 {
		t.Errorf("runFirst did not time the line %q: first %v, wall %v", "bc", res.FirstOut, res.Wall)
	}
	res = r.runFirst([]string{sh, "-c", "echo never"}, "other")
	if res.Err != nil || res.FirstOut != 0 {
		t.Errorf("a line that never came was timed: %+v", res)
	}
	if res := r.runFirst([]string{"/nonexistent/program"}, ""); res.Err == nil {
		t.Error("starting a missing program succeeded")
	}
}
