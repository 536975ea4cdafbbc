package main

import (
	"bytes"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseKV(t *testing.T) {
	for _, tc := range []struct {
		line, prefix string
		want         map[string]string
		ok           bool
	}{
		{"fileread files=3 bytes=10 crc=0badf00d", "fileread", map[string]string{"files": "3", "bytes": "10", "crc": "0badf00d"}, true},
		{"  tmpfs op=read round=1  ns=5 ", "tmpfs", map[string]string{"op": "read", "round": "1", "ns": "5"}, true},
		{`tmpfs probe files=253 of=1000 err="open /tmp/x y: no space left on device"`, "tmpfs probe",
			map[string]string{"files": "253", "of": "1000", "err": "open /tmp/x y: no space left on device"}, true},
		{`tmpfs probe files=1 err=""`, "tmpfs probe", map[string]string{"files": "1", "err": ""}, true},
		{"tmpfs", "tmpfs", nil, false},                   // no fields, no space
		{"tmpfsx op=a", "tmpfs", nil, false},             // another prefix
		{"tmpfs op", "tmpfs", nil, false},                // no =
		{"tmpfs =x", "tmpfs", nil, false},                // empty key
		{`tmpfs err="unterminated`, "tmpfs", nil, false}, // bad quote
		{`tmpfs err="a"b`, "tmpfs", nil, false},          // junk after a quote
		{"tmpfs probe files=3", "tmpfs", map[string]string{}, false},
	} {
		got, ok := parseKV(tc.line, tc.prefix)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseKV(%q, %q) = %v, %v; want %v, %v", tc.line, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}

const filereadOut = `fileread files=3 bytes=3000 crc=0000abcd
fileread op=walk round=1 entries=5 ns=1000
fileread op=read64k set=large round=1 files=1 bytes=2000 ns=1000
fileread op=read64k set=small round=1 files=2 bytes=1000 ns=2000
fileread op=readfile set=large round=1 files=1 bytes=2000 ns=500
fileread op=readfile set=small round=1 files=2 bytes=1000 ns=500
fileread op=walk round=2 entries=5 ns=500
fileread op=readfile set=large round=2 files=1 bytes=2000 ns=1000
fileread op=readfile set=small round=2 files=2 bytes=1000 ns=1000
fileread op=read64k set=large round=2 files=1 bytes=2000 ns=1000
fileread op=read64k set=small round=2 files=2 bytes=1000 ns=1000
`

func TestParseFileread(t *testing.T) {
	tree, rs, timed, err := parseFileread("noise before\n" + filereadOut)
	if err != nil {
		t.Fatal(err)
	}
	if want := (treeInfo{Files: 3, Bytes: 3000, CRC: 0xabcd}); tree != want {
		t.Errorf("tree = %+v, want %+v", tree, want)
	}
	if want := 9500 * time.Nanosecond; timed != want {
		t.Errorf("timed = %v, want %v", timed, want)
	}
	if err := rs.complete(2, fileReadKeys()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		round int
		key   string
		want  float64
	}{
		{1, "walk", 5e6},            // 5 entries in 1 µs
		{1, "read64k/large", 2e9},   // 2000 bytes in 1 µs
		{1, "read64k/small", 0.5e9}, // 1000 bytes in 2 µs
		{1, "read64k/all", 1e9},     // 3000 bytes in 3 µs
		{1, "readfile/all", 3e9},    // 3000 bytes in 1 µs
		{2, "readfile/all", 1.5e9},  // 3000 bytes in 2 µs
		{2, "walk", 1e7},            //
		{2, filereadKey("read64k", "large"), 2e9},
	} {
		if got := rs[tc.round][tc.key]; got != tc.want {
			t.Errorf("round %d %s = %v, want %v", tc.round, tc.key, got, tc.want)
		}
	}
	if err := rs.complete(3, fileReadKeys()); err == nil {
		t.Error("complete(3) of 2 rounds: no error")
	}

	for _, bad := range []string{
		"fileread op=walk round=1 entries=5 ns=1\n",                                                   // no header
		"fileread files=1 bytes=1 crc=zz\n",                                                           // bad crc
		"fileread files=1 bytes=1 crc=1\nfileread op=readfile set=odd round=1 files=1 bytes=1 ns=1\n", // unknown set
		"fileread files=1 bytes=1 crc=1\nfileread op=walk round=1 entries=5 ns=0\n",                   // zero time
		"fileread files=1 bytes=1 crc=1\nfileread op=readfile set=large round=1 bytes=1\n",            // no ns
	} {
		if _, _, _, err := parseFileread(bad); err == nil {
			t.Errorf("parseFileread(%q): no error", bad)
		}
	}
	// A round that lacks a measurement is caught by complete.
	_, rs, _, err = parseFileread(strings.Replace(filereadOut, "fileread op=walk round=2 entries=5 ns=500\n", "", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.complete(2, fileReadKeys()); err == nil || !strings.Contains(err.Error(), "round 2: no walk") {
		t.Errorf("complete without round 2's walk = %v", err)
	}
}

func TestParseTmpfs(t *testing.T) {
	out := `tmpfs probe files=253 of=1000 err="open /tmp/p/p00253: no space left on device"
tmpfs op=create round=1 files=1000 bytes=4096 ns=2000000
tmpfs op=unlink round=1 files=1000 ns=1000000
tmpfs op=write round=1 reps=20 bytes=2097152 ns=4194304
tmpfs op=read round=1 reps=20 bytes=2097152 ns=2097152
`
	pr, rs, timed, err := parseTmpfs(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (probeResult{253, 1000, "open /tmp/p/p00253: no space left on device"}); pr != want {
		t.Errorf("probe = %+v, want %+v", pr, want)
	}
	if err := rs.complete(1, tmpfsKeys); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"create": 5e5, "unlink": 1e6, "write": 1e10, "read": 2e10}
	if !reflect.DeepEqual(rs[1], want) {
		t.Errorf("rates = %v, want %v", rs[1], want)
	}
	if timed != 9291456 {
		t.Errorf("timed = %v", timed)
	}
	for _, bad := range []string{
		"tmpfs op=chmod round=1 files=1 ns=1\n",
		"tmpfs op=write round=1 bytes=1 ns=1\n",
		"tmpfs probe files=x of=1 err=\"\"\n",
	} {
		if _, _, _, err := parseTmpfs(bad); err == nil {
			t.Errorf("parseTmpfs(%q): no error", bad)
		}
	}
}

func TestMountOf(t *testing.T) {
	mounts := `/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vdb /srv/my\040data xfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
overlay /tmp overlay rw 0 0
`
	for _, tc := range []struct{ path, typ, src, point string }{
		{"/tmp", "overlay", "overlay", "/tmp"}, // mounted over: the last one wins
		{"/tmp/a/b", "overlay", "overlay", "/tmp"},
		{"/tmpx", "ext4", "/dev/vda", "/"},
		{"/dev/shm", "tmpfs", "tmpfs", "/dev/shm"},
		{"/dev", "ext4", "/dev/vda", "/"},
		{"/srv/my data/x", "xfs", "/dev/vdb", "/srv/my data"},
		{"/", "ext4", "/dev/vda", "/"},
	} {
		typ, src, point := mountOf(mounts, tc.path)
		if typ != tc.typ || src != tc.src || point != tc.point {
			t.Errorf("mountOf(%q) = %q, %q, %q; want %q, %q, %q", tc.path, typ, src, point, tc.typ, tc.src, tc.point)
		}
	}
	if typ, _, _ := mountOf("", "/x"); typ != "" {
		t.Errorf("mountOf with no mounts = %q", typ)
	}
}

func TestWriteTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tree, err := writeTree(dir, 10000, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Files != 4 || tree.Bytes != 10300 {
		t.Errorf("tree = %+v, want 4 files, 10300 bytes", tree)
	}
	// The CRC is of the files in WalkDir (lexical) order.
	var all []byte
	for _, name := range []string{"large.bin", "small/f0000", "small/f0001", "small/f0002"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if got := crc32.ChecksumIEEE(all); got != tree.CRC {
		t.Errorf("CRC = %08x, want %08x", tree.CRC, got)
	}
	// Pseudo-random: the small files differ, and the same seed writes
	// the same tree.
	a, _ := os.ReadFile(filepath.Join(dir, "small/f0000"))
	b, _ := os.ReadFile(filepath.Join(dir, "small/f0001"))
	if bytes.Equal(a, b) {
		t.Error("two small files are equal")
	}
	again, err := writeTree(filepath.Join(t.TempDir(), "data"), 10000, 3, 100)
	if err != nil || again != tree {
		t.Errorf("second tree = %+v, %v; want %+v", again, err, tree)
	}
}

func TestRateFormats(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtMBps(3.675e9), "3675 MB/s"},
		{fmtMBps(12.34e6), "12.3 MB/s"},
		{fmtMBps(0), "n/a"},
		{fmtCount(233e3), "233k"},
		{fmtCount(1.19e6), "1.19M"},
		{fmtCount(9612), "9.61k"},
		{fmtCount(12), "12"},
		{fmtSize(16 << 20), "16 MiB"},
		{fmtSize(16 << 10), "16 KiB"},
		{rateUnit("create")(5e5), "500k files/s"},
		{rateUnit("walk")(5e5), "500k entries/s"},
		{rateUnit("readfile/all")(5e8), "500 MB/s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	bq := &fileComp{Name: "brique", Rates: map[string][]float64{"read": {4e9, 2e9, 3e9}}, Walls: []time.Duration{1}}
	nat := &fileComp{Name: "native", Rates: map[string][]float64{"read": {1e9}}, Walls: []time.Duration{1}}
	if got := rateCell(bq, "read"); got != "3000 MB/s (2000 – 4000)" {
		t.Errorf("rateCell = %q", got)
	}
	if got := rateCell(nat, "read"); got != "1000 MB/s" {
		t.Errorf("rateCell of one round = %q", got)
	}
	// Rates: Brique three times as fast is 3×.
	if got := rateRatio(bq, nat, "read"); got != "3.00×" {
		t.Errorf("rateRatio = %q", got)
	}
	if got := rateRatio(bq, &fileComp{Skipped: "no runc"}, "read"); got != "skipped" {
		t.Errorf("rateRatio with a skipped competitor = %q", got)
	}
}

func TestProbeCell(t *testing.T) {
	c := &fileComp{Walls: []time.Duration{1, 1}, Probe: []probeResult{
		{1000, 1000, ""},
		{253, 1000, "open /tmp/x/p00253: no space left on device"},
	}}
	if got := probeCell(c); got != "253 (then: no space left on device)" {
		t.Errorf("probeCell = %q", got)
	}
	c.Probe = c.Probe[:1]
	if got := probeCell(c); got != "1000 (all)" {
		t.Errorf("probeCell = %q", got)
	}
	if got := probeCell(&fileComp{Skipped: "x"}); got != "" {
		t.Errorf("probeCell of a skipped competitor = %q", got)
	}
}

// TestProgramsOutput runs the two files programs natively on a small tree
// and parses what they print: the programs and the harness agree on the
// format. It asserts no timing.
func TestProgramsOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs")
	}
	dir := t.TempDir()
	bin := map[string]string{}
	for _, p := range []string{"fileread", "tmpfs"} {
		bin[p] = filepath.Join(dir, p)
		cmd := exec.Command("go", "build", "-o", bin[p], "brique.dev/brique/bench/programs/"+p)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	tree, err := writeTree(data, 3<<20, 20, 5000)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin["fileread"], "-root", data, "-rounds", "2").Output()
	if err != nil {
		t.Fatalf("fileread: %v", err)
	}
	got, rs, _, err := parseFileread(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if got != tree {
		t.Errorf("fileread saw %+v, the tree is %+v", got, tree)
	}
	if err := rs.complete(2, fileReadKeys()); err != nil {
		t.Errorf("fileread: %v\n%s", err, out)
	}

	work := filepath.Join(dir, "tmp")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin["tmpfs"], "-dir", work, "-rounds", "2", "-files", "30", "-batch", "7", "-reps", "2", "-big", "100000", "-probe", "40").Output()
	if err != nil {
		t.Fatalf("tmpfs: %v", err)
	}
	pr, rs, _, err := parseTmpfs(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if pr != (probeResult{40, 40, ""}) {
		t.Errorf("probe = %+v", pr)
	}
	if err := rs.complete(2, tmpfsKeys); err != nil {
		t.Errorf("tmpfs: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("tmpfs left %d entries in its -dir", len(left))
	}
}
