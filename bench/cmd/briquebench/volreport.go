package main

import (
	"fmt"
	"slices"
	"strings"
)

// volCell is rateCell for the volumes tables: a competitor that could not
// run is "not measured" (the reason is in the list below the table).
func volCell(c *volComp, key string) string {
	if c == nil || c.Skipped != "" {
		return "not measured"
	}
	return rateCell(&c.fileComp, key)
}

// volRatio is Brique's median rate over c's (above 1×: Brique was
// faster), or "n/a".
func volRatio(brique, c *volComp, key string) string {
	if c == nil || brique == nil || !c.ran() || !brique.ran() {
		return "n/a"
	}
	return ratio(brique.median(key), c.median(key))
}

// volOpName describes each measurement in the tables.
func (v *volResult) volOpName(key string) string {
	switch key {
	case "seqwrite":
		return fmt.Sprintf("sequential write: %d MiB in 1 MiB writes, then fsync and close", v.MiB)
	case "seqread":
		return "sequential read of that file in 1 MiB reads, **cold** (evicted from the host's page cache)"
	case "seqread-warm":
		return "the same read again at once, **warm**"
	case "create-fsync":
		return fmt.Sprintf("small files: create, write 4 KiB, fsync, close (%d files)", v.Files)
	}
	return key
}

// maxResident is the largest share of the large file's pages found in
// the page cache just before a cold read, over every run of every
// competitor, and whether there was any.
func (v *volResult) maxResident() (float64, bool) {
	var all []float64
	for _, c := range v.Comps {
		all = append(all, c.Resident...)
	}
	if len(all) == 0 {
		return 0, false
	}
	return slices.Max(all), true
}

// volHeadline adds the volumes rows to the headline table.
func (r *report) volHeadline(p func(string, ...any)) {
	v := r.Vol
	if v == nil || v.Err != "" {
		return
	}
	bq, nat, ctr := v.comp("brique"), v.comp("native"), v.comp("runc")
	med := func(c *volComp, key string) string {
		switch {
		case c == nil || c.Skipped != "":
			return "not measured"
		case !c.ran():
			return "failed"
		}
		return rateUnit(key)(c.median(key))
	}
	pair := func(c *volComp) string {
		if c == nil || !c.ran() {
			return med(c, "seqwrite")
		}
		return med(c, "seqwrite") + " / " + med(c, "seqread")
	}
	p("| host directory (`brique run -v`; runc: bind mount): write %d MiB + fsync / read it back cold (median) | %s | %s | %s | not run | brique/native %s / %s, brique/runc %s / %s |\n",
		v.MiB, pair(bq), pair(nat), pair(ctr), volRatio(bq, nat, "seqwrite"), volRatio(bq, nat, "seqread"), volRatio(bq, ctr, "seqwrite"), volRatio(bq, ctr, "seqread"))
	p("| host directory: create, write 4 KiB, fsync, close (median) | %s | %s | %s | not run | brique/native %s, brique/runc %s |\n",
		med(bq, "create-fsync"), med(nat, "create-fsync"), med(ctr, "create-fsync"), volRatio(bq, nat, "create-fsync"), volRatio(bq, ctr, "create-fsync"))
}

// volSkipped lists the volumes competitors that did not run, or not
// fully.
func (r *report) volSkipped() []string {
	v := r.Vol
	if v == nil {
		return nil
	}
	if v.Err != "" {
		return []string{"volumes: the scenario could not be set up: " + mdEscape(v.Err)}
	}
	var s []string
	for _, c := range v.Comps {
		if c.Required {
			continue // their failures are problems
		}
		if c.Skipped != "" {
			s = append(s, fmt.Sprintf("volumes: **%s** not measured: %s", c.Label, mdEscape(c.Skipped)))
		} else if c.Failures > 0 {
			s = append(s, fmt.Sprintf("volumes: **%s** failed %d of %d runs (not in the numbers): %s", c.Label, c.Failures, c.Failures+len(c.Walls), mdEscape(c.Failure)))
		}
	}
	return append(s, "volumes: **Linux VM (QEMU/TCG)** not run: its shared directory would be QEMU's 9P or virtiofs driven by a software CPU, which says nothing about a Linux VM's shared directories on KVM")
}

func (r *report) volSection(p func(string, ...any)) {
	v := r.Vol
	p("## 8. Volumes: a host directory shared with the guest\n\n")
	if v == nil {
		p("Not run.\n\n")
		return
	}
	if v.Err != "" {
		p("Set-up failed: %s\n\n", mdEscape(v.Err))
		return
	}
	p("[`bench/programs/volbench`](../bench/programs/volbench) times itself (from the open to the close of each file) and prints one line per measurement; the same program ran natively, in a runc container and in Brique, %d time(s) each, interleaved (the order rotating). ", v.Runs)
	p("Each run works in a fresh, empty host directory under the harness's temporary directory, on **%s**, and is two processes:\n\n", v.FS)
	p("1. **write**: one file of %d MiB written in 1 MiB writes, then fsync and close; then, in a new directory, %d files each created (`O_CREAT|O_EXCL`), written with one 4 KiB write, fsynced and closed.\n", v.MiB, v.Files)
	p("2. Between the two, the harness checks **on the host** that the file and the %d small files are there with their sizes (the data reached the host directory), then evicts the large file from the host's page cache with `posix_fadvise(POSIX_FADV_DONTNEED)` on it — that file only: `/proc/sys/vm/drop_caches` is global and would disturb whatever else runs. ", v.Files)
	if mr, ok := v.maxResident(); ok {
		p("`mincore(2)` then found at most %.1f%% of its pages still resident (over every run).\n", 100*mr)
	} else {
		p("\n")
	}
	p("3. **read**: the file read in 1 MiB reads, each MiB checked to carry its own number: first **cold**, from the host's block device (where that is a virtual disk, the machine's own host may still cache it below), then at once a second time, **warm**, from the host's page cache as the first read left it.\n\n")
	p("Brique's path: the library OS forwards each call under `%s` to its volume service (guest/vol), a 9P2000.L client that sends the requests over a virtio-9p device; the monitor hands them to `brique-9pd`, a separate host process that performs them in the directory, and the guest's fsync returns after the host's fsync(2). ", volGuestDir)
	p("guest/vol caches no file data: the warm read crosses 9P again and reads the host's page cache. ")
	p("runc: the directory bind-mounted into the container (`%s`, options `%s`), the container's own root read-only; native: the directory itself.\n\n", v.RuncMount.Type, strings.Join(v.RuncMount.Options, ","))
	p("These are **rates: higher is better**; brique/native and brique/runc above 1× mean Brique was faster. Medians over the runs, min – max in parentheses; MB = 10⁶ bytes.\n\n")
	p("%s\n\n", r.measuredIn())
	bq, nat, ctr := v.comp("brique"), v.comp("native"), v.comp("runc")
	p("| operation | %s | %s | %s | brique/native | brique/runc |\n|---|---|---|---|---|---|\n", bq.Label, nat.Label, ctr.Label)
	for _, k := range volKeys {
		p("| %s | %s | %s | %s | %s | %s |\n", v.volOpName(k), volCell(bq, k), volCell(nat, k), volCell(ctr, k), volRatio(bq, nat, k), volRatio(bq, ctr, k))
	}
	p("\nWhat ran:\n\n")
	for _, c := range v.Comps {
		if c.Skipped != "" {
			p("- %s: not measured — %s; %s\n", c.Label, mdEscape(c.Skipped), c.How)
			continue
		}
		p("- %s: %s; %d run(s)", c.Label, c.How, len(c.Walls))
		if c.Failures > 0 {
			p(", %d failed (%s)", c.Failures, mdEscape(c.Failure))
		}
		if len(c.Walls) > 0 {
			p("; both processes %s, of which measured %s (medians)", fmtDur(summarize(durations(c.Walls)).Median), fmtDur(summarize(durations(c.Timed)).Median))
		}
		p("\n")
	}
	p("\n")
	if len(v.Leftovers) > 0 {
		p("Left behind (removed by the harness; a failure): %s.\n\n", mdEscape(strings.Join(v.Leftovers, "; ")))
	} else {
		p("Nothing was left behind; checked: %s.\n\n", strings.Join(v.Checked, "; "))
	}
}
