package main

import (
	"fmt"
	"strings"
)

// memHowTo is the "How to read this" sentence on boot memory.
func (r *report) memHowTo() string {
	why := "Go starts children with clone(CLONE_VM|CLONE_VFORK) and Linux records the old address space's RSS high-water mark in the child's `ru_maxrss` at exec"
	if !r.Launch.used() {
		reason := "not set up"
		if r.Launch != nil {
			reason = r.Launch.Why
		}
		return fmt.Sprintf("Boot memory is **overstated** in this run: GNU time could not be used (%s), so it is `ru_maxrss` from `wait4` for the process the harness started, which carries the harness's own peak RSS (%s) in with it (%s); a figure is the larger of the program's own peak and the harness's. ",
			reason, fmtKiB(float64(r.Boot.HarnessKiB)), why)
	}
	return fmt.Sprintf("Boot memory is the peak resident set of the whole process (for Brique the `brique run` monitor, the guest RAM it backed included; for runc, `runc run` and the processes it reaped), "+
		"measured in runs separate from the timed ones through GNU time (`/usr/bin/time -f %%M`), which forks and execs the program itself: "+
		"a child the Go harness started directly would carry the harness's own RSS high-water mark (%s here) into its `ru_maxrss`, because %s. "+
		"GNU time passes its own on the same way, a much lower floor (%s: section 2); a figure is the larger of the program's own peak and that floor. ",
		fmtKiB(float64(r.Boot.HarnessKiB)), why, fmtKiB(summarize(ints(r.Launch.FloorExit)).Median))
}

// rssTable is section 2's peak RSS table, its notes and Brique's own
// account of its memory.
func (r *report) rssTable(p func(string, ...any)) {
	bt, m, l := r.Boot, r.Mem, r.Launch
	if l == nil {
		l = &launcher{Why: "not set up"}
	}
	n := summarize(ints(bt.Native.RSS))
	if l.used() {
		p("Peak RSS of the whole process, from runs separate from the timed ones (%d per competitor, the Linux VM %d; interleaved round-robin like them), each started through GNU time: `%s -f %%M -o FILE PROGRAM ARGS...`. ",
			r.Config.MemRuns, bt.Qemu.MemRuns, l.Path)
		p("GNU time forks and execs the program itself and writes the `ru_maxrss` that `wait4` gave it, in KiB: the larger of the program's own peak and those of the descendants it reaped (a maximum, not a sum), and at least what the program inherited from GNU time at exec (the floor below). ")
		p("The timed runs of section 1 start the program directly; their `ru_maxrss` is not used, since it carries the harness's own high-water mark (%s). Median, min–max:\n\n", fmtKiB(float64(bt.HarnessKiB)))
	} else {
		p("Peak RSS: **overstated in this run**. GNU time could not be used (%s; install the Debian package `%s`), so these are `ru_maxrss` from `wait4` for the process the harness started itself, from runs separate from the timed ones. ", mdEscape(l.Why), timePackage)
		p("Go starts it with clone(CLONE_VM|CLONE_VFORK) and Linux records the harness's RSS high-water mark (%s when these runs began) in the child's `ru_maxrss` at exec, so every figure below is at least that, whatever the program used. Median, min–max:\n\n", fmtKiB(float64(bt.HarnessKiB)))
	}
	p("| what was measured | median | min–max | runs | vs native |\n|---|---|---|---|---|\n")
	row := func(what string, xs []int64, skipped string) {
		if skipped != "" {
			p("| %s | skipped | | | |\n", what)
			return
		}
		if len(xs) == 0 {
			p("| %s | no successful run | | 0 | |\n", what)
			return
		}
		s := summarize(ints(xs))
		p("| %s | %s | %s – %s | %d | %s |\n", what, fmtKiB(s.Median), fmtKiB(s.Min), fmtKiB(s.Max), s.N, ratio(s.Median, n.Median))
	}
	row("native hello process", bt.Native.RSS, bt.Native.Skipped)
	row("`brique run --stats hello.img` process, -m 64M (default): the monitor, with the guest RAM it backed", bt.Brique.RSS, bt.Brique.Skipped)
	if m.MinMiB > 0 {
		row(fmt.Sprintf("`brique run` process, -m %dM (minimum)", m.MinMiB), m.RSS, "")
	}
	row("`runc run` process (as in section 1): the larger of the peaks of `runc run` itself and of the processes it reaped (`runc init`, the container's hello)", bt.Runc.RSS, bt.Runc.Skipped)
	qemuRow := "QEMU process (TCG) running the Linux VM"
	if r.Qemu != nil {
		qemuRow += fmt.Sprintf(", -m %dM", r.Qemu.memMiB)
	}
	row(qemuRow, bt.Qemu.RSS, bt.Qemu.Skipped)
	p("\n")

	if l.used() {
		t, e := summarize(ints(l.FloorTrue)), summarize(ints(l.FloorExit))
		p("The launcher's floor, measured the same way in this run: ")
		if t.N > 0 {
			p("`%s -f %%M %s` reports **%s** (median of %d, %s – %s), most of it /bin/true's own (the dynamic loader and libc); ", l.Path, l.TruePath, fmtKiB(t.Median), t.N, fmtKiB(t.Min), fmtKiB(t.Max))
		}
		if e.N > 0 {
			p("a static program of one page that only calls exit (written by the harness) reports **%s** (%s – %s): that is the high-water mark it inherits from GNU time, the least any figure above can be. ", fmtKiB(e.Median), fmtKiB(e.Min), fmtKiB(e.Max))
		}
		if l.FloorErr != "" {
			p("(Floor: %s.) ", mdEscape(l.FloorErr))
		}
		lowest := 0.0
		for _, xs := range [][]int64{bt.Native.RSS, bt.Brique.RSS, m.RSS, bt.Runc.RSS, bt.Qemu.RSS} {
			if s := summarize(ints(xs)); s.N > 0 && (lowest == 0 || s.Min < lowest) {
				lowest = s.Min
			}
		}
		switch {
		case e.N == 0 || lowest == 0:
			p("\n\n")
		case lowest > e.Max:
			p("Every figure above is over it (the lowest, %s), so each is the program's own peak.\n\n", fmtKiB(lowest))
		default:
			p("**The lowest figure above, %s, is at the floor: it may be GNU time's high-water mark, not the program's.**\n\n", fmtKiB(lowest))
		}
	}

	notes := []string{"The Brique monitor maps guest RAM with MAP_NORESERVE and the host only backs pages the guest touches, so its RSS is the monitor (its Go runtime and the pages of the `brique` binary it ran) plus the guest pages in use, not -m."}
	if bt.Runc.Skipped == "" {
		notes = append(notes, "runc's figure is `runc run` itself (a Go program, which stays the container's parent until it exits) or, if larger, one of the processes it reaped: `runc init`, which sets the container up and execs hello, and hello; it is a maximum over them, not their sum, and the container's kernel-side cost (namespaces, cgroups, mounts) is in no RSS.")
	}
	if bt.Qemu.Skipped == "" {
		notes = append(notes, "QEMU's is the guest RAM the Linux kernel touched while booting, QEMU itself and TCG's translated code.")
	}
	p("%s\n\n", strings.Join(notes, " "))

	if len(bt.Host) > 0 {
		h64, hmin := hostSummaries(bt.Host), hostSummaries(m.Host)
		p("Brique's own account (the `brique: host memory` line of `--stats`, from the same memory runs; medians):\n\n")
		if m.MinMiB > 0 && len(m.Host) > 0 {
			p("| part | -m 64M (default) | -m %dM (minimum) |\n|---|---|---|\n", m.MinMiB)
		} else {
			p("| part | -m 64M (default) | |\n|---|---|---|\n")
			hmin = nil
		}
		parts := []string{
			"peak RSS (`brique run`'s own `getrusage`)",
			"guest RAM: guest memory backed by host pages when the guest exits (`mincore`)",
			"monitor private: `RssAnon` once the VM is gone (Go heap, stacks, the monitor's own data)",
			"shared file pages: `RssFile` (the `brique` binary and the image, in the page cache; shared with other instances, see PSS in section 5)",
		}
		for i, what := range parts {
			other := ""
			if hmin != nil {
				other = fmtKiB(hmin[i])
			}
			p("| %s | %s | %s |\n", what, fmtKiB(h64[i]), other)
		}
		p("\nThe parts are read at the end of the run, not at the peak, so they need not add up to it exactly. ")
		if l.used() {
			p("Brique's own peak (median %s) is measured like GNU time's (%s): both are `ru_maxrss` of the same process.\n\n", fmtKiB(h64[0]), fmtKiB(summarize(ints(bt.Brique.RSS)).Median))
		} else {
			p("Brique's own peak carries the harness's high-water mark too, like the table above.\n\n")
		}
	}
}

// hostSummaries is the median of each part of the host memory lines:
// peak, guest RAM, monitor private, shared file pages.
func hostSummaries(hs []hostMem) []float64 {
	var peak, guest, priv, shared []int64
	for _, h := range hs {
		peak, guest = append(peak, h.Peak), append(guest, h.Guest)
		priv, shared = append(priv, h.Private), append(shared, h.Shared)
	}
	return []float64{summarize(ints(peak)).Median, summarize(ints(guest)).Median, summarize(ints(priv)).Median, summarize(ints(shared)).Median}
}
