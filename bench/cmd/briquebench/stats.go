package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// summary is the median, minimum and maximum of a sample.
type summary struct {
	N                int
	Median, Min, Max float64
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{N: len(s), Median: m, Min: s[0], Max: s[len(s)-1]}
}

func durations(ds []time.Duration) []float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return xs
}

func ints(vs []int64) []float64 {
	xs := make([]float64, len(vs))
	for i, v := range vs {
		xs[i] = float64(v)
	}
	return xs
}

// ratio formats a/b as "12.3×", or "n/a" when either side is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	r := a / b
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// fmtDur formats nanoseconds for a table: 3 significant digits.
func fmtDur(ns float64) string {
	switch {
	case ns <= 0:
		return "n/a"
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

// fmtKiB formats a KiB count as MiB with one decimal, or KiB when small.
func fmtKiB(k float64) string {
	switch {
	case k <= 0:
		return "n/a"
	case k >= 1024:
		return fmt.Sprintf("%.1f MiB", k/1024)
	}
	return fmt.Sprintf("%.0f KiB", k)
}

// briqueStats is what `brique run --stats` prints on stderr:
//
//	brique: exit 0; monitor set-up 2.447ms, total 6.805ms; 3 VM exits; guest allocated 1152 KiB beyond its image
type briqueStats struct {
	Exit     int
	Setup    time.Duration // monitor.Run start to the first guest instruction
	Total    time.Duration // monitor.Run start to the guest's exit
	Exits    int64         // -1 if brique did not say
	GuestKiB int64         // guest memory allocated beyond the image
}

// The --stats line is matched field by field so that brique may add
// fields (it has: "3 VM exits (0 TLB flushes)") without breaking the harness.
var (
	statsLineRE  = regexp.MustCompile(`(?m)^brique: exit (-?\d+);.*$`)
	statsSetupRE = regexp.MustCompile(`monitor set-up ([0-9.]+[a-zµ]+)`)
	statsTotalRE = regexp.MustCompile(`total ([0-9.]+[a-zµ]+)`)
	statsExitsRE = regexp.MustCompile(`(\d+) VM exits`)
	statsGuestRE = regexp.MustCompile(`guest allocated (\d+) KiB`)
)

// parseStats finds the --stats line in brique's stderr. Set-up, total and
// guest allocation are required; the VM exit count is optional.
func parseStats(stderr string) (briqueStats, error) {
	var s briqueStats
	m := statsLineRE.FindStringSubmatch(stderr)
	if m == nil {
		return s, fmt.Errorf("no --stats line in brique's stderr %q", clip(stderr, 300))
	}
	line := m[0]
	var err error
	if s.Exit, err = strconv.Atoi(m[1]); err != nil {
		return s, err
	}
	field := func(re *regexp.Regexp, what string) (string, error) {
		f := re.FindStringSubmatch(line)
		if f == nil {
			return "", fmt.Errorf("no %s in brique's --stats line %q", what, line)
		}
		return f[1], nil
	}
	v, err := field(statsSetupRE, "monitor set-up")
	if err != nil {
		return s, err
	}
	if s.Setup, err = time.ParseDuration(v); err != nil {
		return s, fmt.Errorf("monitor set-up %q: %w", v, err)
	}
	if v, err = field(statsTotalRE, "total"); err != nil {
		return s, err
	}
	if s.Total, err = time.ParseDuration(v); err != nil {
		return s, fmt.Errorf("total %q: %w", v, err)
	}
	if v, err = field(statsGuestRE, "guest allocation"); err != nil {
		return s, err
	}
	if s.GuestKiB, err = strconv.ParseInt(v, 10, 64); err != nil {
		return s, err
	}
	s.Exits = -1
	if v, err := field(statsExitsRE, "VM exits"); err == nil {
		s.Exits, _ = strconv.ParseInt(v, 10, 64)
	}
	return s, nil
}

// syscallResult is one line of bench/programs/syscall:
//
//	syscall op=getpid-raw n=1000000 ns/op=157.7
type syscallResult struct {
	Op      string
	N       int
	NsPerOp float64
}

var syscallRE = regexp.MustCompile(`^syscall op=(\S+) n=(\d+) ns/op=([0-9.]+)$`)

// parseSyscall reads every result line of the syscall program's output.
func parseSyscall(stdout string) ([]syscallResult, error) {
	var rs []syscallResult
	for _, line := range strings.Split(stdout, "\n") {
		m := syscallRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, err
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, err
		}
		rs = append(rs, syscallResult{Op: m[1], N: n, NsPerOp: ns})
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no result lines in %q", clip(stdout, 300))
	}
	return rs, nil
}

// hostMem is the host memory line of `brique run --stats`, in KiB:
//
//	brique: host memory: peak RSS 12576 KiB = guest RAM 6144 KiB + monitor private 1096 KiB + shared file pages (brique binary, image) 5584 KiB
//
// Peak is brique's own getrusage ru_maxrss; guest RAM is the guest memory
// backed by host pages at the guest's exit (mincore); monitor private and
// shared file pages are RssAnon and RssFile from /proc/self/status after
// the VM is gone.
type hostMem struct{ Peak, Guest, Private, Shared int64 }

var hostMemRE = regexp.MustCompile(`(?m)^brique: host memory: peak RSS (\d+) KiB = guest RAM (\d+) KiB \+ monitor private (\d+) KiB \+ shared file pages[^0-9]*(\d+) KiB`)

// parseHostMem finds the host memory line in brique's stderr.
func parseHostMem(stderr string) (hostMem, error) {
	m := hostMemRE.FindStringSubmatch(stderr)
	if m == nil {
		return hostMem{}, fmt.Errorf("no host memory line in brique's --stats output %q", clip(stderr, 400))
	}
	var v [4]int64
	for i := range v {
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil {
			return hostMem{}, err
		}
		v[i] = n
	}
	return hostMem{Peak: v[0], Guest: v[1], Private: v[2], Shared: v[3]}, nil
}
