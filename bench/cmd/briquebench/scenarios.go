package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// helloOut is what examples/hello prints.
const helloOut = "Hello from a Brique unikernel!\n"

// competitor is one way of running hello in the boot scenario.
type competitor struct {
	Name     string // native, brique, runc, qemu-tcg
	How      string // what was run, for the report
	Skipped  string // why it could not run at all (competitors only)
	Required bool   // brique and native: failing is a harness failure
	Runs     int    // timed runs; 0: cfg.BootRuns
	Warmup   int    // untimed runs; -1: cfg.Warmup
	Walls    []time.Duration
	First    []time.Duration // to the first line of hello's output
	Failures int
	Failure  string // the first failure

	// Memory runs, separate from the timed ones (runner.runMem).
	MemRuns     int
	RSS         []int64 // peak RSS of the whole process, KiB
	MemFailures int
	MemFailure  string
	Panics      int // qemu: runs whose console showed the kernel's panic at init's exit

	next  func() (argv []string, after func())
	check func(runResult) string // "" if the run is good; default: exit 0 and exactly helloOut
}

func (c *competitor) verdict(res runResult) string {
	if c.check != nil {
		return c.check(res)
	}
	if res.ok(helloOut) {
		return ""
	}
	return res.describe(helloOut)
}

type bootResult struct {
	Native, Brique, Runc, Qemu *competitor
	// From brique's --stats line, one per successful run.
	Setup, Total []time.Duration
	GuestKiB     []int64
	Exits        []int64
	StatsErr     string
	// From brique's --stats host memory line, one per memory run.
	Host    []hostMem
	HostErr string
	// The harness's own ru_maxrss when the memory runs began: what a
	// child it starts directly inherits (see launcher.go).
	HarnessKiB int64
}

// all lists the competitors in report order.
func (b *bootResult) all() []*competitor {
	return []*competitor{b.Native, b.Brique, b.Runc, b.Qemu}
}

func nop() {}

// bootScenario times whole processes, from clone+exec to wait returning,
// and the arrival of hello's line on their stdout. The competitors run
// interleaved (round-robin, rotating which goes first) so that drift on a
// shared machine hits all of them alike; QEMU, a thousand times slower,
// takes part only in the first cfg.QemuRuns rounds.
func bootScenario(r *runner, cfg config, a *artifacts, rc *runcEnv, runcSkip string, qe *qemuEnv, qemuSkip string) bootResult {
	b := bootResult{
		Native: &competitor{Name: "native", Required: true, Warmup: -1,
			How:  "the static hello binary, exec'd directly",
			next: func() ([]string, func()) { return []string{a.native["hello"]}, nop }},
		Brique: &competitor{Name: "brique", Required: true, Warmup: -1,
			How:  "`brique run --stats hello.img` (default -m 64M; image prebuilt)",
			next: func() ([]string, func()) { return []string{a.brique, "run", "--stats", a.images["hello"]}, nop }},
		Runc: &competitor{Name: "runc", Warmup: -1,
			How: "`runc run --bundle DIR ID`, rootfs = the static hello binary only; `runc delete --force ID` after each run (not timed)"},
		Qemu: &competitor{Name: "qemu-tcg", Runs: cfg.QemuRuns, Warmup: cfg.QemuWarmup,
			How:   "Linux VM: QEMU (TCG) boots the Debian kernel with an initramfs whose /init is the static hello binary",
			check: qemuCheck},
	}
	if rc == nil {
		b.Runc.Skipped = runcSkip
	} else {
		b.Runc.next = func() ([]string, func()) {
			argv, id := rc.argv()
			return argv, func() { rc.remove(id) }
		}
	}
	if qe == nil {
		b.Qemu.Skipped = qemuSkip
	} else {
		b.Qemu.How = "Linux VM: " + qe.how() + ", initramfs = /dev/console and /init = the static hello binary"
		b.Qemu.next = func() ([]string, func()) { return qe.argv(), nop }
	}

	first := strings.TrimSpace(helloOut)
	var active []*competitor
	for _, c := range b.all() {
		if c.Skipped != "" {
			continue
		}
		if c.Runs <= 0 {
			c.Runs = cfg.BootRuns
		}
		if c.Warmup < 0 {
			c.Warmup = cfg.Warmup
		}
		// The first run is a probe: a competitor that cannot run at all
		// is skipped (runc, qemu) or a failure (brique, native).
		for w := 0; w < c.Warmup; w++ {
			argv, after := c.next()
			res := r.runFirst(argv, first)
			after()
			if why := c.verdict(res); why != "" {
				c.Skipped = why
				break
			}
		}
		if c.Skipped == "" {
			active = append(active, c)
		}
	}
	rounds := 0
	for _, c := range active {
		rounds = max(rounds, c.Runs)
	}
	for i := 0; i < rounds; i++ {
		var now []*competitor
		for _, c := range active {
			if i < c.Runs {
				now = append(now, c)
			}
		}
		for j := range now {
			c := now[(i+j)%len(now)]
			argv, after := c.next()
			res := r.runFirst(argv, first)
			after()
			if c == b.Qemu && panicked(res.Stdout) {
				c.Panics++
			}
			if why := c.verdict(res); why != "" {
				c.Failures++
				if c.Failure == "" {
					c.Failure = why
				}
				continue
			}
			c.Walls = append(c.Walls, res.Wall)
			c.First = append(c.First, res.FirstOut)
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

	// Peak memory: separate runs through the launcher (runMem), which
	// adds a fork and an exec of its own and so stays out of the timed
	// runs; interleaved the same way. The Linux VM takes part in at most
	// as many rounds as it was timed in.
	b.HarnessKiB = selfMaxRSS()
	memRounds := 0
	for _, c := range active {
		c.MemRuns = cfg.MemRuns
		if c == b.Qemu {
			c.MemRuns = min(cfg.MemRuns, c.Runs)
		}
		memRounds = max(memRounds, c.MemRuns)
	}
	for i := 0; i < memRounds; i++ {
		var now []*competitor
		for _, c := range active {
			if i < c.MemRuns {
				now = append(now, c)
			}
		}
		for j := range now {
			c := now[(i+j)%len(now)]
			argv, after := c.next()
			res := r.runMem(argv)
			after()
			if why := c.verdict(res); why != "" {
				c.MemFailures++
				if c.MemFailure == "" {
					c.MemFailure = why
				}
				continue
			}
			c.RSS = append(c.RSS, res.MaxRSS)
			if c == b.Brique {
				h, err := parseHostMem(res.Stderr)
				if err != nil {
					b.HostErr = err.Error()
					continue
				}
				b.Host = append(b.Host, h)
			}
		}
	}
	return b
}

type memResult struct {
	MinMiB    int    // smallest -m (2 MiB steps) at which hello booted every time; 0 if none
	Below     string // what brique said at the largest size that failed
	BelowMiB  int
	Flaky     []string  // sizes that booted only sometimes
	RSS       []int64   // peak RSS of brique at MinMiB (runMem)
	GuestKiB  []int64   // --stats guest allocation at MinMiB
	Host      []hostMem // --stats host memory at MinMiB
	Err       string
	ImageSize int64
}

// memScenario searches the smallest -m, upward in 2 MiB steps, at which
// hello boots and prints correctly in every one of cfg.MemRuns runs. The
// runs go through runMem: nothing here is timed.
func memScenario(r *runner, cfg config, a *artifacts) memResult {
	var m memResult
	if st, err := os.Stat(a.images["hello"]); err == nil {
		m.ImageSize = st.Size()
	}
	for mib := 2; mib <= cfg.MaxMiB; mib += 2 {
		argv := []string{a.brique, "run", "--stats", "-m", strconv.Itoa(mib) + "M", a.images["hello"]}
		var rss, guest []int64
		var host []hostMem
		fails, why := 0, ""
		for i := 0; i < cfg.MemRuns; i++ {
			res := r.runMem(argv)
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
			if h, err := parseHostMem(res.Stderr); err == nil {
				host = append(host, h)
			}
		}
		if fails == 0 {
			m.MinMiB, m.RSS, m.GuestKiB, m.Host = mib, rss, guest, host
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
	for _, p := range []string{"hello", "goroutines", "httpserver"} {
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
