// Command briquebench measures the claims of Brique's core boot path —
// boot time (to the first line of output and to exit), memory, image size,
// system call cost, density (idle instances at once), files (reading the
// root file system embedded in the image, writing /tmp), the network
// (HTTP requests/s and latency with wrk, a bulk TCP transfer, boot to the
// first HTTP response) and volumes (a host directory shared with -v:
// sequential write and read, small files created and synced) — against the same program run as a native process,
// in a runc container and (boot, memory) as the /init of a Linux VM under
// QEMU, in the same run, and writes the results as Markdown
// (docs/benchmarks.md) with an SVG plot beside it.
//
// Run it from the repository root on a Linux/amd64 machine with /dev/kvm:
//
//	go run ./bench/cmd/briquebench -out docs/benchmarks.md   # full run, a few minutes
//	go run ./bench/cmd/briquebench -smoke                    # every scenario, few iterations, < 60 s
//	go run ./bench/cmd/briquebench -only http                # one scenario (see -only)
//
// It builds cmd/brique (with cmd/brique-netd and cmd/brique-9pd beside it),
// the example images and their native twins into a temporary directory, so it measures the working tree as it is. runc and
// the Linux VM (qemu-system-x86_64 with TCG and a /boot/vmlinuz-* kernel)
// are optional: they are listed as skipped, with the reason, when they
// cannot run; so are wrk (the HTTP load generator) and, without root, the
// network competitors that need a TAP device or a network namespace.
// brique and the native baseline are not (nor Brique on a TAP device that
// could be set up): their failure makes the exit status 1, and so does
// anything a density or network run leaves behind.
// Peak memory is measured through GNU time (/usr/bin/time, Debian package
// time), which forks the program itself (see launcher.go); without it the
// report falls back to wait4's ru_maxrss and says that it is overstated.
// Nothing here asserts a time threshold: the numbers are reported, not
// judged.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	vnet "brique.dev/brique/monitor/virtio/net"
	"brique.dev/brique/monitor/virtio/p9"
)

type config struct {
	Out           string
	Smoke         bool
	BootRuns      int
	Warmup        int
	MemRuns       int
	MaxMiB        int
	SyscallN      int
	SyscallRounds int
	Runc          string
	Time          string // GNU time, the launcher that measures peak RSS; "": wait4's ru_maxrss
	Timeout       time.Duration
	Keep          bool

	Qemu       string // qemu-system-x86_64 executable; "" disables the competitor
	QemuKernel string // kernel image; "": the newest /boot/vmlinuz-*
	QemuRuns   int
	QemuWarmup int

	DensityMax        int
	DensityRuncMax    int
	DensityBudget     time.Duration
	DensityMinFreeMiB int64
	DensityMem        string // brique run -m for the sleeper

	FilesRuns   int    // runs of each files program per competitor
	FilesRounds int    // timed rounds inside each run
	FilesReps   int    // tmpfs: writes and reads of the 2 MiB file per round
	FilesMem    string // brique run -m for fileread (its image holds the tree)

	Only string // comma-separated scenario names (see scenarioNames); "": all

	Wrk        string        // wrk executable; "" skips the HTTP load measurements
	WrkThreads int           // wrk -t
	WrkConns   int           // wrk -c
	WrkDur     time.Duration // wrk -d of each timed run
	WrkWarmup  time.Duration // wrk -d of an untimed run before each timed one; 0: none
	HTTPRuns   int           // timed wrk runs per competitor, interleaved
	BulkMiB    int           // bytes of one bulk transfer, MiB
	BulkRuns   int           // bulk transfers per competitor, interleaved
	FirstRuns  int           // boots to the first HTTP response per competitor

	VolRuns  int // volumes: runs of volbench (write and read phase) per competitor
	VolMiB   int // volumes: size of the large file, MiB
	VolFiles int // volumes: small files created and synced per run
}

// scenarioNames are the names -only accepts, in run order; "boot" is the
// four scenarios that share the headline's first rows (boot, memory,
// image size, system calls).
var scenarioNames = []string{"boot", "density", "files", "http", "volumes"}

// ran reports whether scenario name runs (is reported) in this run.
func (c config) ran(name string) bool {
	if c.Only == "" {
		return true
	}
	for _, n := range strings.Split(c.Only, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// checkOnly rejects unknown names in -only.
func checkOnly(only string) error {
	if only == "" {
		return nil
	}
	for _, n := range strings.Split(only, ",") {
		if !slices.Contains(scenarioNames, strings.TrimSpace(n)) {
			return fmt.Errorf("-only: unknown scenario %q (want a comma-separated list of %s)", n, strings.Join(scenarioNames, ", "))
		}
	}
	return nil
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Out, "out", "-", "write the Markdown report to `FILE` (- for stdout); for FILE.md a boot plot FILE-boot.svg is written beside it")
	flag.BoolVar(&cfg.Smoke, "smoke", false, "run every scenario with very few iterations (for CI: checks the harness, numbers are meaningless)")
	flag.IntVar(&cfg.BootRuns, "n", 0, "timed boots per competitor (default 50; 3 with -smoke)")
	flag.IntVar(&cfg.Warmup, "warmup", 0, "untimed runs per competitor before the timed ones (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.MemRuns, "memruns", 0, "memory runs (peak RSS, through GNU time) per competitor and per -m size searched (default 10; 2 with -smoke)")
	flag.IntVar(&cfg.MaxMiB, "maxmem", 128, "give up the minimum-memory search above `MiB`")
	flag.IntVar(&cfg.SyscallN, "syscalls", 0, "system calls per timed round (default 1000000; 10000 with -smoke)")
	flag.IntVar(&cfg.SyscallRounds, "rounds", 0, "timed rounds per system call, fastest reported (default 3; 1 with -smoke)")
	flag.StringVar(&cfg.Runc, "runc", "runc", "runc `executable` for the container competitor")
	flag.StringVar(&cfg.Time, "time", "/usr/bin/time", "GNU time `executable`, the launcher that measures peak RSS (empty: wait4's ru_maxrss of the harness's own child, overstated)")
	flag.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "kill a benchmarked process after `d`")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the temporary work directory (images, bundle)")
	flag.StringVar(&cfg.Qemu, "qemu", "qemu-system-x86_64", "QEMU `executable` for the Linux VM competitor (empty: skip it)")
	flag.StringVar(&cfg.QemuKernel, "qemu-kernel", "", "Linux kernel `image` for the VM (default: the newest /boot/vmlinuz-*)")
	flag.IntVar(&cfg.QemuRuns, "qemu-n", 0, "timed boots of the Linux VM (default 5; 1 with -smoke)")
	flag.IntVar(&cfg.QemuWarmup, "qemu-warmup", -1, "untimed boots of the Linux VM before the timed ones (default 1; 0 with -smoke)")
	flag.IntVar(&cfg.DensityMax, "density-max", 0, "density: at most `N` idle instances of brique and native (default 200; 3 with -smoke)")
	flag.IntVar(&cfg.DensityRuncMax, "density-runc-max", 0, "density: at most `N` idle runc containers (default 50; 3 with -smoke)")
	flag.DurationVar(&cfg.DensityBudget, "density-budget", 120*time.Second, "density: stop starting instances of one competitor after `d`")
	flag.Int64Var(&cfg.DensityMinFreeMiB, "density-minfree", 2048, "density: stop starting instances when MemAvailable falls below `MiB`")
	flag.StringVar(&cfg.DensityMem, "density-m", "10M", "density: guest memory (`brique run -m`) of each idle Brique instance")
	flag.IntVar(&cfg.FilesRuns, "files-n", 0, "files: runs of each program per competitor, interleaved (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.FilesRounds, "files-rounds", 0, "files: timed rounds inside each run (default 5; 1 with -smoke)")
	flag.IntVar(&cfg.FilesReps, "files-reps", 0, "files: writes and reads of the 2 MiB /tmp file per round (default 20; 2 with -smoke)")
	flag.StringVar(&cfg.FilesMem, "files-m", "256M", "files: guest memory (`brique run -m`) for fileread, whose image holds the 32 MiB tree")
	flag.StringVar(&cfg.Only, "only", "", "run only the scenarios in `LIST`, comma-separated: boot (boot, memory, image size, system calls), density, files, http, volumes (default: all)")
	flag.StringVar(&cfg.Wrk, "wrk", "wrk", "http: wrk `executable`, the HTTP load generator (empty: skip the requests/s measurements)")
	flag.IntVar(&cfg.WrkThreads, "http-t", 1, "http: wrk threads (`wrk -t`)")
	flag.IntVar(&cfg.WrkConns, "http-c", 32, "http: wrk keep-alive connections (`wrk -c`)")
	flag.DurationVar(&cfg.WrkDur, "http-d", 0, "http: duration of each timed wrk run (`wrk -d`; default 10s; 1s with -smoke)")
	flag.DurationVar(&cfg.WrkWarmup, "http-warmup", -1, "http: duration of an untimed wrk run before each timed one (default 2s; 0, none, with -smoke)")
	flag.IntVar(&cfg.HTTPRuns, "http-n", 0, "http: timed wrk runs per competitor, interleaved (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.BulkMiB, "bulk-mib", 0, "http: bytes of one bulk TCP transfer, in `MiB` (default 1024; 16 with -smoke)")
	flag.IntVar(&cfg.BulkRuns, "bulk-n", 0, "http: bulk transfers per competitor, interleaved (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.FirstRuns, "http-boot-n", 0, "http: boots to the first HTTP response per competitor, interleaved (default 10; 2 with -smoke)")
	flag.IntVar(&cfg.VolRuns, "vol-n", 0, "volumes: runs of volbench per competitor, interleaved (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.VolMiB, "vol-mib", 0, "volumes: size of the file written and read sequentially, in `MiB` (default 256; 8 with -smoke)")
	flag.IntVar(&cfg.VolFiles, "vol-files", 0, "volumes: 4 KiB files created and synced per run (default 500; 20 with -smoke)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/cmd/briquebench [-smoke] [-out FILE] [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := checkOnly(cfg.Only); err != nil {
		fmt.Fprintln(os.Stderr, "briquebench:", err)
		os.Exit(2)
	}
	def := func(v *int, full, smoke int) {
		if *v <= 0 {
			*v = full
			if cfg.Smoke {
				*v = smoke
			}
		}
	}
	def(&cfg.BootRuns, 50, 3)
	def(&cfg.Warmup, 3, 1)
	def(&cfg.MemRuns, 10, 2)
	def(&cfg.SyscallN, 1000000, 10000)
	def(&cfg.SyscallRounds, 3, 1)
	def(&cfg.QemuRuns, 5, 1)
	def(&cfg.DensityMax, 200, 3)
	def(&cfg.DensityRuncMax, 50, 3)
	def(&cfg.FilesRuns, 3, 1)
	def(&cfg.FilesRounds, 5, 1)
	def(&cfg.FilesReps, 20, 2)
	def(&cfg.HTTPRuns, 3, 1)
	def(&cfg.BulkMiB, 1024, 16)
	def(&cfg.BulkRuns, 3, 1)
	def(&cfg.FirstRuns, 10, 2)
	def(&cfg.VolRuns, 3, 1)
	def(&cfg.VolMiB, 256, 8)
	def(&cfg.VolFiles, 500, 20)
	def(&cfg.WrkThreads, 1, 1)
	def(&cfg.WrkConns, 32, 32)
	if cfg.WrkDur <= 0 {
		cfg.WrkDur = 10 * time.Second
		if cfg.Smoke {
			cfg.WrkDur = time.Second
		}
	}
	if cfg.WrkWarmup < 0 {
		cfg.WrkWarmup = 2 * time.Second
		if cfg.Smoke {
			cfg.WrkWarmup = 0
		}
	}
	if cfg.QemuWarmup < 0 {
		cfg.QemuWarmup = 1
		if cfg.Smoke {
			cfg.QemuWarmup = 0
		}
	}

	code, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "briquebench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// commandLine is the invocation as a user would type it from the
// repository root.
func commandLine() string {
	parts := []string{"go", "run", "./bench/cmd/briquebench"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "briquebench: "+format+"\n", args...)
}

// artifacts are the programs the scenarios run, built from the working tree.
type artifacts struct {
	repo   string // the repository root (package paths are relative to it)
	brique string // cmd/brique, with cmd/brique-netd and cmd/brique-9pd beside it (FindNetd and p9.FindServer look there)
	images map[string]string
	native map[string]string // CGO_ENABLED=0 -trimpath -ldflags='-s -w'
	plain  map[string]string // the same without -trimpath (size note only)
}

// programs are the packages built; hello is booted, goroutines is only
// sized, syscall is timed, sleeper is the idle instance of the density
// scenario, fileread and tmpfs are the files scenario's (its fileread
// image, with the tree it reads, is built by the scenario), httpserver and
// bulk the network scenario's servers, volbench the volumes scenario's.
var programs = []struct {
	name, pkg string
	sized     bool // also built without -trimpath, for the image size table
}{
	{"hello", "./examples/hello", true},
	{"goroutines", "./examples/goroutines", true},
	{"syscall", "./bench/programs/syscall", false},
	{"sleeper", "./bench/programs/sleeper", false},
	{"fileread", "./bench/programs/fileread", false},
	{"tmpfs", "./bench/programs/tmpfs", false},
	{"httpserver", "./examples/httpserver", true},
	{"bulk", "./bench/programs/bulk", false},
	{"volbench", "./bench/programs/volbench", false},
}

// build builds everything; withPlain adds the binaries without -trimpath
// (a size footnote; -smoke skips them, they cost a cold build of std).
func build(repo, work string, withPlain bool) (*artifacts, error) {
	a := &artifacts{
		repo:   repo,
		brique: filepath.Join(work, "brique"),
		images: map[string]string{},
		native: map[string]string{},
		plain:  map[string]string{},
	}
	logf("building cmd/brique")
	if _, err := command(repo, nil, "go", "build", "-o", a.brique, "./cmd/brique"); err != nil {
		return nil, err
	}
	// brique run finds the user network's daemon and the volumes' 9P
	// server next to its executable, unless $BRIQUE_NETD or $BRIQUE_9PD
	// names another build: those are pointed at these, so that the
	// working tree's helpers are the ones measured.
	for _, h := range []struct{ name, pkg, env string }{
		{vnet.NetdName, "./cmd/brique-netd", vnet.NetdEnv},
		{p9.ServerName, "./cmd/brique-9pd", p9.ServerEnv},
	} {
		logf("building %s", h.pkg[2:])
		p := filepath.Join(work, h.name)
		if _, err := command(repo, nil, "go", "build", "-o", p, h.pkg); err != nil {
			return nil, err
		}
		if os.Getenv(h.env) != "" {
			logf("$%s pointed at %s for this run", h.env, p)
			os.Setenv(h.env, p)
		}
	}
	static := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}
	for _, p := range programs {
		logf("building %s (image and native)", p.pkg)
		a.images[p.name] = filepath.Join(work, p.name+".img")
		if _, err := command(repo, nil, a.brique, "build", "-q", "-o", a.images[p.name], p.pkg); err != nil {
			return nil, err
		}
		a.native[p.name] = filepath.Join(work, "native", p.name)
		if _, err := command(repo, static, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", a.native[p.name], p.pkg); err != nil {
			return nil, err
		}
		if !withPlain || !p.sized {
			continue
		}
		a.plain[p.name] = filepath.Join(work, "plain", p.name)
		if _, err := command(repo, static, "go", "build", "-ldflags=-s -w", "-o", a.plain[p.name], p.pkg); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// findRepo returns the root of the brique.dev/brique module containing the
// working directory.
func findRepo() (string, error) {
	out, err := command(".", nil, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(out)
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the Brique repository root")
	}
	f, err := os.Open(mod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			if fields[1] != "brique.dev/brique" {
				return "", fmt.Errorf("%s is module %s, not brique.dev/brique: run from the Brique repository", mod, fields[1])
			}
			return filepath.Dir(mod), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", mod)
}

func run(cfg config) (int, error) {
	began := time.Now()
	repo, err := findRepo()
	if err != nil {
		return 1, err
	}
	out := cfg.Out
	if out != "-" && !filepath.IsAbs(out) {
		// Relative to where the user typed the command (go run keeps the
		// working directory), which the docs say is the repository root.
		if out, err = filepath.Abs(out); err != nil {
			return 1, err
		}
	}
	work, err := os.MkdirTemp("", "briquebench-")
	if err != nil {
		return 1, err
	}
	removed := false
	if cfg.Keep {
		logf("work directory %s (kept)", work)
	} else {
		defer func() {
			if !removed {
				os.RemoveAll(work)
			}
		}()
	}

	rep := &report{Config: cfg, Command: commandLine(), Machine: describeMachine(repo)}
	arts, err := build(repo, work, !cfg.Smoke)
	if err != nil {
		return 1, err
	}
	r, err := newRunner(work, cfg.Timeout)
	if err != nil {
		return 1, err
	}
	defer r.close()
	rep.Launch = setupLauncher(r, cfg.Time, work, cfg.MemRuns)
	if rep.Launch.used() {
		logf("peak RSS through %s -f %%M", rep.Launch.Path)
	} else {
		logf("peak RSS: wait4's ru_maxrss, overstated: %s", rep.Launch.Why)
	}

	var rc *runcEnv
	if rc, err = setupRunc(cfg.Runc, work, arts.native["hello"]); err != nil {
		rc = nil
		rep.RuncSkip = err.Error()
	} else {
		rep.Machine.Runc = rc.version
	}
	var qe *qemuEnv
	if !cfg.ran("boot") {
		rep.QemuSkip = "the boot scenario did not run (-only)"
	} else if cfg.Qemu == "" {
		rep.QemuSkip = "disabled with -qemu ''"
	} else if qe, err = setupQemu(cfg.Qemu, cfg.QemuKernel, work, arts.native["hello"]); err != nil {
		qe = nil
		rep.QemuSkip = err.Error()
	} else {
		rep.Qemu = qe
		rep.Machine.Qemu = qe.version
		rep.Machine.GuestKernel = qe.kernel
	}

	if cfg.ran("boot") {
		logf("scenario 1: boot (%d runs each after %d warm-up; Linux VM %d after %d), then %d memory runs each", cfg.BootRuns, cfg.Warmup, cfg.QemuRuns, cfg.QemuWarmup, cfg.MemRuns)
		rep.Boot = bootScenario(r, cfg, arts, rc, rep.RuncSkip, qe, rep.QemuSkip)
		logf("scenario 2: memory")
		rep.Mem = memScenario(r, cfg, arts)
		logf("scenario 3: image size")
		rep.Sizes = sizeScenario(arts)
		logf("scenario 4: system call cost (%d calls x %d rounds)", cfg.SyscallN, cfg.SyscallRounds)
		rep.Sys = syscallScenario(r, cfg, arts)
	}
	if cfg.ran("density") {
		rep.Density = densityScenario(cfg, work, arts, rc, rep.RuncSkip)
	}
	if cfg.ran("files") {
		rep.Files = filesScenario(r, cfg, work, arts, rc, rep.RuncSkip)
	}
	if cfg.ran("http") {
		rep.Net = netScenario(cfg, work, arts, rc, rep.RuncSkip)
	}
	if cfg.ran("volumes") {
		rep.Vol = volScenario(r, cfg, work, arts, rc, rep.RuncSkip)
	}
	if rc != nil {
		if ids := rc.leftovers(); len(ids) > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("runc: %d containers were left behind and deleted at the end: %s", len(ids), strings.Join(ids, " ")))
		}
	}
	// The work directory goes before the report is written, so that the
	// report can say it is gone.
	r.close()
	if !cfg.Keep {
		if err := os.RemoveAll(work); err != nil {
			rep.Problems = append(rep.Problems, "removing the work directory: "+err.Error())
		} else if _, err := os.Stat(work); err == nil {
			rep.Problems = append(rep.Problems, "the work directory "+work+" is still there after its removal")
		} else {
			rep.WorkRemoved = true
		}
		removed = true
	}
	rep.collectProblems()
	rep.Elapsed = time.Since(began)

	md := rep.markdown(out)
	if out == "-" {
		fmt.Print(md)
	} else {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			return 1, err
		}
		logf("wrote %s", out)
		if svg := plotPath(out); svg != "" && cfg.ran("boot") {
			if err := os.WriteFile(svg, []byte(rep.bootSVG()), 0o644); err != nil {
				return 1, err
			}
			logf("wrote %s", svg)
		}
	}
	logf("done in %v", rep.Elapsed.Round(time.Millisecond))
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			logf("FAILED: %s", p)
		}
		return 1, nil
	}
	return 0, nil
}

// plotPath is FILE-boot.svg for FILE.md, and "" (no plot) for a report
// that is not a .md file (stdout, /dev/null).
func plotPath(out string) string {
	if filepath.Ext(out) != ".md" {
		return ""
	}
	return strings.TrimSuffix(out, ".md") + "-boot.svg"
}
