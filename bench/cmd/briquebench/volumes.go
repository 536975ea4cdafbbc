package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The volumes scenario measures file I/O on a host directory: Brique
// with the directory as a volume (`brique run -v HOSTDIR:/data`, served
// over virtio-9p by brique-9pd), against the same program run natively
// on a host directory and in a runc container on a bind mount of one.
// bench/programs/volbench times itself and prints one line per
// measurement. Each run is two processes on a fresh, empty host
// directory: the write phase (a large file written and synced, small files
// created and synced), then, after the harness has checked the files on
// the host and dropped the large one from the host's page cache with
// posix_fadvise(POSIX_FADV_DONTNEED), the read phase (the large file read
// cold, then again at once, warm).

// What volbench writes (bench/programs/volbench: keep in step).
const (
	volChunk    = 1 << 20 // bytes per write and read of the large file
	volSmall    = 4 << 10 // bytes per small file
	volSeqName  = "volbench-seq.bin"
	volSmallDir = "volbench-small"
	volGuestDir = "/data" // where the directory is mounted in the guest and in runc
)

// volKeys are volbench's measurements, in report order, and the phase
// that prints each.
var (
	volKeys  = []string{"seqwrite", "seqread", "seqread-warm", "create-fsync"}
	volPhase = map[string][]string{"write": {"seqwrite", "create-fsync"}, "read": {"seqread", "seqread-warm"}}
)

// parseVolbench reads volbench's output: the rate of each measurement
// (bytes/s; create-fsync in files/s) and the sum of the times it
// measured. The sizes must be those the harness asked for (mib MiB for
// the large file, files small files of 4 KiB), and no measurement may
// appear twice.
func parseVolbench(stdout string, mib, files int) (map[string]float64, time.Duration, error) {
	rates := map[string]float64{}
	var timed time.Duration
	for _, line := range strings.Split(stdout, "\n") {
		kv, ok := parseKV(line, "volbench")
		if !ok {
			continue
		}
		op := kv["op"]
		if _, dup := rates[op]; dup {
			return nil, 0, fmt.Errorf("%q: a second %s result", line, op)
		}
		var v []int64
		var err error
		var n int64
		switch op {
		case "seqwrite", "seqread", "seqread-warm":
			if v, err = kvInts(kv, "bytes", "ns"); err == nil {
				if n = v[0]; n != int64(mib)*volChunk {
					err = fmt.Errorf("bytes=%d, the harness asked for %d MiB", n, mib)
				}
			}
		case "create-fsync":
			if v, err = kvInts(kv, "files", "bytes", "ns"); err == nil {
				if n = v[0]; n != int64(files) || v[1] != volSmall {
					err = fmt.Errorf("%d files of %d bytes, the harness asked for %d of %d", n, v[1], files, volSmall)
				}
			}
		default:
			err = fmt.Errorf("unknown op %q", op)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		ns := v[len(v)-1]
		rate, err := perSecond(n, ns)
		if err != nil {
			return nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		rates[op] = rate
		timed += time.Duration(ns)
	}
	return rates, timed, nil
}

// checkVolDir checks what the write phase left in the host directory
// dir: the large file of mib MiB and files small files of 4 KiB, nothing
// else. It reads no data (that would bring it into the page cache).
func checkVolDir(dir string, mib, files int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != volSeqName || names[1] != volSmallDir {
		return fmt.Errorf("%s holds %q, want [%s %s]", dir, names, volSeqName, volSmallDir)
	}
	st, err := os.Stat(filepath.Join(dir, volSeqName))
	if err != nil {
		return err
	}
	if want := int64(mib) * volChunk; !st.Mode().IsRegular() || st.Size() != want {
		return fmt.Errorf("%s: %v, %d bytes, want a regular file of %d", st.Name(), st.Mode(), st.Size(), want)
	}
	small := filepath.Join(dir, volSmallDir)
	ents, err = os.ReadDir(small)
	if err != nil {
		return err
	}
	if len(ents) != files {
		return fmt.Errorf("%s holds %d entries, want %d files", small, len(ents), files)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() || info.Size() != volSmall {
			return fmt.Errorf("%s/%s: %v, %d bytes, want a regular file of %d", small, e.Name(), info.Mode(), info.Size(), volSmall)
		}
	}
	return nil
}

// dropFromCache evicts path's pages from the host's page cache with
// posix_fadvise(POSIX_FADV_DONTNEED) — the file alone, unlike
// /proc/sys/vm/drop_caches, which would disturb everything else — and
// returns the share of its pages still resident afterwards, from
// mincore(2). Only clean pages are dropped: the file must have been
// synced.
func dropFromCache(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return 0, fmt.Errorf("posix_fadvise %s: %w", path, err)
	}
	if st.Size() == 0 {
		return 0, nil
	}
	// Mapping the file faults nothing in; mincore only reports.
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("mmap %s: %w", path, err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if err := mincore(m, vec); err != nil {
		return 0, fmt.Errorf("mincore %s: %w", path, err)
	}
	in := 0
	for _, b := range vec {
		in += int(b & 1)
	}
	return float64(in) / float64(len(vec)), nil
}

// volComp is one competitor of the volumes scenario; its Rates have one
// value per run.
type volComp struct {
	fileComp
	Dir      string    // the host directory it works in, emptied before each run
	Resident []float64 // per run: share of the large file's pages in the page cache just before the cold read

	phaseArgv func(phase string) ([]string, func())
}

type volResult struct {
	Err       string // set-up failed: nothing ran
	Runs      int
	MiB       int
	Files     int
	FS        string // what holds the host directories
	RuncMount ociMount
	Comps     []*volComp
	Checked   []string
	Leftovers []string
}

func (v *volResult) comp(name string) *volComp {
	for _, c := range v.Comps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// volScenario runs volbench on every competitor, cfg.VolRuns times,
// interleaved.
func volScenario(r *runner, cfg config, work string, a *artifacts, rc *runcEnv, runcSkip string) *volResult {
	res := &volResult{Runs: cfg.VolRuns, MiB: cfg.VolMiB, Files: cfg.VolFiles}
	base := filepath.Join(work, "volumes")
	if err := os.Mkdir(base, 0o755); err != nil {
		res.Err = "making the host directory: " + err.Error()
		return res
	}
	res.FS = describeDir(base)
	args := func(dir, phase string) []string {
		return []string{"-dir", dir, "-mib", strconv.Itoa(cfg.VolMiB), "-files", strconv.Itoa(cfg.VolFiles), "-phase", phase}
	}
	comp := func(name, label, how string, required bool) *volComp {
		return &volComp{fileComp: fileComp{Name: name, Label: label, How: how, Required: required}, Dir: filepath.Join(base, name)}
	}
	bq := comp("brique", "Brique (volume)",
		fmt.Sprintf("`brique run -v HOSTDIR:%s volbench.img -- -dir %s -phase write`, then `-phase read` (default -m 64M): virtio-9p, served on the host by brique-9pd", volGuestDir, volGuestDir), true)
	bq.phaseArgv = func(phase string) ([]string, func()) {
		return append([]string{a.brique, "run", "-v", bq.Dir + ":" + volGuestDir, a.images["volbench"], "--"}, args(volGuestDir, phase)...), nop
	}
	nat := comp("native", "native", "the static volbench binary, `-dir HOSTDIR`", true)
	nat.phaseArgv = func(phase string) ([]string, func()) {
		return append([]string{a.native["volbench"]}, args(nat.Dir, phase)...), nop
	}
	ctr := comp("runc", "runc (bind mount)", "", false)
	res.RuncMount = ociMount{Destination: volGuestDir, Type: "bind", Source: ctr.Dir, Options: []string{"rbind", "rw"}}
	ctr.How = fmt.Sprintf("`runc run`, rootfs = the static volbench binary (read-only), HOSTDIR bind-mounted at %s (options `%s`), `-dir %s`", volGuestDir, strings.Join(res.RuncMount.Options, ","), volGuestDir)
	res.Comps = []*volComp{bq, nat, ctr}
	if rc == nil {
		ctr.Skipped = runcSkip
	} else {
		bundles := map[string]string{}
		for phase := range volPhase {
			dir := filepath.Join(work, "bundle-volbench-"+phase)
			if err := rc.writeBundleMounts(dir, a.native["volbench"], []ociMount{res.RuncMount}, args(volGuestDir, phase)...); err != nil {
				ctr.Skipped = "writing the bundle: " + err.Error()
				break
			}
			bundles[phase] = dir
		}
		ctr.phaseArgv = func(phase string) ([]string, func()) {
			argv, id := rc.argvBundle(bundles[phase])
			return argv, func() { rc.remove(id) }
		}
	}

	logf("scenario 8: volumes, %d MiB written and read, %d files created (%d runs each)", cfg.VolMiB, cfg.VolFiles, cfg.VolRuns)
	runVolumes(r, res)

	// Each run removes its directory; anything still there is a failure.
	if ents, err := os.ReadDir(base); err != nil {
		res.Leftovers = append(res.Leftovers, "reading "+base+": "+err.Error())
	} else {
		for _, e := range ents {
			res.Leftovers = append(res.Leftovers, filepath.Join(base, e.Name())+" (removed)")
		}
	}
	if err := os.RemoveAll(base); err != nil {
		res.Leftovers = append(res.Leftovers, "removing "+base+": "+err.Error())
	}
	res.Checked = append(res.Checked, "the host directories (removed after each run)")
	// brique-9pd exits when brique closes its socket; give it a moment.
	deadline := time.Now().Add(netStopTimeout)
	for {
		left := fromWork(work)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				res.Leftovers = append(res.Leftovers, fmt.Sprintf("process %d (%s) still ran from the work directory (killed)", p.PID, p.Comm))
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Checked = append(res.Checked, "every process whose command line names the harness's work directory (brique-9pd)")
	return res
}

// runVolumes runs every competitor res.Runs times, interleaved (the order
// rotates from one pass to the next); a runc that fails its first run is
// skipped.
func runVolumes(r *runner, res *volResult) {
	var active []*volComp
	for _, c := range res.Comps {
		if c.Skipped == "" {
			c.Rates = map[string][]float64{}
			active = append(active, c)
		}
	}
	for i := 0; i < res.Runs; i++ {
		for j := range active {
			c := active[(i+j)%len(active)]
			if c.Skipped != "" {
				continue
			}
			rates, wall, timed, resident, err := volRun(r, c, res)
			if err != nil {
				why := err.Error()
				if !c.Required && len(c.Walls) == 0 && c.Failures == 0 {
					c.Skipped = why
					continue
				}
				c.Failures++
				if c.Failure == "" {
					c.Failure = why
				}
				continue
			}
			c.Walls = append(c.Walls, wall)
			c.Timed = append(c.Timed, timed)
			c.Resident = append(c.Resident, resident)
			for _, k := range volKeys {
				c.Rates[k] = append(c.Rates[k], rates[k])
			}
			logf("scenario 8: %s: write %s, read cold %s, warm %s, create+fsync %s", c.Name,
				fmtMBps(rates["seqwrite"]), fmtMBps(rates["seqread"]), fmtMBps(rates["seqread-warm"]), rateUnit("create-fsync")(rates["create-fsync"]))
		}
	}
}

// volRun is one run of volbench on c, in a fresh host directory that it
// removes afterwards: the write phase, the checks on the host, the
// eviction of the large file, the read phase. wall and timed are the two
// processes' together.
func volRun(r *runner, c *volComp, res *volResult) (rates map[string]float64, wall, timed time.Duration, resident float64, err error) {
	if err := os.RemoveAll(c.Dir); err != nil {
		return nil, 0, 0, 0, err
	}
	if err := os.Mkdir(c.Dir, 0o755); err != nil {
		return nil, 0, 0, 0, err
	}
	defer func() {
		if rerr := os.RemoveAll(c.Dir); rerr != nil {
			res.Leftovers = append(res.Leftovers, "removing "+c.Dir+": "+rerr.Error())
		}
	}()
	rates = map[string]float64{}
	phase := func(name string) error {
		argv, after := c.phaseArgv(name)
		out := r.run(argv)
		after()
		if out.Err != nil || out.TimedOut || out.Exit != 0 {
			return fmt.Errorf("%s phase: %s", name, out.describe(""))
		}
		rs, t, err := parseVolbench(out.Stdout, res.MiB, res.Files)
		if err != nil {
			return fmt.Errorf("%s phase: %w", name, err)
		}
		if len(rs) != len(volPhase[name]) {
			return fmt.Errorf("%s phase: want %s results, got %q", name, strings.Join(volPhase[name], " and "), clip(out.Stdout, 300))
		}
		for _, k := range volPhase[name] {
			if _, ok := rs[k]; !ok {
				return fmt.Errorf("%s phase: no %s result in %q", name, k, clip(out.Stdout, 300))
			}
			rates[k] = rs[k]
		}
		if t > out.Wall {
			return fmt.Errorf("%s phase: the program measured %v in all, more than the %v its whole process took (a clock is wrong)", name, t, out.Wall)
		}
		wall += out.Wall
		timed += t
		return nil
	}
	if err := phase("write"); err != nil {
		return nil, 0, 0, 0, err
	}
	if err := checkVolDir(c.Dir, res.MiB, res.Files); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("after the write phase, on the host: %w", err)
	}
	if resident, err = dropFromCache(filepath.Join(c.Dir, volSeqName)); err != nil {
		return nil, 0, 0, 0, err
	}
	if err := phase("read"); err != nil {
		return nil, 0, 0, 0, err
	}
	return rates, wall, timed, resident, nil
}

// problems lists the volumes scenario's failures (brique and native must
// run; nothing may be left behind).
func (v *volResult) problems() []string {
	if v == nil {
		return nil
	}
	if v.Err != "" {
		return []string{"volumes: " + v.Err}
	}
	var ps []string
	for _, c := range v.Comps {
		if !c.Required {
			continue
		}
		switch {
		case c.Skipped != "":
			ps = append(ps, fmt.Sprintf("volumes: %s could not run: %s", c.Name, c.Skipped))
		case c.Failures > 0:
			ps = append(ps, fmt.Sprintf("volumes: %s failed %d of %d runs: %s", c.Name, c.Failures, c.Failures+len(c.Walls), c.Failure))
		}
	}
	for _, l := range v.Leftovers {
		ps = append(ps, "volumes: left behind: "+l)
	}
	return ps
}
