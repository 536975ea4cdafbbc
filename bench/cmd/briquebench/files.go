package main

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The files scenario measures what issue 5's file systems offer so far:
// reading the read-only root file system embedded in the image
// (bench/programs/fileread) and writing and reading the in-memory /tmp
// (bench/programs/tmpfs), against the same programs run natively and in
// runc. The programs time themselves and print one line per measurement;
// the harness runs each competitor a few times, interleaved, and takes the
// median over every round of every run.

// The tree fileread reads: one large file and many small ones, about
// 32 MiB, written by the harness with pseudo-random (incompressible) data.
const (
	treeLarge      = 16 << 20
	treeSmallFiles = 1000
	treeSmall      = 16 << 10
	treeDir        = "data" // under the rootfs: /data in the guest and in runc
)

// The tmpfs program's parameters (reps and rounds come from the config).
const (
	tmpFiles = 1000
	tmpBatch = 200 // Brique's /tmp holds 255 nodes (probe shows it)
	tmpSize  = 4 << 10
	tmpBig   = 2 << 20 // the largest file Brique's /tmp holds
	tmpChunk = 64 << 10
	tmpProbe = 1000
)

// fileread keys, in report order; every round must have all of them.
var (
	readWays    = []string{"readfile", "read64k"}
	readSets    = []string{"large", "small", "all"}
	tmpfsKeys   = []string{"create", "unlink", "write", "read"}
	filereadKey = func(way, set string) string { return way + "/" + set }
)

// treeInfo is what a tree holds: regular files, their bytes, and the
// CRC-32 (IEEE) of their contents concatenated in filepath.WalkDir order,
// the order in which fileread checksums them.
type treeInfo struct {
	Files int
	Bytes int64
	CRC   uint32
}

// writeTree writes the benchmark tree into dir (created): large.bin of
// large bytes and small/fNNNN, n files of small bytes each.
func writeTree(dir string, large, n, small int) (treeInfo, error) {
	if err := os.MkdirAll(filepath.Join(dir, "small"), 0o755); err != nil {
		return treeInfo{}, err
	}
	rng := rand.New(rand.NewChaCha8([32]byte{'b', 'r', 'i', 'q', 'u', 'e'}))
	fill := func(b []byte) {
		for i := 0; i+8 <= len(b); i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
	}
	buf := make([]byte, large)
	fill(buf)
	if err := os.WriteFile(filepath.Join(dir, "large.bin"), buf, 0o644); err != nil {
		return treeInfo{}, err
	}
	buf = make([]byte, small)
	for i := 0; i < n; i++ {
		fill(buf)
		if err := os.WriteFile(filepath.Join(dir, "small", fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
			return treeInfo{}, err
		}
	}
	return describeTree(dir)
}

// describeTree reads every regular file under dir as fileread does.
func describeTree(dir string) (treeInfo, error) {
	var t treeInfo
	h := crc32.NewIEEE()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write(data)
		t.Files++
		t.Bytes += int64(len(data))
		return nil
	})
	t.CRC = h.Sum32()
	return t, err
}

// parseKV reads a result line "PREFIX key=value key=value ...", where a
// value is a bare word or a Go-quoted string. It reports false if the line
// does not start with PREFIX and a space, or is malformed.
func parseKV(line, prefix string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix+" ")
	if !ok {
		return nil, false
	}
	kv := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return kv, true
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 || strings.ContainsRune(rest[:eq], ' ') {
			return nil, false
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, false
			}
			v, _ := strconv.Unquote(q)
			kv[key] = v
			rest = rest[len(q):]
			if rest != "" && rest[0] != ' ' {
				return nil, false
			}
			continue
		}
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			sp = len(rest)
		}
		kv[key] = rest[:sp]
		rest = rest[sp:]
	}
}

// kvInts converts the named fields to int64s.
func kvInts(kv map[string]string, keys ...string) ([]int64, error) {
	out := make([]int64, len(keys))
	for i, k := range keys {
		v, ok := kv[k]
		if !ok {
			return nil, fmt.Errorf("no %s= field", k)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", k, v, err)
		}
		out[i] = n
	}
	return out, nil
}

// rounds maps a round number to its rates by key (bytes/s, files/s or
// entries/s, see rateUnit).
type rounds map[int]map[string]float64

func (rs rounds) add(round int, key string, rate float64) {
	if rs[round] == nil {
		rs[round] = map[string]float64{}
	}
	rs[round][key] = rate
}

// complete checks that there are exactly want rounds, numbered from 1,
// each with every key.
func (rs rounds) complete(want int, keys []string) error {
	if len(rs) != want {
		return fmt.Errorf("%d rounds reported, want %d", len(rs), want)
	}
	for r := 1; r <= want; r++ {
		m, ok := rs[r]
		if !ok {
			return fmt.Errorf("round %d missing", r)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				return fmt.Errorf("round %d: no %s result", r, k)
			}
		}
	}
	return nil
}

// perSecond is n units in ns nanoseconds, per second.
func perSecond(n, ns int64) (float64, error) {
	if ns <= 0 {
		return 0, fmt.Errorf("ns=%d", ns)
	}
	return float64(n) * 1e9 / float64(ns), nil
}

// fileReadKeys are every key a fileread round must have.
func fileReadKeys() []string {
	keys := []string{"walk"}
	for _, w := range readWays {
		for _, s := range readSets {
			keys = append(keys, filereadKey(w, s))
		}
	}
	return keys
}

// parseFileread reads fileread's output: the tree it saw, each round's
// rates (walk in entries/s, the reads in bytes/s; "all" is the large and
// small sets together) and the sum of the times it measured.
func parseFileread(stdout string) (treeInfo, rounds, time.Duration, error) {
	var tree treeInfo
	seenTree := false
	rs := rounds{}
	var timed time.Duration
	type acc struct{ bytes, ns int64 }
	all := map[int]map[string]*acc{}
	for _, line := range strings.Split(stdout, "\n") {
		kv, ok := parseKV(line, "fileread")
		if !ok {
			continue
		}
		if _, isOp := kv["op"]; !isOp {
			v, err := kvInts(kv, "files", "bytes")
			if err != nil {
				return tree, nil, 0, fmt.Errorf("fileread header %q: %w", line, err)
			}
			crc, err := strconv.ParseUint(kv["crc"], 16, 32)
			if err != nil {
				return tree, nil, 0, fmt.Errorf("fileread header %q: crc: %w", line, err)
			}
			tree, seenTree = treeInfo{Files: int(v[0]), Bytes: v[1], CRC: uint32(crc)}, true
			continue
		}
		op := kv["op"]
		if op == "walk" {
			v, err := kvInts(kv, "round", "entries", "ns")
			if err != nil {
				return tree, nil, 0, fmt.Errorf("%q: %w", line, err)
			}
			rate, err := perSecond(v[1], v[2])
			if err != nil {
				return tree, nil, 0, fmt.Errorf("%q: %w", line, err)
			}
			rs.add(int(v[0]), "walk", rate)
			timed += time.Duration(v[2])
			continue
		}
		v, err := kvInts(kv, "round", "files", "bytes", "ns")
		if err != nil {
			return tree, nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		set := kv["set"]
		if set != "large" && set != "small" {
			return tree, nil, 0, fmt.Errorf("%q: unknown set %q", line, set)
		}
		rate, err := perSecond(v[2], v[3])
		if err != nil {
			return tree, nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		round := int(v[0])
		rs.add(round, filereadKey(op, set), rate)
		timed += time.Duration(v[3])
		if all[round] == nil {
			all[round] = map[string]*acc{}
		}
		if all[round][op] == nil {
			all[round][op] = &acc{}
		}
		all[round][op].bytes += v[2]
		all[round][op].ns += v[3]
	}
	if !seenTree {
		return tree, nil, 0, fmt.Errorf("no fileread header line in %q", clip(stdout, 300))
	}
	for round, ops := range all {
		for op, a := range ops {
			rate, _ := perSecond(a.bytes, a.ns)
			rs.add(round, filereadKey(op, "all"), rate)
		}
	}
	return tree, rs, timed, nil
}

// probeResult is the tmpfs program's probe: how many empty files it could
// create at once, of how many it tried, and the error that stopped it.
type probeResult struct {
	Files, Of int
	Err       string
}

// parseTmpfs reads the tmpfs program's output: the probe, each round's
// rates (create and unlink in files/s, write and read in bytes/s) and the
// sum of the times it measured.
func parseTmpfs(stdout string) (probeResult, rounds, time.Duration, error) {
	var pr probeResult
	rs := rounds{}
	var timed time.Duration
	for _, line := range strings.Split(stdout, "\n") {
		if kv, ok := parseKV(line, "tmpfs probe"); ok {
			v, err := kvInts(kv, "files", "of")
			if err != nil {
				return pr, nil, 0, fmt.Errorf("%q: %w", line, err)
			}
			pr = probeResult{Files: int(v[0]), Of: int(v[1]), Err: kv["err"]}
			continue
		}
		kv, ok := parseKV(line, "tmpfs")
		if !ok {
			continue
		}
		op := kv["op"]
		var v []int64
		var err error
		var n int64
		switch op {
		case "create", "unlink":
			v, err = kvInts(kv, "round", "files", "ns")
			if err == nil {
				n = v[1]
			}
		case "write", "read":
			v, err = kvInts(kv, "round", "reps", "bytes", "ns")
			if err == nil {
				n = v[1] * v[2]
			}
		default:
			return pr, nil, 0, fmt.Errorf("%q: unknown op %q", line, op)
		}
		if err != nil {
			return pr, nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		ns := v[len(v)-1]
		rate, err := perSecond(n, ns)
		if err != nil {
			return pr, nil, 0, fmt.Errorf("%q: %w", line, err)
		}
		rs.add(int(v[0]), op, rate)
		timed += time.Duration(ns)
	}
	return pr, rs, timed, nil
}

// mountOf finds the mount that holds path in the text of /proc/self/mounts
// (the longest mount point that is path or one of its parents; the last
// one listed wins a tie, as it is mounted over the others). It returns
// the file system type and the source.
func mountOf(mounts, path string) (fstype, source, point string) {
	best := -1
	sc := bufio.NewScanner(strings.NewReader(mounts))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		mp := unescapeMount(f[1])
		if !(path == mp || mp == "/" || strings.HasPrefix(path, mp+"/")) {
			continue
		}
		if len(mp) >= best {
			best, fstype, source, point = len(mp), f[2], unescapeMount(f[0]), mp
		}
	}
	return fstype, source, point
}

// unescapeMount undoes the octal escapes (\040 for a space) of
// /proc/self/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// describeDir says which file system holds dir on this machine, e.g.
// "ext4 (/dev/vda on /)".
func describeDir(dir string) string {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	t, src, mp := mountOf(string(raw), real)
	if t == "" {
		return "unknown"
	}
	return fmt.Sprintf("%s (%s on %s)", t, src, mp)
}

// fileComp is one competitor of the files scenario.
type fileComp struct {
	Name     string // native, brique, runc, native-shm, ...
	Label    string // for the tables: "Brique /tmp (tmpfs)"
	How      string
	Skipped  string
	Required bool
	Failures int
	Failure  string
	Rates    map[string][]float64 // per key, one value per round of every run
	Walls    []time.Duration      // whole process, per run
	Timed    []time.Duration      // the program's own measurements, summed, per run
	Setup    []time.Duration      // brique --stats monitor set-up, per run
	Probe    []probeResult        // tmpfs: per run

	argv  func() ([]string, func())
	check func(stdout string) (rounds, time.Duration, error)
}

func (c *fileComp) median(key string) float64 { return summarize(c.Rates[key]).Median }

// ran reports whether at least one run succeeded.
func (c *fileComp) ran() bool { return c.Skipped == "" && len(c.Walls) > 0 }

type filesResult struct {
	Err       string // set-up failed (tree, image): nothing ran
	Tree      treeInfo
	Runs      int
	Rounds    int
	Reps      int
	Mem       string        // brique run -m for fileread
	Image     int64         // fileread image with the tree embedded, bytes
	Program   int64         // fileread image without it, bytes
	Build     time.Duration // brique build --rootfs, whole command
	Read, Tmp []*fileComp
	TmpFS     string // what holds the native /tmp
	ShmFS     string // what holds /dev/shm
	RuncTmp   ociMount
	RuncData  ociMount
	Leftovers []string // tmpfsbench-* directories the tmpfs program left
}

func (f *filesResult) all() []*fileComp { return append(append([]*fileComp{}, f.Read...), f.Tmp...) }

// filesScenario writes the tree, builds the fileread image around it, and
// runs both programs on every competitor.
func filesScenario(r *runner, cfg config, work string, a *artifacts, rc *runcEnv, runcSkip string) *filesResult {
	res := &filesResult{Runs: cfg.FilesRuns, Rounds: cfg.FilesRounds, Reps: cfg.FilesReps, Mem: cfg.FilesMem}
	res.TmpFS, res.ShmFS = describeDir("/tmp"), describeDir("/dev/shm")
	rootfs := filepath.Join(work, "files-rootfs")
	data := filepath.Join(rootfs, treeDir)
	var err error
	if res.Tree, err = writeTree(data, treeLarge, treeSmallFiles, treeSmall); err != nil {
		res.Err = "writing the tree: " + err.Error()
		return res
	}
	if st, err := os.Stat(a.images["fileread"]); err == nil {
		res.Program = st.Size()
	}
	img := filepath.Join(work, "fileread-rootfs.img")
	start := time.Now()
	if _, err := command(a.repo, nil, a.brique, "build", "-q", "--rootfs", rootfs, "-o", img, "./bench/programs/fileread"); err != nil {
		res.Err = "building the fileread image: " + err.Error()
		return res
	}
	res.Build = time.Since(start)
	if st, err := os.Stat(img); err == nil {
		res.Image = st.Size()
	}

	readArgs := []string{"-rounds", strconv.Itoa(cfg.FilesRounds)}
	tmpArgs := []string{"-rounds", strconv.Itoa(cfg.FilesRounds), "-reps", strconv.Itoa(cfg.FilesReps),
		"-files", strconv.Itoa(tmpFiles), "-batch", strconv.Itoa(tmpBatch), "-size", strconv.Itoa(tmpSize),
		"-big", strconv.Itoa(tmpBig), "-chunk", strconv.Itoa(tmpChunk), "-probe", strconv.Itoa(tmpProbe)}
	argv := func(xs ...[]string) []string {
		var out []string
		for _, x := range xs {
			out = append(out, x...)
		}
		return out
	}
	fixed := func(xs []string) func() ([]string, func()) { return func() ([]string, func()) { return xs, nop } }

	readCheck := func(stdout string) (rounds, time.Duration, error) {
		tree, rs, timed, err := parseFileread(stdout)
		if err != nil {
			return nil, 0, err
		}
		if tree != res.Tree {
			return nil, 0, fmt.Errorf("fileread saw %d files, %d bytes, CRC %08x; the tree has %d files, %d bytes, CRC %08x",
				tree.Files, tree.Bytes, tree.CRC, res.Tree.Files, res.Tree.Bytes, res.Tree.CRC)
		}
		return rs, timed, rs.complete(cfg.FilesRounds, fileReadKeys())
	}
	tmpCheck := func(c *fileComp) func(string) (rounds, time.Duration, error) {
		return func(stdout string) (rounds, time.Duration, error) {
			pr, rs, timed, err := parseTmpfs(stdout)
			if err != nil {
				return nil, 0, err
			}
			if pr.Of != tmpProbe {
				return nil, 0, fmt.Errorf("no probe line in %q", clip(stdout, 300))
			}
			c.Probe = append(c.Probe, pr)
			return rs, timed, rs.complete(cfg.FilesRounds, tmpfsKeys)
		}
	}

	res.Read = []*fileComp{
		{Name: "native", Label: "native", Required: true,
			How:  fmt.Sprintf("the static fileread binary reading the tree from the host's disk, %s, through the page cache, warm: `fileread -root DIR/%s`", describeDir(data), treeDir),
			argv: fixed(argv([]string{a.native["fileread"], "-root", data}, readArgs))},
		{Name: "brique", Label: "Brique", Required: true,
			How:  fmt.Sprintf("`brique run --stats -m %s fileread.img -- -root /%s`, the image built with `brique build --rootfs DIR`", cfg.FilesMem, treeDir),
			argv: fixed(argv([]string{a.brique, "run", "--stats", "-m", cfg.FilesMem, img, "--", "-root", "/" + treeDir}, readArgs))},
		{Name: "runc", Label: "runc",
			How: fmt.Sprintf("`runc run`, rootfs = the static fileread binary, the tree bind-mounted read-only at /%s (`-root /%s`)", treeDir, treeDir)},
	}
	res.RuncData = ociMount{Destination: "/" + treeDir, Type: "bind", Source: data, Options: []string{"rbind", "ro"}}
	res.RuncTmp = ociMount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=64m"}}
	res.Tmp = []*fileComp{
		{Name: "brique", Label: "Brique /tmp (its tmpfs)", Required: true,
			How:  "`brique run --stats tmpfs.img -- -dir /tmp` (default -m 64M)",
			argv: fixed(argv([]string{a.brique, "run", "--stats", a.images["tmpfs"], "--", "-dir", "/tmp"}, tmpArgs))},
		{Name: "native-shm", Label: "native /dev/shm (tmpfs)", Required: true,
			How:  "the static tmpfs binary, `-dir /dev/shm`: " + res.ShmFS,
			argv: fixed(argv([]string{a.native["tmpfs"], "-dir", "/dev/shm"}, tmpArgs))},
		{Name: "native-tmp", Label: "native /tmp (" + strings.Fields(res.TmpFS)[0] + ")", Required: true,
			How:  "the static tmpfs binary, `-dir /tmp`: " + res.TmpFS,
			argv: fixed(argv([]string{a.native["tmpfs"], "-dir", "/tmp"}, tmpArgs))},
		{Name: "runc", Label: "runc /tmp (tmpfs mount)",
			How: fmt.Sprintf("`runc run`, rootfs = the static tmpfs binary, a tmpfs mounted on /tmp (%s), `-dir /tmp`", strings.Join(res.RuncTmp.Options, ","))},
	}
	for _, c := range res.Read {
		c.check = readCheck
	}
	for _, c := range res.Tmp {
		c.check = tmpCheck(c)
	}
	for _, x := range []struct {
		c      *fileComp
		prog   string
		mount  ociMount
		args   []string
		bundle string
	}{
		{res.Read[2], "fileread", res.RuncData, argv([]string{"-root", "/" + treeDir}, readArgs), "bundle-fileread"},
		{res.Tmp[3], "tmpfs", res.RuncTmp, argv([]string{"-dir", "/tmp"}, tmpArgs), "bundle-tmpfs"},
	} {
		if rc == nil {
			x.c.Skipped = runcSkip
			continue
		}
		dir := filepath.Join(work, x.bundle)
		if err := rc.writeBundleMounts(dir, a.native[x.prog], []ociMount{x.mount}, x.args...); err != nil {
			x.c.Skipped = "writing the bundle: " + err.Error()
			continue
		}
		x.c.argv = func() ([]string, func()) {
			argv, id := rc.argvBundle(dir)
			return argv, func() { rc.remove(id) }
		}
	}

	before := tmpfsDirs()
	logf("scenario 6: files, reading a %s tree (%d runs x %d rounds each)", fmtKiB(float64(res.Tree.Bytes)/1024), cfg.FilesRuns, cfg.FilesRounds)
	runFiles(r, cfg.FilesRuns, res.Read)
	logf("scenario 6: files, /tmp (%d runs x %d rounds each)", cfg.FilesRuns, cfg.FilesRounds)
	runFiles(r, cfg.FilesRuns, res.Tmp)
	for d := range tmpfsDirs() {
		if !before[d] {
			res.Leftovers = append(res.Leftovers, d)
			os.RemoveAll(d)
		}
	}
	return res
}

// tmpfsDirs lists the tmpfs program's work directories in the native
// /tmp and /dev/shm.
func tmpfsDirs() map[string]bool {
	out := map[string]bool{}
	for _, dir := range []string{"/tmp", "/dev/shm"} {
		ms, _ := filepath.Glob(filepath.Join(dir, "tmpfsbench-*"))
		for _, m := range ms {
			out[m] = true
		}
	}
	return out
}

// runFiles runs every competitor n times, interleaved (the order rotates
// from one pass to the next); a runc that fails its first run is skipped.
func runFiles(r *runner, n int, comps []*fileComp) {
	var active []*fileComp
	for _, c := range comps {
		if c.Skipped == "" {
			c.Rates = map[string][]float64{}
			active = append(active, c)
		}
	}
	for i := 0; i < n; i++ {
		for j := range active {
			c := active[(i+j)%len(active)]
			if c.Skipped != "" {
				continue
			}
			argv, after := c.argv()
			res := r.run(argv)
			after()
			why := ""
			var rs rounds
			var timed time.Duration
			if res.Err != nil || res.TimedOut || res.Exit != 0 {
				why = res.describe("")
			} else if rs, timed, why = c.parse(res.Stdout); why == "" && timed > res.Wall {
				why = fmt.Sprintf("the program measured %v in all, more than the %v its whole process took (a clock is wrong)", timed, res.Wall)
			}
			if why != "" {
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
			c.Walls = append(c.Walls, res.Wall)
			c.Timed = append(c.Timed, timed)
			if st, err := parseStats(res.Stderr); err == nil {
				c.Setup = append(c.Setup, st.Setup)
			}
			nums := make([]int, 0, len(rs))
			for round := range rs {
				nums = append(nums, round)
			}
			sort.Ints(nums)
			for _, round := range nums {
				for k, v := range rs[round] {
					c.Rates[k] = append(c.Rates[k], v)
				}
			}
		}
	}
}

// parse runs the competitor's check and turns its error into a reason.
func (c *fileComp) parse(stdout string) (rounds, time.Duration, string) {
	rs, timed, err := c.check(stdout)
	if err != nil {
		return nil, 0, err.Error()
	}
	return rs, timed, ""
}

// problems lists the files scenario's failures (brique and the native
// baselines must run; nothing may be left behind).
func (f *filesResult) problems() []string {
	if f == nil {
		return nil
	}
	var ps []string
	if f.Err != "" {
		ps = append(ps, "files: "+f.Err)
		return ps
	}
	for _, c := range f.all() {
		if !c.Required {
			continue
		}
		switch {
		case c.Skipped != "":
			ps = append(ps, fmt.Sprintf("files: %s could not run: %s", c.Name, c.Skipped))
		case c.Failures > 0:
			ps = append(ps, fmt.Sprintf("files: %s failed %d of %d runs: %s", c.Name, c.Failures, c.Failures+len(c.Walls), c.Failure))
		}
	}
	for _, l := range f.Leftovers {
		ps = append(ps, "files: the tmpfs program left "+l+" behind (removed)")
	}
	return ps
}
