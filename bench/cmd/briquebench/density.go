package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The density scenario starts idle instances of bench/programs/sleeper one
// after another, each of which must print "ready", until a cap, a
// wall-clock budget or the host's free memory stops it; it measures their
// memory while all of them run, checks that all of them are still alive,
// tears them down and checks that nothing is left behind.

const (
	readyTimeout = 30 * time.Second // one instance, from clone+exec to "ready"
	termTimeout  = 15 * time.Second // SIGTERM to exit, all instances
	killTimeout  = 10 * time.Second // SIGKILL (and runc delete) to exit
	settle       = 2 * time.Second  // between the last "ready" and the memory readings; the idle CPU is measured over it
)

// densityResult is one competitor's density run.
type densityResult struct {
	Name, How string
	Skipped   string
	Cap       int
	Started   int             // instances that printed ready
	Ready     []time.Duration // per instance, in start order: clone+exec to "ready"
	Ramp      time.Duration   // first start to the last ready
	Stop      string          // why the ramp ended
	Failure   string          // an instance that did not become ready, or died
	Alive     int             // instances verified alive after the memory readings
	Procs     []int           // processes per instance (the started process and its descendants)
	RSS, PSS  []int64         // per instance, summed over its processes, KiB
	HasPSS    bool
	MemErr    string
	// IdleCPU is the CPU time (user + system) the instances used, all
	// together, over IdleWindow (the settle period, as it really lasted).
	IdleCPU, IdleWindow time.Duration
	ProcsSeen           int // processes in the instances' trees, checked after teardown
	// MemAvailable (KiB) before the first start and after the last ready:
	// the drop includes kernel memory no RSS shows (page tables, KVM,
	// namespaces, cgroups), and anything else the machine did meanwhile.
	AvailBefore, AvailAfter int64
	AvailMin                int64 // the lowest reading during the ramp
	Termed, Killed          int   // instances that exited on SIGTERM; that needed SIGKILL
	Teardown                time.Duration
	Leftovers               []string // anything left behind: a failure
	Checked                 []string // what the leftover check looked at
}

// instance is one running sleeper.
type instance struct {
	n     int
	id    string // runc container ID
	proc  *os.Process
	root  procInfo
	tree  []procInfo // at the memory readings
	errf  string     // its stderr file
	ready chan bool  // true: printed "ready"; false: stdout closed first
	done  chan struct{}
	state *os.ProcessState
	werr  error
}

func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

func (in *instance) stderr() string {
	b, _ := os.ReadFile(in.errf)
	return oneLine(string(b))
}

// densitySpec is how one competitor starts an instance.
type densitySpec struct {
	name, how string
	cap       int
	argv      func() (argv []string, id string)
	// sleeping reports whether the instance's sleeper itself is among its
	// processes (for runc the started process is runc, the sleeper is a
	// descendant); nil: the started process is enough.
	sleeping func(tree []procInfo) bool
	kill     func(ids []string) // extra clean-up after SIGKILL (runc delete)
	listLeft func() []string    // leftovers of the competitor's own bookkeeping
	cgroups  string             // a name prefix of cgroups the competitor creates
}

// densityScenario runs every competitor's density ramp, one after another.
func densityScenario(cfg config, work string, a *artifacts, rc *runcEnv, runcSkip string) []*densityResult {
	sleepFor := cfg.DensityBudget + 2*time.Minute // instances go away by themselves even if the harness dies
	sleepArgs := []string{"-d", sleepFor.String()}
	specs := []densitySpec{
		{name: "native", cap: cfg.DensityMax,
			how: fmt.Sprintf("the static sleeper binary, exec'd directly (`sleeper -d %v`)", sleepFor),
			argv: func() ([]string, string) {
				return append([]string{a.native["sleeper"]}, sleepArgs...), ""
			}},
		{name: "brique", cap: cfg.DensityMax,
			how: fmt.Sprintf("`brique run -m %s sleeper.img -- -d %v`", cfg.DensityMem, sleepFor),
			argv: func() ([]string, string) {
				return append([]string{a.brique, "run", "-m", cfg.DensityMem, a.images["sleeper"], "--"}, sleepArgs...), ""
			}},
		{name: "runc", cap: cfg.DensityRuncMax,
			how: fmt.Sprintf("`runc run --bundle DIR ID`, rootfs = the static sleeper binary only (`/sleeper -d %v`), one container per instance", sleepFor)},
	}
	var out []*densityResult
	for _, s := range specs {
		d := &densityResult{Name: s.name, How: s.how, Cap: s.cap}
		out = append(out, d)
		if s.name == "runc" {
			if rc == nil {
				d.Skipped = runcSkip
				continue
			}
			bundle := filepath.Join(work, "bundle-sleeper")
			if err := rc.writeBundle(bundle, a.native["sleeper"], sleepArgs...); err != nil {
				d.Skipped = "writing the sleeper bundle: " + err.Error()
				continue
			}
			s.argv = func() ([]string, string) { return rc.argvBundle(bundle) }
			s.sleeping = func(t []procInfo) bool {
				for _, p := range t[1:] {
					if p.Comm == "sleeper" {
						return true
					}
				}
				return false
			}
			s.kill = func(ids []string) {
				for _, id := range ids {
					rc.remove(id)
				}
			}
			s.listLeft = rc.leftovers
			s.cgroups = rc.prefix
		}
		logf("scenario 5: density, %s (up to %d instances, %v)", s.name, s.cap, cfg.DensityBudget)
		density(cfg, work, s, d)
		logf("density %s: %d instances ready (%s); %d alive; %d left behind", s.name, d.Started, d.Stop, d.Alive, len(d.Leftovers))
	}
	return out
}

// density ramps one competitor up, measures, and tears it down.
func density(cfg config, work string, s densitySpec, d *densityResult) {
	dir := filepath.Join(work, "density-"+s.name)
	tmp := filepath.Join(dir, "tmp") // TMPDIR of the instances: must stay empty
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		d.Skipped = err.Error()
		return
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		d.Skipped = err.Error()
		return
	}
	defer devnull.Close()
	env := append(os.Environ(), "TMPDIR="+tmp)

	var insts []*instance
	floor := cfg.DensityMinFreeMiB * 1024
	d.AvailBefore, _ = meminfoKiB("MemAvailable")
	d.AvailMin = d.AvailBefore
	began := time.Now()
	for {
		if len(insts) >= s.cap {
			d.Stop = fmt.Sprintf("reached the cap of %d", s.cap)
			break
		}
		if el := time.Since(began); el > cfg.DensityBudget {
			d.Stop = fmt.Sprintf("the %v budget ran out", cfg.DensityBudget)
			break
		}
		avail, err := meminfoKiB("MemAvailable")
		if err != nil {
			d.Stop = err.Error()
			break
		}
		d.AvailMin = min(d.AvailMin, avail)
		if avail < floor {
			d.Stop = fmt.Sprintf("MemAvailable fell to %s, below the %s floor", fmtKiB(float64(avail)), fmtKiB(float64(floor)))
			break
		}
		argv, id := s.argv()
		in, took, err := startInstance(len(insts), argv, id, dir, env, devnull)
		if in != nil {
			insts = append(insts, in)
		}
		if err != nil {
			d.Failure = err.Error()
			d.Stop = fmt.Sprintf("instance %d did not become ready", len(insts))
			break
		}
		d.Ready = append(d.Ready, took)
	}
	d.Started = len(d.Ready)
	d.Ramp = time.Since(began)

	// Idle CPU and memory, with every instance running.
	cpuOf := func(procs map[int]procInfo) (sum uint64) {
		for _, in := range insts[:d.Started] {
			for _, p := range tree(in.proc.Pid, procs) {
				sum += p.CPU
			}
		}
		return sum
	}
	cpu0 := cpuOf(allProcs())
	t0 := time.Now()
	time.Sleep(settle)
	procs := allProcs()
	d.IdleWindow = time.Since(t0) // longer than settle on a saturated machine
	if c := cpuOf(procs); c >= cpu0 {
		d.IdleCPU = time.Duration(c-cpu0) * clockTick
	}
	for _, in := range insts {
		in.tree = tree(in.proc.Pid, procs)
		if len(in.tree) > 0 {
			in.root = in.tree[0]
		}
	}
	if d.Started > 0 {
		d.HasPSS = true
		for _, in := range insts[:d.Started] {
			var rss, pss int64
			for _, p := range in.tree {
				m, err := processMem(p.PID)
				if err != nil {
					if d.MemErr == "" {
						d.MemErr = err.Error()
					}
					continue
				}
				rss += m.RSS
				pss += m.PSS
				d.HasPSS = d.HasPSS && m.HasPSS
			}
			d.RSS = append(d.RSS, rss)
			d.PSS = append(d.PSS, pss)
			d.Procs = append(d.Procs, len(in.tree))
		}
		d.AvailAfter, _ = meminfoKiB("MemAvailable")
	}

	// Are they all still there?
	for _, in := range insts[:d.Started] {
		ok := !in.exited() && len(in.tree) > 0 && alive(in.root)
		if ok && s.sleeping != nil {
			ok = s.sleeping(in.tree)
		}
		if ok {
			d.Alive++
		} else if d.Failure == "" {
			d.Failure = fmt.Sprintf("instance %d (pid %d) was no longer running when checked: %s", in.n, in.proc.Pid, in.stderr())
		}
	}

	teardown(s, d, insts)
	leftovers(s, d, insts, work, tmp)
	if err := os.RemoveAll(dir); err != nil {
		d.Leftovers = append(d.Leftovers, "removing "+dir+": "+err.Error())
	}
}

// startInstance starts argv with stdout on a pipe and waits for its
// "ready" line. The instance is returned whenever the process started, so
// that it is torn down like the others.
func startInstance(n int, argv []string, id, dir string, env []string, devnull *os.File) (*instance, time.Duration, error) {
	in := &instance{n: n, id: id, errf: filepath.Join(dir, fmt.Sprintf("stderr-%d", n)),
		ready: make(chan bool, 1), done: make(chan struct{})}
	errf, err := os.Create(in.errf)
	if err != nil {
		return nil, 0, err
	}
	defer errf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: dir, Env: env, Files: []*os.File{devnull, pw, errf}})
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	in.proc = p
	go func() {
		in.state, in.werr = p.Wait()
		close(in.done)
	}()
	go func() {
		// Reads until the instance closes its stdout (exits), so that it
		// can never block on a full pipe.
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		said := false
		for sc.Scan() {
			if !said && strings.TrimSpace(sc.Text()) == "ready" {
				in.ready <- true
				said = true
			}
		}
		if !said {
			in.ready <- false
		}
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case ok := <-in.ready:
		took := time.Since(start)
		if !ok {
			<-in.done
			return in, 0, fmt.Errorf("instance %d exited without printing ready (%v): %s", n, in.state, in.stderr())
		}
		return in, took, nil
	case <-timer.C:
		return in, 0, fmt.Errorf("instance %d: no ready line after %v: %s", n, readyTimeout, in.stderr())
	}
}

// teardown sends SIGTERM to every instance, then SIGKILL to those still
// running after termTimeout.
func teardown(s densitySpec, d *densityResult, insts []*instance) {
	began := time.Now()
	for _, in := range insts {
		in.proc.Signal(syscall.SIGTERM)
	}
	deadline := time.After(termTimeout)
	waitAll := func(deadline <-chan time.Time) {
		for _, in := range insts {
			select {
			case <-in.done:
			case <-deadline:
				return
			}
		}
	}
	waitAll(deadline)
	var ids []string
	for _, in := range insts {
		if in.exited() {
			d.Termed++
			continue
		}
		d.Killed++
		in.proc.Kill()
		if in.id != "" {
			ids = append(ids, in.id)
		}
	}
	if s.kill != nil && d.Killed > 0 {
		s.kill(ids)
	}
	waitAll(time.After(killTimeout))
	d.Teardown = time.Since(began)
}

// leftovers checks that the instances left nothing behind: no process
// (of any instance's tree, or anything whose command line names the work
// directory), none of the competitor's own records (runc's containers), no
// cgroup, no file in the instances' TMPDIR.
func leftovers(s densitySpec, d *densityResult, insts []*instance, work, tmp string) {
	add := func(format string, args ...any) { d.Leftovers = append(d.Leftovers, fmt.Sprintf(format, args...)) }
	for _, in := range insts {
		if !in.exited() {
			add("instance %d (pid %d) did not exit even after SIGKILL", in.n, in.proc.Pid)
		}
		for _, p := range in.tree {
			d.ProcsSeen++
			if alive(p) {
				add("process %d (%s) of instance %d is still running", p.PID, p.Comm, in.n)
			}
		}
	}
	d.Checked = append(d.Checked, "every process seen in the instances' process trees (by PID and start time)")

	self := os.Getpid()
	for pid, p := range allProcs() {
		if pid == self {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), work) && alive(p) {
			add("process %d (%s) still runs from the work directory: %s", pid, p.Comm, oneLine(strings.ReplaceAll(string(b), "\x00", " ")))
		}
	}
	d.Checked = append(d.Checked, "every process whose command line names the harness's work directory")

	if s.listLeft != nil {
		if ids := s.listLeft(); len(ids) > 0 {
			add("%d containers were still known to runc (deleted now): %s", len(ids), strings.Join(ids, " "))
		}
		d.Checked = append(d.Checked, "`runc list` on the harness's private --root")
	}
	if s.cgroups != "" {
		if cgs := findCgroups("/sys/fs/cgroup", s.cgroups); len(cgs) > 0 {
			add("%d cgroups left: %s", len(cgs), clip(strings.Join(cgs, " "), 500))
		}
		d.Checked = append(d.Checked, "cgroups named after the containers under /sys/fs/cgroup")
	}

	ents, err := os.ReadDir(tmp)
	if err != nil {
		add("reading the instances' TMPDIR: %v", err)
	}
	for _, e := range ents {
		add("temporary file left in the instances' TMPDIR: %s", e.Name())
	}
	d.Checked = append(d.Checked, "the instances' TMPDIR (empty)")
}

// findCgroups lists directories under root whose name starts with prefix.
// The walk skips the contents of matches and stays within a few levels:
// runc puts a container's cgroup directly under the caller's.
func findCgroups(root, prefix string) []string {
	var found []string
	base := strings.Count(root, "/")
	filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		if strings.HasPrefix(e.Name(), prefix) {
			found = append(found, path)
			return fs.SkipDir
		}
		if strings.Count(path, "/")-base >= 6 {
			return fs.SkipDir
		}
		return nil
	})
	sort.Strings(found)
	return found
}

// densityByName finds a competitor's result.
func densityByName(ds []*densityResult, name string) *densityResult {
	for _, d := range ds {
		if d.Name == name {
			return d
		}
	}
	return &densityResult{Name: name, Skipped: "not run"}
}

// perInstance is a per-instance memory figure for the report: the median
// over instances of the sum over each instance's processes.
func (d *densityResult) perInstance(xs []int64) summary { return summarize(ints(xs)) }

// idleShare is IdleCPU as a share of one CPU (1 = one CPU busy).
func (d *densityResult) idleShare() float64 {
	if d.IdleWindow <= 0 {
		return 0
	}
	return float64(d.IdleCPU) / float64(d.IdleWindow)
}

// availDrop is the MemAvailable drop per running instance, KiB.
func (d *densityResult) availDrop() float64 {
	if d.Started == 0 || d.AvailBefore == 0 || d.AvailAfter == 0 {
		return 0
	}
	return float64(d.AvailBefore-d.AvailAfter) / float64(d.Started)
}

// readyAt returns the start-to-ready time of the first, the middle and the
// last instance (how start-up cost grows with the number already running).
func (d *densityResult) readyAt() (first, mid, last time.Duration) {
	if len(d.Ready) == 0 {
		return 0, 0, 0
	}
	return d.Ready[0], d.Ready[len(d.Ready)/2], d.Ready[len(d.Ready)-1]
}
