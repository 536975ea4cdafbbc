package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// report is everything one harness run measured.
type report struct {
	Config   config
	Command  string
	Machine  machine
	RuncSkip string
	QemuSkip string
	Qemu     *qemuEnv  // nil if skipped
	Launch   *launcher // how peak RSS was measured
	Boot     bootResult
	Mem      memResult
	Sizes    []sizeResult
	Sys      sysResult
	Density  []*densityResult
	Files    *filesResult
	Net      *netResult
	Vol      *volResult
	Problems []string // failures of brique or the native baseline, leftovers: exit status 1
	Elapsed  time.Duration
	// WorkRemoved: the harness's temporary directory was removed before
	// the report was written.
	WorkRemoved bool
}

const (
	fullCommand  = "go run ./bench/cmd/briquebench -out docs/benchmarks.md"
	smokeCommand = "go run ./bench/cmd/briquebench -smoke"
)

// collectProblems lists what makes the run a failure: brique or the native
// baseline not working, and anything a density or network run left behind. A
// competitor that cannot run is a skip, not a failure.
func (r *report) collectProblems() {
	if r.Config.ran("boot") {
		r.bootProblems()
	}
	for _, d := range r.Density {
		required := d.Name == "brique" || d.Name == "native"
		switch {
		case d.Skipped != "" && required:
			r.Problems = append(r.Problems, fmt.Sprintf("density: %s could not run: %s", d.Name, d.Skipped))
		case d.Skipped == "" && required && d.Failure != "":
			r.Problems = append(r.Problems, fmt.Sprintf("density: %s: %s", d.Name, d.Failure))
		case d.Skipped == "" && required && d.Started == 0:
			r.Problems = append(r.Problems, fmt.Sprintf("density: %s: no instance started (%s)", d.Name, d.Stop))
		}
		for _, l := range d.Leftovers {
			r.Problems = append(r.Problems, fmt.Sprintf("density: %s left something behind: %s", d.Name, l))
		}
		if d.MemErr != "" && required {
			r.Problems = append(r.Problems, fmt.Sprintf("density: %s: reading memory: %s", d.Name, d.MemErr))
		}
	}
	r.Problems = append(r.Problems, r.Files.problems()...)
	r.Problems = append(r.Problems, r.Net.problems()...)
	r.Problems = append(r.Problems, r.Vol.problems()...)
}

// bootProblems is collectProblems for the boot group of scenarios (boot,
// memory, image size, system calls).
func (r *report) bootProblems() {
	for _, c := range []*competitor{r.Boot.Brique, r.Boot.Native} {
		if c.Skipped != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("boot: %s could not run: %s", c.Name, c.Skipped))
		} else if c.Failures > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("boot: %s failed %d of %d runs: %s", c.Name, c.Failures, c.Failures+len(c.Walls), c.Failure))
		}
	}
	for _, c := range []*competitor{r.Boot.Brique, r.Boot.Native} {
		if c.Skipped == "" && c.MemFailures > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("memory: %s failed %d of %d runs: %s", c.Name, c.MemFailures, c.MemFailures+len(c.RSS), c.MemFailure))
		}
	}
	if r.Boot.StatsErr != "" {
		r.Problems = append(r.Problems, "boot: reading brique --stats: "+r.Boot.StatsErr)
	}
	if r.Boot.HostErr != "" {
		r.Problems = append(r.Problems, "memory: reading brique --stats: "+r.Boot.HostErr)
	}
	if r.Mem.Err != "" {
		r.Problems = append(r.Problems, "memory: "+r.Mem.Err)
	}
	for _, s := range r.Sizes {
		if s.Err != "" {
			r.Problems = append(r.Problems, "image size: "+s.Program+": "+s.Err)
		}
	}
	if r.Sys.NativeErr != "" {
		r.Problems = append(r.Problems, "syscall: native: "+r.Sys.NativeErr)
	}
	if r.Sys.BriqueErr != "" {
		r.Problems = append(r.Problems, "syscall: brique: "+r.Sys.BriqueErr)
	}
}

// skipped lists every competitor that did not run, or not fully, with the
// reason.
func (r *report) skipped() []string {
	var s []string
	if r.Config.ran("boot") {
		s = r.bootSkipped()
	}
	for _, d := range r.Density {
		if d.Name == "brique" || d.Name == "native" {
			continue
		}
		if d.Skipped != "" {
			s = append(s, fmt.Sprintf("density: **%s** skipped: %s", d.Name, mdEscape(d.Skipped)))
		} else if d.Failure != "" {
			s = append(s, fmt.Sprintf("density: **%s**: %s", d.Name, mdEscape(d.Failure)))
		}
	}
	if r.Config.ran("density") {
		s = append(s, "density: **Linux VM (QEMU/TCG)** not run: each idle VM would be a QEMU process emulating a CPU in software; a density figure for it would measure TCG, not a Linux VM on KVM")
	}
	s = append(s, r.filesSkipped()...)
	s = append(s, r.netSkipped()...)
	return append(s, r.volSkipped()...)
}

// bootSkipped is skipped for the boot group of scenarios.
func (r *report) bootSkipped() []string {
	var s []string
	for _, c := range r.Boot.all() {
		if c.Required {
			continue // their failures are problems
		}
		if c.Skipped != "" {
			s = append(s, fmt.Sprintf("boot: **%s** skipped: %s", c.Name, mdEscape(c.Skipped)))
		} else if c.Failures > 0 {
			s = append(s, fmt.Sprintf("boot: **%s** failed %d of %d runs (not in the numbers): %s", c.Name, c.Failures, c.Failures+len(c.Walls), mdEscape(c.Failure)))
		}
		if c.Skipped == "" && c.MemFailures > 0 {
			s = append(s, fmt.Sprintf("memory: **%s** failed %d of %d memory runs (not in the numbers): %s", c.Name, c.MemFailures, c.MemFailures+len(c.RSS), mdEscape(c.MemFailure)))
		}
	}
	if r.Boot.Runc.Skipped != "" || r.Boot.Qemu.Skipped != "" {
		s = append(s, "memory: the skipped boot competitors have no RSS row either")
	}
	return s
}

func (r *report) markdown(out string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Brique benchmarks\n\n")
	p("Reproduce (from the repository root, Linux/amd64 with `/dev/kvm`, as root for runc and the TAP and veth networks; a few minutes, most of it the Linux VM's boots under emulation, the density ramps and the network measurements):\n\n")
	p("```\n%s\n```\n\n", fullCommand)
	p("CI keeps the harness from rotting with a smoke run of every scenario (a few iterations, 3 instances per density ramp, one Linux VM boot; numbers meaningless):\n\n")
	p("```\n%s\n```\n\n", smokeCommand)
	p("This file is generated by [`bench/cmd/briquebench`](../bench/cmd/briquebench) — do not edit it by hand, rerun it. ")
	p("Optional competitors: `runc` (Debian package `runc`) and a Linux VM (Debian packages `qemu-system-x86` and `linux-image-amd64`); without them their rows say *skipped* and why. ")
	p("The volumes scenario shares a host directory with `brique run -v`, which needs `brique-9pd` (the harness builds it next to `brique`). ")
	p("The network scenario drives HTTP load with `wrk` (Debian package `wrk`) and needs root (and `ip`, Debian package `iproute2`) for the TAP and veth networks; without them those measurements say *not measured* and why. ")
	p("Peak memory is measured through GNU time (`/usr/bin/time`, Debian package `%s`); without it the memory figures fall back to an overstated method and say so.\n\n", timePackage)
	if r.Config.Smoke {
		p("> **SMOKE RUN** (`-smoke`): %d boots per competitor (%d for the Linux VM), %d system calls per round, %d instances per density ramp, %d run(s) of %d round(s) per files program, %d wrk run(s) of %v, %d transfer(s) of %d MiB, %d boot(s) to the first HTTP response, %d volumes run(s) of %d MiB and %d files. The numbers below only show that every scenario ran.\n\n",
			r.Config.BootRuns, r.Config.QemuRuns, r.Config.SyscallN, r.Config.DensityMax, r.Config.FilesRuns, r.Config.FilesRounds, r.Config.HTTPRuns, r.Config.WrkDur, r.Config.BulkRuns, r.Config.BulkMiB, r.Config.FirstRuns,
			r.Config.VolRuns, r.Config.VolMiB, r.Config.VolFiles)
	}
	if r.Config.Only != "" {
		p("> **PARTIAL RUN** (`-only %s`): only these scenarios ran; the sections of the others are left out.\n\n", r.Config.Only)
	}
	p("This run: `%s` on %s, %s.\n\n", r.Command, r.Machine.Date.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second))

	p("## How to read this\n\n")
	p("%s", "Every scenario runs Brique and its competitors **in the same run**, interleaved where it can, on a shared and noisy machine: "+
		"absolute times drift from run to run (and kvm-pvm makes VM exits far dearer than on real VMX/SVM hardware), "+
		"so compare the **ratios**, which are taken between numbers measured seconds or minutes apart under the same conditions. "+
		"Times are the **median** over N runs; min is the least disturbed run and max shows the noise; N is small for the Linux VM, so its median is rough. "+
		"A ratio `brique/native` of 3× means Brique took three times as long as the native process; "+
		"`runc/brique` or `qemu-tcg/brique` above 1× means Brique was faster (or smaller). "+
		"Boot times are whole processes, as a user would see them, measured from just before clone+exec to two points: **first output**, when the program's first line arrives on the pipe the harness reads its stdout from, and **exit**, when `wait4` returns. "+
		"For Brique they include the monitor's own Go runtime start, KVM VM and vCPU creation and guest boot (and, for exit, teardown). "+
		"The **Linux VM is not a like-for-like competitor** on this machine: its KVM (kvm-pvm) cannot boot a stock kernel usefully, so QEMU runs it on TCG, its software CPU emulator; "+
		"its times are those of a general-purpose kernel booting under emulation, far slower than the same VM on hardware KVM, and no conclusion about Linux microVMs on KVM should be drawn from them. "+
		r.memHowTo()+
		"**Density** counts idle instances running at the same time; the count is bounded by the harness's cap, time budget and free-memory floor, so it shows how far the machine went, not a limit of Brique, unless the stop reason says otherwise. "+
		"Per-instance memory comes from `/proc/PID/smaps_rollup`: RSS counts pages shared between instances (the `brique` binary and the image in the page cache, runc's binary) once per instance, PSS divides them among the sharers, so **PSS is the fairer cost of one more instance**; "+
		"neither includes kernel memory (page tables, KVM's state, namespaces, cgroups), which the MemAvailable drop per instance includes, along with anything else the machine did meanwhile. "+
		"**Files** and **volumes** figures are rates (MB/s, files/s), where higher is better, and their ratios are ratios of rates: `brique/native` above 1× there means Brique was faster. "+
		"So are the **network** throughputs (requests/s, MB/s), compared with the runc container on a veth pair: `brique-tap/runc` above 1× means Brique was faster; its latencies and boot times are times, where `runc/brique-tap` above 1× means Brique was faster. "+
		"A competitor that could not run is listed as skipped with the reason; it is never silently left out.\n\n")

	r.headline(p)
	r.machineSection(p)
	p("## Skipped competitors\n\n")
	for _, s := range r.skipped() {
		p("- %s\n", s)
	}
	p("\n")
	if r.Config.ran("boot") {
		r.bootSection(p, out)
		r.memSection(p)
		r.sizeSection(p)
		r.syscallSection(p)
	}
	if r.Config.ran("density") {
		r.densitySection(p)
	}
	if r.Config.ran("files") {
		r.filesSection(p)
	}
	if r.Config.ran("http") {
		r.netSection(p)
	}
	if r.Config.ran("volumes") {
		r.volSection(p)
	}

	p("## Problems\n\n")
	if len(r.Problems) == 0 {
		p("None: brique and the native baseline ran every scenario, and the density, network and volumes runs left nothing behind (skipped competitors are listed above).\n")
	} else {
		for _, s := range r.Problems {
			p("- **failure**: %s\n", mdEscape(s))
		}
	}
	return b.String()
}

// cell formats a competitor's figure, or says it was skipped.
func cell(c *competitor, s string) string {
	if c.Skipped != "" || len(c.Walls) == 0 {
		return "skipped"
	}
	return s
}

func dcell(d *densityResult, s string) string {
	if d.Skipped != "" || d.Started == 0 {
		return "skipped"
	}
	return s
}

func (r *report) headline(p func(string, ...any)) {
	p("## Headline\n\n")
	p("| claim | Brique | native | runc | Linux VM (QEMU, TCG) | ratios |\n|---|---|---|---|---|---|\n")
	if r.Config.ran("boot") {
		r.bootHeadline(p)
	}
	if r.Config.ran("density") {
		r.densityHeadline(p)
	}
	if r.Mem.MinMiB > 0 {
		g := summarize(ints(r.Boot.GuestKiB))
		p("| smallest guest memory for hello | `-m %dM` (guest allocated %s beyond its %s image) | | | | |\n", r.Mem.MinMiB, fmtKiB(g.Median), fmtBytes(r.Mem.ImageSize))
	}
	for _, s := range r.Sizes {
		if s.Err == "" && s.Program == "hello" {
			p("| hello image vs stripped static binary | %s | %s | | | %s (+%s) |\n", fmtBytes(s.Image), fmtBytes(s.Native), ratio(float64(s.Image), float64(s.Native)), fmtBytes(s.Image-s.Native))
		}
	}
	if len(r.Sys.Native) > 0 && len(r.Sys.Brique) > 0 {
		nat, bq := r.Sys.Native[0], r.Sys.Brique[0]
		p("| %s system call | %.0f ns | %.0f ns | | | brique/native %s |\n", nat.Op, bq.NsPerOp, nat.NsPerOp, ratio(bq.NsPerOp, nat.NsPerOp))
	}
	r.filesHeadline(p)
	r.netHeadline(p)
	r.volHeadline(p)
	p("\n")
}

// bootHeadline adds the boot and memory rows to the headline table.
func (r *report) bootHeadline(p func(string, ...any)) {
	bt := r.Boot
	sum := func(c *competitor) (first, exit, rss summary) {
		return summarize(durations(c.First)), summarize(durations(c.Walls)), summarize(ints(c.RSS))
	}
	nf, ne, nr := sum(bt.Native)
	qf, qe, qr := sum(bt.Brique)
	cf, ce, cr := sum(bt.Runc)
	vf, ve, vr := sum(bt.Qemu)
	p("| boot hello to its first output line (median) | %s | %s | %s | %s | brique/native %s, runc/brique %s, qemu-tcg/brique %s |\n",
		fmtDur(qf.Median), fmtDur(nf.Median), cell(bt.Runc, fmtDur(cf.Median)), cell(bt.Qemu, fmtDur(vf.Median)),
		ratio(qf.Median, nf.Median), cell(bt.Runc, ratio(cf.Median, qf.Median)), cell(bt.Qemu, ratio(vf.Median, qf.Median)))
	p("| boot + run hello, whole process to exit (median) | %s | %s | %s | %s | brique/native %s, runc/brique %s, qemu-tcg/brique %s |\n",
		fmtDur(qe.Median), fmtDur(ne.Median), cell(bt.Runc, fmtDur(ce.Median)), cell(bt.Qemu, fmtDur(ve.Median)),
		ratio(qe.Median, ne.Median), cell(bt.Runc, ratio(ce.Median, qe.Median)), cell(bt.Qemu, ratio(ve.Median, qe.Median)))
	rssClaim := "peak RSS of the whole process running hello (GNU time `%M`, separate runs, median)"
	if !r.Launch.used() {
		rssClaim = "peak RSS running hello (median; `ru_maxrss` of the harness's child, **overstated**: see section 2)"
	}
	p("| %s | %s | %s | %s | %s | brique/native %s, brique/runc %s, qemu-tcg/brique %s |\n", rssClaim,
		fmtKiB(qr.Median), fmtKiB(nr.Median), cell(bt.Runc, fmtKiB(cr.Median)), cell(bt.Qemu, fmtKiB(vr.Median)),
		ratio(qr.Median, nr.Median), cell(bt.Runc, ratio(qr.Median, cr.Median)), cell(bt.Qemu, ratio(vr.Median, qr.Median)))
}

// densityHeadline adds the density rows to the headline table.
func (r *report) densityHeadline(p func(string, ...any)) {
	dq, dn, dc := densityByName(r.Density, "brique"), densityByName(r.Density, "native"), densityByName(r.Density, "runc")
	count := func(d *densityResult) string {
		return dcell(d, fmt.Sprintf("%d of %d tried (%s)", d.Alive, d.Cap, stopShort(d)))
	}
	p("| idle instances running at once (density) | %s | %s | %s | not run | |\n", count(dq), count(dn), count(dc))
	pq, pn, pc := summarize(ints(dq.PSS)), summarize(ints(dn.PSS)), summarize(ints(dc.PSS))
	p("| host memory per idle instance (PSS, median) | %s | %s | %s | | brique/native %s, runc/brique %s |\n",
		dcell(dq, fmtKiB(pq.Median)), dcell(dn, fmtKiB(pn.Median)), dcell(dc, fmtKiB(pc.Median)),
		ratio(pq.Median, pn.Median), dcell(dc, ratio(pc.Median, pq.Median)))
	idle := func(d *densityResult) string {
		return dcell(d, fmt.Sprintf("%.2f%%", 100*d.idleShare()/float64(d.Started)))
	}
	p("| CPU used by one idle instance (share of one CPU, over %v with all running) | %s | %s | %s | | |\n", settle, idle(dq), idle(dn), idle(dc))
}

// stopShort says in a few words why a density ramp stopped.
func stopShort(d *densityResult) string {
	switch {
	case strings.HasPrefix(d.Stop, "reached the cap"):
		return "cap"
	case strings.Contains(d.Stop, "budget"):
		return "time budget"
	case strings.HasPrefix(d.Stop, "MemAvailable"):
		return "memory floor"
	case d.Failure != "":
		return "an instance failed"
	}
	return d.Stop
}

func (r *report) machineSection(p func(string, ...any)) {
	m := r.Machine
	p("## Machine\n\n| | |\n|---|---|\n")
	p("| date | %s |\n", m.Date.Format(time.RFC3339))
	p("| CPU | %s |\n", m.CPU)
	p("| CPUs (nproc) | %d |\n", m.NProc)
	p("| memory | %s (MemAvailable %s when the run began) |\n", m.MemTotal, m.MemAvail)
	p("| kernel | %s |\n", m.Kernel)
	p("| KVM | %s |\n", m.KVM)
	p("| Go | %s |\n", m.Go)
	if m.Runc != "" {
		p("| runc | %s |\n", m.Runc)
	} else {
		p("| runc | not available: %s |\n", mdEscape(r.RuncSkip))
	}
	if m.Qemu != "" {
		p("| QEMU | %s, TCG (no KVM) |\n", m.Qemu)
		p("| Linux VM kernel | `%s` |\n", m.GuestKernel)
	} else {
		p("| QEMU | not available: %s |\n", mdEscape(r.QemuSkip))
	}
	if l := r.Launch; l.used() {
		p("| peak RSS launcher | %s (`%s`) |\n", l.Version, l.Path)
	} else if l != nil {
		p("| peak RSS launcher | none (fallback: `wait4`'s `ru_maxrss`, overstated): %s |\n", mdEscape(l.Why))
	}
	p("| cgroups | %s |\n", m.Cgroups)
	if m.Commit != "" {
		p("| brique commit | `%s` |\n", m.Commit)
	}
	p("| command | `%s` |\n\n", r.Command)
}

// vsBrique names the ratio of c's medians to Brique's in the usual
// direction (brique/native for the baseline, c/brique for the others) and
// formats one value of it.
func vsBrique(c, brique *competitor) (string, func(xs func(*competitor) []time.Duration) string) {
	val := func(xs func(*competitor) []time.Duration) string {
		m, q := summarize(durations(xs(c))).Median, summarize(durations(xs(brique))).Median
		if c.Name == "native" {
			return ratio(q, m)
		}
		return ratio(m, q)
	}
	if c.Name == "native" {
		return "brique/native", val
	}
	return c.Name + "/brique", val
}

func (r *report) bootSection(p func(string, ...any), out string) {
	bt := r.Boot
	p("## 1. Boot: hello, whole process, to first output and to exit\n\n")
	p("%d timed runs per competitor after %d untimed warm-up run(s) (the first doubles as a probe), interleaved round-robin; ", r.Config.BootRuns, r.Config.Warmup)
	p("the Linux VM: %d timed runs after %d warm-up run(s), taking part in the first %d rounds. ", r.Config.QemuRuns, r.Config.QemuWarmup, r.Config.QemuRuns)
	p("Each run must exit 0 and print exactly %q (the Linux VM: show that line on its serial console). ", strings.TrimSpace(helloOut))
	p("The harness reads the child's stdout through a pipe: *first output* is when hello's line arrives, *exit* is when `wait4` returns.\n\n")
	p("| competitor | first output: median | min – max | exit: median | min – max | runs | failed | ratio of medians (first output; exit) | what ran |\n|---|---|---|---|---|---|---|---|---|\n")
	first := func(c *competitor) []time.Duration { return c.First }
	walls := func(c *competitor) []time.Duration { return c.Walls }
	for _, c := range bt.all() {
		if c.Skipped != "" {
			p("| %s | skipped | | | | | | | %s — %s |\n", c.Name, c.How, mdEscape(c.Skipped))
			continue
		}
		if len(c.Walls) == 0 {
			p("| %s | every run failed | | | | 0 | %d | | %s — %s |\n", c.Name, c.Failures, c.How, mdEscape(c.Failure))
			continue
		}
		f, w := summarize(durations(c.First)), summarize(durations(c.Walls))
		rat := ""
		if c != bt.Brique {
			name, val := vsBrique(c, bt.Brique)
			rat = fmt.Sprintf("%s %s; %s", name, val(first), val(walls))
		}
		p("| %s | %s | %s – %s | %s | %s – %s | %d | %d | %s | %s |\n", c.Name, fmtDur(f.Median), fmtDur(f.Min), fmtDur(f.Max),
			fmtDur(w.Median), fmtDur(w.Min), fmtDur(w.Max), w.N, c.Failures, rat, c.How)
	}
	n, q := summarize(durations(bt.Native.Walls)), summarize(durations(bt.Brique.Walls))
	c, v := summarize(durations(bt.Runc.Walls)), summarize(durations(bt.Qemu.Walls))
	p("\nRatios of minimums (exit): brique/native %s, runc/brique %s, qemu-tcg/brique %s.\n\n", ratio(q.Min, n.Min), cell(bt.Runc, ratio(c.Min, q.Min)), cell(bt.Qemu, ratio(v.Min, q.Min)))
	if plotPath(out) != "" {
		p("![boot times to first output and to exit, median with min–max, logarithmic scale](%s)\n\n", filepath.Base(plotPath(out)))
	}

	if len(bt.Total) > 0 {
		su, to := summarize(durations(bt.Setup)), summarize(durations(bt.Total))
		ex := summarize(ints(bt.Exits))
		p("Where Brique's time goes (medians; from `--stats` on stderr, measured inside `brique run` from the start of `monitor.Run`):\n\n")
		p("| part | median | min | max |\n|---|---|---|---|\n")
		p("| monitor set-up (KVM VM, memory, page tables, vCPU, until the first guest instruction) | %s | %s | %s |\n", fmtDur(su.Median), fmtDur(su.Min), fmtDur(su.Max))
		p("| guest: boot, hello, exit (total − set-up) | %s | | |\n", fmtDur(to.Median-su.Median))
		p("| `monitor.Run` total | %s | %s | %s |\n", fmtDur(to.Median), fmtDur(to.Min), fmtDur(to.Max))
		p("| outside `monitor.Run`: process start, brique's Go runtime, image open, teardown (whole − total) | %s | | |\n", fmtDur(q.Median-to.Median))
		p("| whole process | %s | %s | %s |\n\n", fmtDur(q.Median), fmtDur(q.Min), fmtDur(q.Max))
		if ex.N > 0 {
			p("VM exits per run (median): %.0f.\n\n", ex.Median)
		}
	}
	if bt.Runc.Skipped == "" {
		p("runc: ran as root with the host's cgroups as mounted (%s); no cgroup set-up was needed. "+
			"`runc run` creates one cgroup per controller for the container under the caller's cgroup and removes it when the container is deleted. "+
			"The bundle is the installed runc's `runc spec` default (pid, ipc, uts, mount and network namespaces; /proc, /dev, /sys mounts; no seccomp filter) with a read-only rootfs holding only the static binary; "+
			"runc keeps its state in a private `--root` in the harness's temporary directory.\n\n", r.Machine.Cgroups)
	}
	if qe := r.Qemu; qe != nil && bt.Qemu.Skipped == "" {
		p("Linux VM: %s, **TCG** (`-accel tcg`: QEMU's binary translator; no KVM, because on these machines `-cpu host` fails and kvm-pvm cannot boot a stock kernel usefully), its default CPU model and 1 vCPU, %d MiB of RAM. ", qe.version, qe.memMiB)
		p("Kernel: `%s`, Debian's stock kernel, booted directly by QEMU (`-kernel`, SeaBIOS then the kernel's own boot) with `%s`. ", qe.kernel, qemuCmdline)
		p("The initramfs is written by the harness (cpio newc, %s): `/dev/console` (so that the kernel can give init a console; an initramfs gets no devtmpfs) and `/init` = the static hello binary; no modules (none are needed to run a static binary from the initramfs), no shell, no libraries. ", fmtBytes(qe.initrdLen))
		p("Its output is the serial console on QEMU's stdout; *first output* is hello's line, which follows the firmware's banner. ")
		p("The VM ends the simplest way available: hello exits, so the kernel panics (`Attempted to kill init!`), `panic=-1` makes it reboot at once, and `-no-reboot` turns the reboot into QEMU exiting with status 0. ")
		p("That is the expected end, not a failure (seen in %d of %d timed runs); *exit* includes printing the panic report on the emulated serial port.\n\n", bt.Qemu.Panics, len(bt.Qemu.Walls)+bt.Qemu.Failures)
	}
}

func (r *report) memSection(p func(string, ...any)) {
	bt, m := r.Boot, r.Mem
	p("## 2. Memory\n\n")
	if m.Err != "" {
		p("Minimum memory search failed: %s\n\n", mdEscape(m.Err))
	} else {
		p("Smallest guest memory at which hello boots and prints correctly (searched upward from 2M in 2 MiB steps, %d runs per size): **`-m %dM`**. ", r.Config.MemRuns, m.MinMiB)
		if m.BelowMiB > 0 {
			p("At `-m %dM`: %s\n\n", m.BelowMiB, mdEscape(oneLine(m.Below)))
		} else {
			p("\n\n")
		}
	}
	for _, f := range m.Flaky {
		p("- booted only sometimes: %s\n", mdEscape(f))
	}
	g := summarize(ints(bt.GuestKiB))
	if g.N > 0 {
		p("Guest memory hello allocated beyond its image (`--stats`, median of %d boots at -m 64M): **%s** (min %s, max %s); the image itself is %s, so the guest's footprint is about %s.\n\n",
			g.N, fmtKiB(g.Median), fmtKiB(g.Min), fmtKiB(g.Max), fmtBytes(m.ImageSize), fmtKiB(g.Median+float64(m.ImageSize)/1024))
	}
	r.rssTable(p)
}

func (r *report) sizeSection(p func(string, ...any)) {
	p("## 3. Image size\n\n")
	p("The Brique image (`brique build`: `go build -trimpath -ldflags='-s -w'` plus the library OS, SYSCALL sites rewritten, metadata trailer) vs the same program as a stripped static Linux binary, built with the same flags: `CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'`.\n\n")
	p("| program | Brique image | static binary | library OS overhead | image/static | static without -trimpath |\n|---|---|---|---|---|---|\n")
	for _, s := range r.Sizes {
		if s.Err != "" {
			p("| %s | failed: %s | | | | |\n", s.Program, mdEscape(s.Err))
			continue
		}
		plain := "not built"
		if s.Plain > 0 {
			plain = fmtBytes(s.Plain)
		}
		p("| %s | %s | %s | %s | %s | %s |\n", s.Program, fmtBytes(s.Image), fmtBytes(s.Native), fmtBytes(s.Image-s.Native), ratio(float64(s.Image), float64(s.Native)), plain)
	}
	p("\nKiB = 1024 bytes. Without `-trimpath` the static binary carries full source paths and is a little larger; the overhead column compares like with like.")
	if qe := r.Qemu; qe != nil {
		p(" For comparison, the Linux VM boots hello from a %s initramfs (the static binary and a console node) with a %s compressed kernel (`%s`, modules not counted: none are loaded).", fmtBytes(qe.initrdLen), fmtBytes(qe.kernelLen), filepath.Base(qe.kernel))
	}
	p("\n\n")
}

func (r *report) syscallSection(p func(string, ...any)) {
	s := r.Sys
	p("## 4. System call cost\n\n")
	p("[`bench/programs/syscall`](../bench/programs/syscall) times %d calls per round, %d round(s), and prints the fastest round's ns/op; it ran once natively and once under `brique run` (default -m). ", s.N, s.Rounds)
	p("In Brique every one of these calls is answered inside the guest by the library OS (no VM exit): the SYSCALL instruction was rewritten into a call at image build time. ")
	p("`getpid-raw` is `syscall.RawSyscall(SYS_GETPID)`; `getppid` uses `syscall.Syscall`, which adds the runtime's entersyscall/exitsyscall; `clock_gettime-raw` is `RawSyscall6(SYS_CLOCK_GETTIME, CLOCK_MONOTONIC)`; `time.Now` is what programs call (natively it goes through the vDSO and makes no system call). ")
	p("For reference, DESIGN.md §3 measured a getpid loop through this rewritten path at ~0.17–0.19 µs on these machines (native 0.14–0.2 µs).\n\n")
	if s.NativeErr != "" {
		p("Native run failed: %s\n\n", mdEscape(s.NativeErr))
	}
	if s.BriqueErr != "" {
		p("Brique run failed: %s\n\n", mdEscape(s.BriqueErr))
	}
	if len(s.Native) == 0 && len(s.Brique) == 0 {
		return
	}
	nat := map[string]float64{}
	for _, x := range s.Native {
		nat[x.Op] = x.NsPerOp
	}
	bq := map[string]float64{}
	var ops []string
	for _, x := range s.Brique {
		bq[x.Op] = x.NsPerOp
		ops = append(ops, x.Op)
	}
	for _, x := range s.Native {
		if _, ok := bq[x.Op]; !ok {
			ops = append(ops, x.Op)
		}
	}
	p("| call | native | Brique | brique/native |\n|---|---|---|---|\n")
	for _, op := range ops {
		p("| `%s` | %s | %s | %s |\n", op, fmtNs(nat[op]), fmtNs(bq[op]), ratio(bq[op], nat[op]))
	}
	p("\nWall time of the whole program: native %s, Brique %s.\n\n", fmtDur(float64(s.NativeWall)), fmtDur(float64(s.BriqueWall)))
}

func fmtNs(ns float64) string {
	if ns <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// fmtBytes formats a byte count in KiB.
func fmtBytes(n int64) string {
	return fmt.Sprintf("%d KiB", (n+512)/1024)
}

// mdEscape keeps free text from breaking a Markdown table.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func (r *report) densitySection(p func(string, ...any)) {
	cfg := r.Config
	p("## 5. Density: idle instances at once\n\n")
	p("[`bench/programs/sleeper`](../bench/programs/sleeper) prints `ready` and then sleeps (-d %v, so that an instance the harness failed to stop still ends; SIGTERM ends it at once). ", cfg.DensityBudget+2*time.Minute)
	p("For each competitor in turn, the harness starts instances one after another, each with its stdout on a pipe, and waits for its `ready` line (at most %v) before starting the next, ", readyTimeout)
	p("until %d instances (runc: %d), %v of ramp, MemAvailable below %d MiB, or an instance that fails. ", cfg.DensityMax, cfg.DensityRuncMax, cfg.DensityBudget, cfg.DensityMinFreeMiB)
	p("Then, %v later, it reads every instance's memory from `/proc/PID/smaps_rollup`, summed over the process it started and that process's descendants, ", settle)
	p("checks that every instance is still running, sends SIGTERM to all, SIGKILL (and, for runc, `runc delete --force`) to any still running %v later, and checks that nothing is left behind.\n\n", termTimeout)

	p("| competitor | running at once | the ramp stopped because | start → ready: median | min – max | instance 1 / middle / last | ramp | what ran |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range r.Density {
		if d.Skipped != "" {
			p("| %s | skipped | | | | | | %s — %s |\n", d.Name, d.How, mdEscape(d.Skipped))
			continue
		}
		s := summarize(durations(d.Ready))
		f, m, l := d.readyAt()
		stop := d.Stop
		if d.Failure != "" {
			stop += ": " + d.Failure
		}
		p("| %s | %d | %s | %s | %s – %s | %s / %s / %s | %s | %s |\n", d.Name, d.Alive, mdEscape(stop), fmtDur(s.Median), fmtDur(s.Min), fmtDur(s.Max),
			fmtDur(float64(f)), fmtDur(float64(m)), fmtDur(float64(l)), fmtDur(float64(d.Ramp)), d.How)
	}

	q := densityByName(r.Density, "brique")
	pq := summarize(ints(q.PSS)).Median
	p("\nHost memory per instance (median over instances, min – max), with all of them running:\n\n")
	p("| competitor | instances | PSS | min – max | RSS | min – max | processes per instance | MemAvailable drop per instance | all instances (PSS) | PSS vs Brique | idle CPU: all instances, %% of one CPU (per instance) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range r.Density {
		if d.Skipped != "" || d.Started == 0 {
			p("| %s | skipped | | | | | | | | | |\n", d.Name)
			continue
		}
		ps, rs, pr := summarize(ints(d.PSS)), summarize(ints(d.RSS)), summarize(ints(intsOf(d.Procs)))
		pss, pssRange, total := "n/a", "", "n/a"
		if d.HasPSS {
			var sum int64
			for _, x := range d.PSS {
				sum += x
			}
			pss, pssRange, total = fmtKiB(ps.Median), fmtKiB(ps.Min)+" – "+fmtKiB(ps.Max), fmtKiB(float64(sum))
		}
		vs := ""
		switch d.Name {
		case "native":
			vs = "brique/native " + ratio(pq, ps.Median)
		case "runc":
			vs = "runc/brique " + ratio(ps.Median, pq)
		}
		idle := 100 * d.idleShare()
		p("| %s | %d | %s | %s | %s | %s – %s | %.0f | %s | %s | %s | %.1f%% (%.2f%% each) |\n", d.Name, d.Started, pss, pssRange, fmtKiB(rs.Median), fmtKiB(rs.Min), fmtKiB(rs.Max),
			pr.Median, fmtKiBSigned(d.availDrop()), total, vs, idle, idle/float64(d.Started))
	}
	p("\nProcesses per instance: native, the sleeper; Brique, `brique run` (the monitor, with the guest's RAM mapped in it); runc, `runc run`, which stays as the container's parent, and the sleeper in the container. ")
	p("The MemAvailable drop is (before the first start − after the last ready) / instances; it is noisy (other processes, the page cache) and can even be negative for small counts. ")
	p("Idle CPU is the user + system time all the instances' processes used between two readings of /proc/PID/stat (10 ms ticks) about %v apart, just before the memory readings, as a share of one CPU (the machine has %d); ", settle, r.Machine.NProc)
	p("an idle instance that still wakes up (timers, polling) costs CPU here, and once the instances together need more than the machine has, starting one more gets slower and slower.\n\n")

	p("Teardown and clean-up:\n\n")
	p("| competitor | alive when checked | exited on SIGTERM | needed SIGKILL | teardown | processes checked | left behind |\n|---|---|---|---|---|---|---|\n")
	for _, d := range r.Density {
		if d.Skipped != "" {
			p("| %s | skipped | | | | | |\n", d.Name)
			continue
		}
		left := "nothing"
		if len(d.Leftovers) > 0 {
			left = mdEscape(strings.Join(d.Leftovers, "; "))
		}
		p("| %s | %d of %d | %d | %d | %s | %d | %s |\n", d.Name, d.Alive, d.Started, d.Termed, d.Killed, fmtDur(float64(d.Teardown)), d.ProcsSeen, left)
	}
	var checked []string
	for _, d := range r.Density {
		if len(d.Checked) > len(checked) {
			checked = d.Checked
		}
	}
	if len(checked) > 0 {
		p("\nChecked after each teardown: %s. ", strings.Join(checked, "; "))
		p("Each instance's TMPDIR pointed into the harness's work directory. ")
	} else {
		p("\n")
	}
	if r.WorkRemoved {
		p("The harness's work directory (images, bundles, initramfs, instances' stderr) was removed before this report was written, and is gone.\n\n")
	} else if r.Config.Keep {
		p("The harness's work directory was kept (`-keep`).\n\n")
	} else {
		p("\n\n")
	}
}

func intsOf(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

// fmtKiBSigned is fmtKiB that keeps the sign of a negative value.
func fmtKiBSigned(k float64) string {
	switch {
	case k == 0:
		return "n/a"
	case k < 0:
		return "−" + fmtKiB(-k)
	}
	return fmtKiB(k)
}

// bootSVG draws, per competitor, the medians to first output and to exit
// as horizontal bars with min–max whiskers, on a logarithmic scale (the
// Linux VM under TCG is a thousand times slower than a native process).
func (r *report) bootSVG() string {
	type bar struct {
		label         string
		med, min, max float64 // ms
	}
	type group struct {
		name string
		bars []bar
	}
	var groups []group
	lo, hi := math.Inf(1), 0.0
	for _, c := range r.Boot.all() {
		g := group{name: c.Name}
		if c.Skipped != "" || len(c.Walls) == 0 {
			g.name += " (skipped)"
			groups = append(groups, g)
			continue
		}
		for _, x := range []struct {
			label string
			ds    []time.Duration
		}{{"first output", c.First}, {"exit", c.Walls}} {
			s := summarize(durations(x.ds))
			g.bars = append(g.bars, bar{x.label, s.Median / 1e6, s.Min / 1e6, s.Max / 1e6})
			lo, hi = math.Min(lo, s.Min/1e6), math.Max(hi, s.Max/1e6)
		}
		groups = append(groups, g)
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	const left, width, barH, gap, top = 150.0, 420.0, 16.0, 14.0, 56.0
	x := func(ms float64) float64 {
		return left + width*(math.Log10(math.Max(ms, math.Pow(10, d0)))-d0)/(d1-d0)
	}
	rows := 0.0
	for _, g := range groups {
		rows += gap + barH*float64(max(len(g.bars), 1))
	}
	axisY := top + rows + 8
	h := axisY + 26
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="680" height="%.0f" font-family="sans-serif" font-size="13">`+"\n", h)
	fmt.Fprintf(&b, `<rect width="680" height="%.0f" fill="white"/>`+"\n", h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15">hello, whole process: time to first output and to exit (log scale)</text>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="38" font-size="12">bar: median (dark: first output, light: exit), whisker: min–max; n=%d, Linux VM n=%d (QEMU TCG, no KVM)</text>`+"\n", r.Config.BootRuns, r.Config.QemuRuns)
	// Grid and axis first, so that the bars are drawn over the grid.
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, axisY, left+width, axisY)
	for d := d0; d <= d1; d++ {
		v := math.Pow(10, d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x(v), top, x(v), axisY)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="black"/>`+"\n", x(v), axisY, x(v), axisY+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="11">%s</text>`+"\n", x(v), axisY+17, fmtDur(v*1e6))
	}
	y := top
	for _, g := range groups {
		y += gap
		fmt.Fprintf(&b, `<text x="10" y="%.0f">%s</text>`+"\n", y+barH*float64(max(len(g.bars), 1))/2+4, g.name)
		for i, br := range g.bars {
			color := []string{"#c0392b", "#e6a29b"}[i%2]
			if g.name != "brique" {
				color = []string{"#555", "#bbb"}[i%2]
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %s: median %s</title></rect>`+"\n",
				left, y+1, math.Max(x(br.med)-left, 1), barH-2, color, g.name, br.label, fmtDur(br.med*1e6))
			mid := y + barH/2
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x(br.min), mid, x(br.max), mid)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x(br.min), mid-4, x(br.min), mid+4)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x(br.max), mid-4, x(br.max), mid+4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">%s</text>`+"\n", x(br.max)+5, mid+4, fmtDur(br.med*1e6))
			y += barH
		}
		if len(g.bars) == 0 {
			y += barH
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
