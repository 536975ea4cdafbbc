// Command briquebench measures the claims of Brique's core boot path —
// boot time, memory, image size and system call cost — against the same
// program run as a native process and in a runc container, in the same run,
// and writes the results as Markdown (docs/benchmarks.md).
//
// Run it from the repository root on a Linux/amd64 machine with /dev/kvm:
//
//	go run ./bench/cmd/briquebench -out docs/benchmarks.md   # full run, a few minutes
//	go run ./bench/cmd/briquebench -smoke                    # every scenario, few iterations, < 60 s
//
// It builds cmd/brique, the example images and their native twins into a
// temporary directory, so it measures the working tree as it is. runc is
// optional (it is listed as skipped, with the reason, when it cannot run);
// brique and the native baseline are not: their failure makes the exit
// status 1. Nothing here asserts a time threshold: the numbers are reported,
// not judged.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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
	Timeout       time.Duration
	Keep          bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Out, "out", "-", "write the Markdown report to `FILE` (- for stdout); for FILE.md a boot plot FILE-boot.svg is written beside it")
	flag.BoolVar(&cfg.Smoke, "smoke", false, "run every scenario with very few iterations (for CI: checks the harness, numbers are meaningless)")
	flag.IntVar(&cfg.BootRuns, "n", 0, "timed boots per competitor (default 50; 3 with -smoke)")
	flag.IntVar(&cfg.Warmup, "warmup", 0, "untimed runs per competitor before the timed ones (default 3; 1 with -smoke)")
	flag.IntVar(&cfg.MemRuns, "memruns", 0, "runs at the minimum -m, for its RSS (default 10; 2 with -smoke)")
	flag.IntVar(&cfg.MaxMiB, "maxmem", 128, "give up the minimum-memory search above `MiB`")
	flag.IntVar(&cfg.SyscallN, "syscalls", 0, "system calls per timed round (default 1000000; 10000 with -smoke)")
	flag.IntVar(&cfg.SyscallRounds, "rounds", 0, "timed rounds per system call, fastest reported (default 3; 1 with -smoke)")
	flag.StringVar(&cfg.Runc, "runc", "runc", "runc `executable` for the container competitor")
	flag.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "kill a benchmarked process after `d`")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the temporary work directory (images, bundle)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/cmd/briquebench [-smoke] [-out FILE] [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
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
	brique string // cmd/brique
	images map[string]string
	native map[string]string // CGO_ENABLED=0 -trimpath -ldflags='-s -w'
	plain  map[string]string // the same without -trimpath (size note only)
}

// programs are the packages built; hello is booted, goroutines is only
// sized, syscall is timed.
var programs = []struct{ name, pkg string }{
	{"hello", "./examples/hello"},
	{"goroutines", "./examples/goroutines"},
	{"syscall", "./bench/programs/syscall"},
}

// build builds everything; withPlain adds the binaries without -trimpath
// (a size footnote; -smoke skips them, they cost a cold build of std).
func build(repo, work string, withPlain bool) (*artifacts, error) {
	a := &artifacts{
		brique: filepath.Join(work, "brique"),
		images: map[string]string{},
		native: map[string]string{},
		plain:  map[string]string{},
	}
	logf("building cmd/brique")
	if _, err := command(repo, nil, "go", "build", "-o", a.brique, "./cmd/brique"); err != nil {
		return nil, err
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
		if !withPlain || p.name == "syscall" {
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
	if cfg.Keep {
		logf("work directory %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
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

	var rc *runcEnv
	if rc, err = setupRunc(cfg.Runc, work, arts.native["hello"]); err != nil {
		rc = nil
		rep.RuncSkip = err.Error()
	} else {
		rep.Machine.Runc = rc.version
	}

	logf("scenario 1: boot (%d runs each after %d warm-up)", cfg.BootRuns, cfg.Warmup)
	rep.Boot = bootScenario(r, cfg, arts, rc, rep.RuncSkip)
	logf("scenario 2: memory")
	rep.Mem = memScenario(r, cfg, arts)
	logf("scenario 3: image size")
	rep.Sizes = sizeScenario(arts)
	logf("scenario 4: system call cost (%d calls x %d rounds)", cfg.SyscallN, cfg.SyscallRounds)
	rep.Sys = syscallScenario(r, cfg, arts)
	if rc != nil {
		if ids := rc.leftovers(); len(ids) > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("runc: %d containers were left behind and deleted at the end: %s", len(ids), strings.Join(ids, " ")))
		}
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
		if svg := plotPath(out); svg != "" {
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
