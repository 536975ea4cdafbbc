package main

import (
	"fmt"
	"strings"
)

// fmtMBps formats a rate in bytes/s as MB/s (10^6 bytes).
func fmtMBps(bps float64) string {
	mb := bps / 1e6
	switch {
	case bps <= 0:
		return "n/a"
	case mb >= 100:
		return fmt.Sprintf("%.0f MB/s", mb)
	}
	return fmt.Sprintf("%.3g MB/s", mb)
}

// fmtSize formats a byte count as MiB when it is a whole number of them,
// else as KiB.
func fmtSize(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmtBytes(int64(n))
}

// fmtCount formats a count with k or M and 3 significant digits: 351k.
func fmtCount(v float64) string {
	switch {
	case v <= 0:
		return "n/a"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// rateUnit formats a rate of the given key: bytes/s as MB/s, the rest as
// counts per second.
func rateUnit(key string) func(float64) string {
	switch key {
	case "walk":
		return func(v float64) string { return fmtCount(v) + " entries/s" }
	case "create", "unlink", "create-fsync":
		return func(v float64) string { return fmtCount(v) + " files/s" }
	}
	return fmtMBps
}

// rateCell is "median (min – max)" of a competitor's rate, or why there is
// none.
func rateCell(c *fileComp, key string) string {
	if c == nil || c.Skipped != "" {
		return "skipped"
	}
	s := summarize(c.Rates[key])
	if s.N == 0 {
		return "failed"
	}
	f := rateUnit(key)
	num := func(v float64) string { return strings.Fields(f(v))[0] }
	if s.N == 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s (%s – %s)", f(s.Median), num(s.Min), num(s.Max))
}

// rateRatio is brique's median rate over c's: above 1× Brique was faster.
func rateRatio(brique, c *fileComp, key string) string {
	if c == nil || c.Skipped != "" || brique.Skipped != "" {
		return "skipped"
	}
	return ratio(brique.median(key), c.median(key))
}

func compByName(cs []*fileComp, name string) *fileComp {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// filesHeadline adds the files rows to the headline table.
func (r *report) filesHeadline(p func(string, ...any)) {
	f := r.Files
	if f == nil || f.Err != "" {
		return
	}
	nat, bq, rc := compByName(f.Read, "native"), compByName(f.Read, "brique"), compByName(f.Read, "runc")
	med := func(c *fileComp, key string) string {
		if c == nil || !c.ran() {
			return "skipped"
		}
		return rateUnit(key)(c.median(key))
	}
	key := filereadKey("readfile", "all")
	p("| read the embedded root file system: `os.ReadFile` of every file of a %s tree (median rate; native and runc read the host's page cache) | %s | %s | %s | not run | brique/native %s, brique/runc %s (rates: above 1× Brique is faster) |\n",
		fmtKiB(float64(f.Tree.Bytes)/1024), med(bq, key), med(nat, key), med(rc, key), rateRatio(bq, nat, key), rateRatio(bq, rc, key))
	tb, shm, tmp, trc := compByName(f.Tmp, "brique"), compByName(f.Tmp, "native-shm"), compByName(f.Tmp, "native-tmp"), compByName(f.Tmp, "runc")
	fsName := strings.Fields(f.TmpFS)[0]
	p("| /tmp: create, write and close a 4 KiB file (median) | %s | %s on /dev/shm (tmpfs); %s on /tmp (%s) | %s (tmpfs mount) | not run | brique/native-shm %s, brique/runc %s |\n",
		med(tb, "create"), med(shm, "create"), med(tmp, "create"), fsName, med(trc, "create"), rateRatio(tb, shm, "create"), rateRatio(tb, trc, "create"))
	pair := func(c *fileComp) string {
		if c == nil || !c.ran() {
			return "skipped"
		}
		return med(c, "write") + " / " + med(c, "read")
	}
	p("| /tmp: write / read a 2 MiB file in 64 KiB calls (median) | %s | %s on /dev/shm | %s | not run | brique/native-shm %s / %s, brique/runc %s / %s |\n",
		pair(tb), pair(shm), pair(trc), rateRatio(tb, shm, "write"), rateRatio(tb, shm, "read"), rateRatio(tb, trc, "write"), rateRatio(tb, trc, "read"))
	if pb := probeCell(tb); pb != "" {
		p("| /tmp: empty files that can exist at once (tried %d) | %s | %s | %s | | |\n", tmpProbe, pb, probeCell(shm), probeCell(trc))
	}
}

// probeCell summarizes a competitor's probes: "253 (no space left on
// device)"; the smallest count if runs differ.
func probeCell(c *fileComp) string {
	if c == nil || !c.ran() || len(c.Probe) == 0 {
		return ""
	}
	lo := c.Probe[0]
	for _, pr := range c.Probe[1:] {
		if pr.Files < lo.Files {
			lo = pr
		}
	}
	s := fmt.Sprintf("%d", lo.Files)
	if lo.Files < lo.Of {
		why := lo.Err
		if i := strings.LastIndex(why, ": "); i >= 0 {
			why = why[i+2:]
		}
		s += " (then: " + why + ")"
	} else {
		s += " (all)"
	}
	return s
}

// filesSkipped lists the files scenario's optional competitors that did
// not run.
func (r *report) filesSkipped() []string {
	f := r.Files
	if f == nil {
		return nil
	}
	var s []string
	for _, c := range f.all() {
		if c.Required {
			continue
		}
		if c.Skipped != "" {
			s = append(s, fmt.Sprintf("files: **%s** (%s) skipped: %s", c.Name, c.Label, mdEscape(c.Skipped)))
		} else if c.Failures > 0 {
			s = append(s, fmt.Sprintf("files: **%s** (%s) failed %d of %d runs (not in the numbers): %s", c.Name, c.Label, c.Failures, c.Failures+len(c.Walls), mdEscape(c.Failure)))
		}
	}
	s = append(s, "files: **Linux VM (QEMU/TCG)** not run: its reads and writes would be memory copies emulated by TCG, which says nothing about a Linux VM's file systems on KVM")
	return s
}

func (r *report) filesSection(p func(string, ...any)) {
	f := r.Files
	p("## 6. Files: the embedded root file system and /tmp\n\n")
	if f == nil {
		p("Not run.\n\n")
		return
	}
	if f.Err != "" {
		p("Set-up failed: %s\n\n", mdEscape(f.Err))
		return
	}
	p("Both programs time themselves and print one line per measurement; every competitor ran each program %d time(s), interleaved (the order rotating), each run %d timed round(s); ", f.Runs, f.Rounds)
	p("the tables give the **median over all %d round(s)** and, in parentheses, min – max. ", f.Runs*f.Rounds)
	p("These are **rates: higher is better**, and the ratios are of rates, so brique/native above 1× means Brique was faster (the opposite of the time ratios above). MB = 10⁶ bytes. ")
	p("Each run's own measurements must add up to less than its process's wall time (a check on the guest's clock), and the data must read back as written.\n\n")

	p("### Reading the root file system\n\n")
	p("The tree (written by the harness, pseudo-random data): `/%s/large.bin` of %s and `/%s/small/` with %d files of %s each, %d files and %s in all (%d bytes). ",
		treeDir, fmtSize(treeLarge), treeDir, treeSmallFiles, fmtSize(treeSmall), f.Tree.Files, fmtKiB(float64(f.Tree.Bytes)/1024), f.Tree.Bytes)
	p("`brique build --rootfs` embedded it in a %s image (the program alone: %s) in %s. The monitor copies the whole image, tree included, into guest memory when the VM starts (hence the longer set-up below) and the library OS serves the reads from there in place, without another copy; with the program's own buffers that does not fit in the default `-m 64M`, so Brique ran with `-m %s`. ",
		fmtKiB(float64(f.Image)/1024), fmtBytes(f.Program), fmtDur(float64(f.Build)), f.Mem)
	p("[`bench/programs/fileread`](../bench/programs/fileread) walks the tree, reads every file once untimed (its CRC-32 must match the tree's; natively this also warms the page cache), then in each round walks it again and reads every file once with `os.ReadFile` and once through one reused 64 KiB buffer (`Open`, `Read` until EOF, `Close`), the two ways alternating in order. ")
	p("`os.ReadFile` allocates a new buffer of the file's size on every call, so for the large file it also measures faulting in %s of fresh memory (natively a host page fault per 4 KiB page, dear under kvm-pvm; in Brique, the guest's own page-fault handler); the 64 KiB reads reuse one buffer and show the read path alone.\n\n", fmtSize(treeLarge))
	nat, bq, rc := compByName(f.Read, "native"), compByName(f.Read, "brique"), compByName(f.Read, "runc")
	p("| read | Brique | native | runc | brique/native | brique/runc |\n|---|---|---|---|---|---|\n")
	wayName := map[string]string{"readfile": "`os.ReadFile`", "read64k": "64 KiB reads"}
	setName := map[string]string{
		"large": fmt.Sprintf("the %s file", fmtSize(treeLarge)),
		"small": fmt.Sprintf("%d files of %s", treeSmallFiles, fmtSize(treeSmall)),
		"all":   "**whole tree**",
	}
	for _, w := range readWays {
		for _, s := range readSets {
			k := filereadKey(w, s)
			p("| %s, %s | %s | %s | %s | %s | %s |\n", wayName[w], setName[s], rateCell(bq, k), rateCell(nat, k), rateCell(rc, k), rateRatio(bq, nat, k), rateRatio(bq, rc, k))
		}
	}
	p("| `filepath.WalkDir` of the tree and an `Lstat` of each file (%d entries) | %s | %s | %s | %s | %s |\n\n",
		f.Tree.Files+2, rateCell(bq, "walk"), rateCell(nat, "walk"), rateCell(rc, "walk"), rateRatio(bq, nat, "walk"), rateRatio(bq, rc, "walk"))
	r.filesRuns(p, f.Read)
	if bq != nil && len(bq.Setup) > 0 {
		su, w := summarize(durations(bq.Setup)), summarize(durations(bq.Walls))
		p("Brique with a %s image: monitor set-up (from `--stats`) %s median (min %s, max %s), against %s for the %s hello image in scenario 1; the whole fileread process (boot, the untimed pass, %d round(s)) took %s median.\n\n",
			fmtKiB(float64(f.Image)/1024), fmtDur(su.Median), fmtDur(su.Min), fmtDur(su.Max), fmtDur(summarize(durations(r.Boot.Setup)).Median), fmtBytes(r.Mem.ImageSize), f.Rounds, fmtDur(w.Median))
	}

	p("### Writing and reading /tmp\n\n")
	p("[`bench/programs/tmpfs`](../bench/programs/tmpfs) works in a new directory under `-dir`. Each round creates %d files of %s (`O_CREAT|O_TRUNC`, one write, close) in batches of %d, removing each batch after it (unlink is timed separately), ", tmpFiles, fmtSize(tmpSize), tmpBatch)
	p("then truncates and rewrites one %s file %d times in %s writes (no fsync) and reads it back %d times in %s reads; an untimed read checks the data. ", fmtSize(tmpBig), f.Reps, fmtSize(tmpChunk), f.Reps, fmtSize(tmpChunk))
	p("Batches of %d because Brique's /tmp keeps its nodes in a fixed table; before the rounds an untimed probe creates up to %d empty files at once and reports how many fit. ", tmpBatch, tmpProbe)
	p("The 2 MiB file is the largest Brique's /tmp holds.\n\n")
	p("Where the files went: Brique, its library OS's in-memory /tmp (4 KiB frames of guest memory); native, **/tmp, which on this machine is %s, a disk file system** (writes land in the page cache and are not synced, but creating and removing files updates the journal), and /dev/shm, %s, to compare like with like; ", f.TmpFS, f.ShmFS)
	p("runc, a tmpfs the harness adds to the bundle at /tmp (`%s`, options `%s`; the rest of the container's root is read-only).\n\n", f.RuncTmp.Type, strings.Join(f.RuncTmp.Options, ","))
	tb, shm, tmp, trc := compByName(f.Tmp, "brique"), compByName(f.Tmp, "native-shm"), compByName(f.Tmp, "native-tmp"), compByName(f.Tmp, "runc")
	p("| operation | %s | %s | %s | %s | brique/native-shm | brique/native-tmp | brique/runc |\n|---|---|---|---|---|---|---|---|\n", tb.Label, shm.Label, tmp.Label, trc.Label)
	opName := map[string]string{
		"create": fmt.Sprintf("create + write %s + close", fmtSize(tmpSize)),
		"unlink": "unlink",
		"write":  fmt.Sprintf("write a %s file (after `O_TRUNC`)", fmtSize(tmpBig)),
		"read":   fmt.Sprintf("read the %s file", fmtSize(tmpBig)),
	}
	for _, k := range tmpfsKeys {
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", opName[k], rateCell(tb, k), rateCell(shm, k), rateCell(tmp, k), rateCell(trc, k), rateRatio(tb, shm, k), rateRatio(tb, tmp, k), rateRatio(tb, trc, k))
	}
	p("| empty files at once (probe, tried %d) | %s | %s | %s | %s | | | |\n\n", tmpProbe, probeCell(tb), probeCell(shm), probeCell(tmp), probeCell(trc))
	r.filesRuns(p, f.Tmp)
	if len(f.Leftovers) > 0 {
		p("Left behind by the tmpfs program (removed by the harness; a failure): %s.\n\n", mdEscape(strings.Join(f.Leftovers, ", ")))
	} else {
		p("The tmpfs program removed its directories: none was left in the native /tmp or /dev/shm.\n\n")
	}
}

// filesRuns lists what ran for each competitor, and how often it failed.
func (r *report) filesRuns(p func(string, ...any), cs []*fileComp) {
	p("What ran:\n\n")
	for _, c := range cs {
		switch {
		case c.Skipped != "":
			p("- %s: skipped — %s; %s\n", c.Label, mdEscape(c.Skipped), c.How)
		default:
			timed := summarize(durations(c.Timed))
			wall := summarize(durations(c.Walls))
			p("- %s: %s; %d run(s)", c.Label, c.How, len(c.Walls))
			if c.Failures > 0 {
				p(", %d failed (%s)", c.Failures, mdEscape(c.Failure))
			}
			if wall.N > 0 {
				p("; process %s, of which measured %s (medians)", fmtDur(wall.Median), fmtDur(timed.Median))
			}
			p("\n")
		}
	}
	p("\n")
}
