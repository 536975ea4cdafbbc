package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// helloOut is what examples/hello prints.
const helloOut = "Hello from a Brique unikernel!\n"

// competitor is one way of running hello in the boot scenario.
type competitor struct {
	Name     string // native, brique, runc
	How      string // what was run, for the report
	Skipped  string // why it could not run at all (competitors only)
	Required bool   // brique and native: failing is a harness failure
	Walls    []time.Duration
	RSS      []int64 // ru_maxrss, KiB
	Failures int
	Failure  string // the first failure

	next func() (argv []string, after func())
}

type bootResult struct {
	Native, Brique, Runc *competitor
	// From brique's --stats line, one per successful run.
	Setup, Total []time.Duration
	GuestKiB     []int64
	Exits        []int64
	StatsErr     string
}

func (b *bootResult) all() []*competitor { return []*competitor{b.Brique, b.Native, b.Runc} }

func nop() {}

// bootScenario times whole processes: from clone+exec to wait returning.
// The competitors run interleaved (round-robin, rotating which goes first)
// so that drift on a shared machine hits all of them alike.
func bootScenario(r *runner, cfg config, a *artifacts, rc *runcEnv, runcSkip string) bootResult {
	b := bootResult{
		Native: &competitor{Name: "native", Required: true,
			How:  "the static hello binary, exec'd directly",
			next: func() ([]string, func()) { return []string{a.native["hello"]}, nop }},
		Brique: &competitor{Name: "brique", Required: true,
			How:  "`brique run --stats hello.img` (default -m 64M; image prebuilt)",
			next: func() ([]string, func()) { return []string{a.brique, "run", "--stats", a.images["hello"]}, nop }},
		Runc: &competitor{Name: "runc",
			How: "`runc run --bundle DIR ID`, rootfs = the static hello binary only; `runc delete --force ID` after each run (not timed)"},
	}
	if rc == nil {
		b.Runc.Skipped = runcSkip
	} else {
		b.Runc.next = func() ([]string, func()) {
			argv, id := rc.argv()
			return argv, func() { rc.remove(id) }
		}
	}

	var active []*competitor
	for _, c := range b.all() {
		if c.Skipped != "" {
			continue
		}
		// The first run is a probe: a competitor that cannot run at all
		// is skipped (runc) or a failure (brique, native).
		for w := 0; w < cfg.Warmup; w++ {
			argv, after := c.next()
			res := r.run(argv)
			after()
			if !res.ok(helloOut) {
				c.Skipped = res.describe(helloOut)
				break
			}
		}
		if c.Skipped == "" {
			active = append(active, c)
		}
	}
	for i := 0; i < cfg.BootRuns; i++ {
		for j := range active {
			c := active[(i+j)%len(active)]
			argv, after := c.next()
			res := r.run(argv)
			after()
			if !res.ok(helloOut) {
				c.Failures++
				if c.Failure == "" {
					c.Failure = res.describe(helloOut)
				}
				continue
			}
			c.Walls = append(c.Walls, res.Wall)
			c.RSS = append(c.RSS, res.MaxRSS)
			if c == b.Brique {
				st, err := parseStats(res.Stderr)
				if err != nil {
					b.StatsErr = err.Error()
					continue
				}
				b.Setup = append(b.Setup, st.Setup)
				b.Total = append(b.Total, st.Total)
				b.GuestKiB = append(b.GuestKiB, st.GuestKiB)
				if st.Exits >= 0 {
					b.Exits = append(b.Exits, st.Exits)
				}
			}
		}
	}
	return b
}

type memResult struct {
	MinMiB    int    // smallest -m (2 MiB steps) at which hello booted every time; 0 if none
	Below     string // what brique said at the largest size that failed
	BelowMiB  int
	Flaky     []string // sizes that booted only sometimes
	RSS       []int64  // ru_maxrss of brique at MinMiB
	GuestKiB  []int64  // --stats guest allocation at MinMiB
	Err       string
	ImageSize int64
}

// memScenario searches the smallest -m, upward in 2 MiB steps, at which
// hello boots and prints correctly in every one of cfg.MemRuns runs.
func memScenario(r *runner, cfg config, a *artifacts) memResult {
	var m memResult
	if st, err := os.Stat(a.images["hello"]); err == nil {
		m.ImageSize = st.Size()
	}
	for mib := 2; mib <= cfg.MaxMiB; mib += 2 {
		argv := []string{a.brique, "run", "--stats", "-m", strconv.Itoa(mib) + "M", a.images["hello"]}
		var rss, guest []int64
		fails, why := 0, ""
		for i := 0; i < cfg.MemRuns; i++ {
			res := r.run(argv)
			if !res.ok(helloOut) {
				fails++
				why = res.describe(helloOut)
				if len(rss) == 0 {
					break // fails outright: no need to repeat
				}
				continue
			}
			rss = append(rss, res.MaxRSS)
			if st, err := parseStats(res.Stderr); err == nil {
				guest = append(guest, st.GuestKiB)
			}
		}
		if fails == 0 {
			m.MinMiB, m.RSS, m.GuestKiB = mib, rss, guest
			return m
		}
		if len(rss) > 0 {
			m.Flaky = append(m.Flaky, fmt.Sprintf("-m %dM booted %d of %d times (%s)", mib, len(rss), len(rss)+fails, why))
		}
		m.Below, m.BelowMiB = why, mib
	}
	m.Err = fmt.Sprintf("hello did not boot reliably with any -m up to %dM: %s", cfg.MaxMiB, m.Below)
	return m
}

type sizeResult struct {
	Program              string
	Image, Native, Plain int64
	Err                  string
}

func sizeScenario(a *artifacts) []sizeResult {
	var rs []sizeResult
	for _, p := range []string{"hello", "goroutines"} {
		s := sizeResult{Program: p}
		for _, f := range []struct {
			path string
			dst  *int64
		}{{a.images[p], &s.Image}, {a.native[p], &s.Native}, {a.plain[p], &s.Plain}} {
			if f.path == "" {
				continue // not built
			}
			st, err := os.Stat(f.path)
			if err != nil {
				s.Err = err.Error()
				break
			}
			*f.dst = st.Size()
		}
		rs = append(rs, s)
	}
	return rs
}

type sysResult struct {
	N, Rounds              int
	Native, Brique         []syscallResult
	NativeErr, BriqueErr   string
	NativeWall, BriqueWall time.Duration
}

// syscallScenario runs bench/programs/syscall natively and as a unikernel.
func syscallScenario(r *runner, cfg config, a *artifacts) sysResult {
	s := sysResult{N: cfg.SyscallN, Rounds: cfg.SyscallRounds}
	args := []string{"-n", strconv.Itoa(cfg.SyscallN), "-rounds", strconv.Itoa(cfg.SyscallRounds)}
	native := append([]string{a.native["syscall"]}, args...)
	guest := append([]string{a.brique, "run", a.images["syscall"], "--"}, args...)

	res := r.run(native)
	s.NativeWall = res.Wall
	if res.Err != nil || res.TimedOut || res.Exit != 0 {
		s.NativeErr = res.describe("")
	} else if rs, err := parseSyscall(res.Stdout); err != nil {
		s.NativeErr = err.Error()
	} else {
		s.Native = rs
	}
	res = r.run(guest)
	s.BriqueWall = res.Wall
	if res.Err != nil || res.TimedOut || res.Exit != 0 {
		s.BriqueErr = res.describe("")
	} else if rs, err := parseSyscall(res.Stdout); err != nil {
		s.BriqueErr = err.Error()
	} else {
		s.Brique = rs
	}
	return s
}
