package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		s := summarize(tc.in)
		if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max || s.N != len(tc.in) {
			t.Errorf("summarize(%v) = %+v, want median %v min %v max %v", tc.in, s, tc.med, tc.min, tc.max)
		}
	}
	if s := summarize(nil); s.N != 0 {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want string
	}{
		{3, 2, "1.50×"}, {25, 2, "12.5×"}, {300, 2, "150×"}, {0, 2, "n/a"}, {2, 0, "n/a"},
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseStats(t *testing.T) {
	for _, line := range []string{
		"brique: exit 0; monitor set-up 2.447ms, total 6.805ms; 3 VM exits; guest allocated 1152 KiB beyond its image\n",
		"some output\nbrique: exit 0; monitor set-up 2.447ms, total 6.805ms; 3 VM exits (0 TLB flushes); guest allocated 1152 KiB beyond its image\n",
	} {
		s, err := parseStats(line)
		if err != nil {
			t.Fatalf("parseStats(%q): %v", line, err)
		}
		if s.Exit != 0 || s.Setup != 2447*time.Microsecond || s.Total != 6805*time.Microsecond || s.Exits != 3 || s.GuestKiB != 1152 {
			t.Errorf("parseStats(%q) = %+v", line, s)
		}
	}
	s, err := parseStats("brique: exit 3; monitor set-up 850µs, total 1.5s; guest allocated 8 KiB beyond its image")
	if err != nil {
		t.Fatal(err)
	}
	if s.Exit != 3 || s.Setup != 850*time.Microsecond || s.Total != 1500*time.Millisecond || s.Exits != -1 || s.GuestKiB != 8 {
		t.Errorf("parseStats without exits = %+v", s)
	}
	for _, bad := range []string{"", "Hello\n", "brique: exit 0; total 1ms; guest allocated 1 KiB"} {
		if _, err := parseStats(bad); err == nil {
			t.Errorf("parseStats(%q) succeeded", bad)
		}
	}
}

func TestParseSyscall(t *testing.T) {
	rs, err := parseSyscall("syscall op=getpid-raw n=1000000 ns/op=157.7\nnoise\nsyscall op=time.Now n=10 ns/op=46\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0] != (syscallResult{"getpid-raw", 1000000, 157.7}) || rs[1] != (syscallResult{"time.Now", 10, 46}) {
		t.Errorf("parseSyscall = %+v", rs)
	}
	if _, err := parseSyscall("nothing"); err == nil {
		t.Error("parseSyscall without result lines succeeded")
	}
}

// TestReport renders a report from made-up numbers: every section must be
// there, and a skipped competitor must say so with its reason.
func TestReport(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x*float64(time.Millisecond)))
		}
		return ds
	}
	r := &report{
		Config: config{BootRuns: 3, Warmup: 1, MemRuns: 2, SyscallN: 10, SyscallRounds: 1, QemuRuns: 2, QemuWarmup: 1,
			DensityMax: 3, DensityRuncMax: 3, DensityBudget: time.Minute, DensityMinFreeMiB: 2048},
		Command: "go run ./bench/cmd/briquebench -smoke",
		Launch: &launcher{Path: "/usr/bin/time", Version: "time (GNU Time) 1.9", TruePath: "/bin/true",
			FloorTrue: []int64{1000, 1100}, FloorExit: []int64{450, 550}},
		Qemu: &qemuEnv{version: "QEMU emulator version 7.2", kernel: "/boot/vmlinuz-6.1.0-9-amd64", memMiB: 128, initrdLen: 1 << 20, kernelLen: 8 << 20},
		Boot: bootResult{
			Native: &competitor{Name: "native", Walls: ms(1, 2, 3), First: ms(0.5, 1, 1.5), MemRuns: 3, RSS: []int64{5000, 5000, 5000}},
			Brique: &competitor{Name: "brique", Walls: ms(10, 12, 14), First: ms(8, 9, 10), MemRuns: 3, RSS: []int64{12000, 12000, 12000}},
			Runc:   &competitor{Name: "runc", Skipped: "runc not found"},
			Qemu:   &competitor{Name: "qemu-tcg", Walls: ms(5000, 6000), First: ms(4500, 5400), MemRuns: 2, RSS: []int64{200000, 210000}, Panics: 2},
			Setup:  ms(2, 2, 2), Total: ms(6, 7, 8), GuestKiB: []int64{1100, 1200, 1300}, Exits: []int64{3, 3, 3},
			Host:       []hostMem{{12000, 6144, 1000, 5500}, {12000, 6144, 1100, 5500}, {12000, 6144, 1200, 5500}},
			HarnessKiB: 8600,
		},
		Mem: memResult{MinMiB: 8, BelowMiB: 6, Below: "not enough guest memory", RSS: []int64{12000}, ImageSize: 1 << 20,
			Host: []hostMem{{11900, 6000, 1000, 5500}}},
		Sizes: []sizeResult{{Program: "hello", Image: 1700 << 10, Native: 1600 << 10, Plain: 1610 << 10}},
		Sys: sysResult{N: 10, Rounds: 1,
			Native: []syscallResult{{"getpid-raw", 10, 150}},
			Brique: []syscallResult{{"getpid-raw", 10, 300}}},
		Density: []*densityResult{
			{Name: "native", Cap: 3, Started: 3, Alive: 3, Stop: "reached the cap of 3", Ready: ms(1, 1, 1), PSS: []int64{1000, 1000, 1000}, RSS: []int64{2000, 2000, 2000}, HasPSS: true, Procs: []int{1, 1, 1}, Termed: 3},
			{Name: "brique", Cap: 3, Started: 3, Alive: 3, Stop: "reached the cap of 3", Ready: ms(7, 8, 9), PSS: []int64{8000, 8000, 8000}, RSS: []int64{12000, 12000, 12000}, HasPSS: true, Procs: []int{1, 1, 1}, Termed: 3,
				AvailBefore: 100000, AvailAfter: 70000, Checked: []string{"the 3 processes"}},
			{Name: "runc", Skipped: "runc not found"},
		},
		WorkRemoved: true,
	}
	r.collectProblems()
	if len(r.Problems) != 0 {
		t.Errorf("problems in a good report: %v", r.Problems)
	}
	md := r.markdown("docs/benchmarks.md")
	for _, want := range []string{
		fullCommand, smokeCommand, "## How to read this", "## Machine", "## Skipped competitors", "## 1. Boot", "## 2. Memory",
		"## 3. Image size", "## 4. System call cost", "## 5. Density", "brique/native 6.00×", "| runc | skipped |",
		"runc not found", "`-m 8M`", "100 KiB", "2.00×", "benchmarks-boot.svg",
		"qemu-tcg/brique 550×; 458×", "qemu-tcg/brique 550×", "TCG", "seen in 2 of 2 timed runs", "density: **runc** skipped: runc not found",
		"brique/native 8.00×", "| brique | 3 | 7.8 MiB |", "9.8 MiB", "3 of 3 tried (cap)", "is gone",
		"GNU time `%M`", "/usr/bin/time -f %M", "reports **1.0 MiB**", "reports **500 KiB**", "(the lowest, 4.9 MiB)",
		"| peak RSS launcher | time (GNU Time) 1.9 (`/usr/bin/time`) |", "| -m 64M (default) | -m 8M (minimum) |",
		"| monitor private: `RssAnon` once the VM is gone (Go heap, stacks, the monitor's own data) | 1.1 MiB | 1000 KiB |",
		"brique/native 2.40×", "8.4 MiB here",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if i := strings.Index(md, "%!"); i >= 0 {
		t.Errorf("formatting error in the report: %q", md[max(0, i-40):min(len(md), i+40)])
	}
	svg := r.bootSVG()
	if !strings.Contains(svg, "runc (skipped)") || !strings.Contains(svg, "qemu-tcg") || !strings.HasSuffix(svg, "</svg>\n") {
		t.Errorf("bad SVG:\n%s", svg)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}

	// Without GNU time the memory figures are labelled as overstated.
	r.Launch = &launcher{Why: "/usr/bin/time not found (install the Debian package time)"}
	md = r.markdown("docs/benchmarks.md")
	for _, want := range []string{"**overstated in this run**", "/usr/bin/time not found", "overstated**: see section 2", "(8.4 MiB when these runs began)", "| peak RSS launcher | none"} {
		if !strings.Contains(md, want) {
			t.Errorf("fallback report lacks %q", want)
		}
	}
	if strings.Contains(md, "launcher's floor") {
		t.Error("fallback report has a launcher floor")
	}
	r.Launch = nil
	if md = r.markdown("-"); !strings.Contains(md, "overstated") {
		t.Error("report without a launcher does not say that its memory figures are overstated")
	}
	if i := strings.Index(md, "%!"); i >= 0 {
		t.Errorf("formatting error in the report: %q", md[max(0, i-40):min(len(md), i+40)])
	}

	r.Boot.Brique.Failures, r.Boot.Brique.Failure = 1, "exit status 1"
	r.Density[1].Leftovers = []string{"process 42 (brique) of instance 0 is still running"}
	r.Problems = nil
	r.collectProblems()
	if len(r.Problems) != 2 || !strings.Contains(r.Problems[0], "brique failed 1 of 4 runs") || !strings.Contains(r.Problems[1], "left something behind") {
		t.Errorf("problems = %v", r.Problems)
	}
}
