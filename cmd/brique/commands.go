package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"brique.dev/brique/builder"
	bimage "brique.dev/brique/image"
	"brique.dev/brique/monitor"
	vnet "brique.dev/brique/monitor/virtio/net"
)

func cmdBuild(args []string, stderr io.Writer) error {
	fs := newFlags("build", "build [-o IMAGE] [PKG]", stderr)
	out := fs.String("o", "", "write the image to `IMAGE` (default: the package name + .img)")
	rootfs := fs.String("rootfs", "", "embed the tree at `DIR` as the guest's read-only root file system")
	quiet := fs.Bool("q", false, "print nothing but errors")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("build takes one package, got %d", fs.NArg())
	}
	o := builder.Options{Package: fs.Arg(0), Output: *out, Log: stderr, RootFS: *rootfs}
	if *quiet {
		o.Log = nil
	}
	_, err := builder.Build(o)
	return err
}

// memFlag parses -m values like docker: 64, 64m, 64M, 64MiB, 1g.
type memFlag struct{ mib int }

func (m *memFlag) String() string {
	if m.mib == 0 {
		return ""
	}
	return fmt.Sprintf("%dM", m.mib)
}

func (m *memFlag) Set(s string) error {
	v, err := parseMemory(s)
	if err != nil {
		return err
	}
	m.mib = v
	return nil
}

func parseMemory(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"gib", 1024}, {"gb", 1024}, {"g", 1024}, {"mib", 1}, {"mb", 1}, {"m", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid memory size %q: use a number of MiB like 64M or 1G", s)
	}
	if n > (1<<30)/mult {
		return 0, fmt.Errorf("invalid memory size %q: too large", s)
	}
	return n * mult, nil
}

// envFlag collects -e KEY=VALUE (or -e KEY to pass the host's value).
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }

func (e *envFlag) Set(s string) error {
	if s == "" || strings.HasPrefix(s, "=") {
		return fmt.Errorf("invalid environment variable %q: use KEY=VALUE", s)
	}
	if !strings.Contains(s, "=") {
		v, ok := os.LookupEnv(s)
		if !ok {
			return nil // like docker: an unset host variable is skipped
		}
		s += "=" + v
	}
	*e = append(*e, s)
	return nil
}

type runFlags struct {
	mem   memFlag
	env   envFlag
	debug bool
	stats bool
}

// NetDefaultMemoryMiB is the default guest RAM of programs that use the
// network (gVisor's TCP buffers; guest RAM the program does not touch costs
// the host nothing).
const NetDefaultMemoryMiB = 128

func cmdRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("run", "run [-m SIZE] [-e KEY=VALUE]... [-v HOSTDIR:GUESTDIR[:ro]]... IMAGE|PKG [-- ARGS...]", stderr)
	var rf runFlags
	fs.Var(&rf.mem, "m", fmt.Sprintf("guest memory `SIZE` (e.g. 16M, 1G; default %dM, %dM for programs that use the network)", monitor.DefaultMemoryMiB, NetDefaultMemoryMiB))
	fs.Var(&rf.mem, "memory", "same as -m")
	fs.Var(&rf.env, "e", "set environment variable `KEY=VALUE` in the guest (repeatable)")
	fs.Var(&rf.env, "env", "same as -e")
	fs.BoolVar(&rf.debug, "debug", false, "show library OS diagnostics (unimplemented system calls, ...)")
	fs.BoolVar(&rf.stats, "stats", false, "print boot time, VM exits, guest memory use and the network device's counters on exit")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the guest to `FILE` when the program exits (pprof format: go tool pprof IMAGE FILE)")
	seccomp := fs.Bool("seccomp", true, "confine the monitor to the system calls a running VM needs (seccomp filter)")
	rootfs := fs.String("rootfs", "", "when building PKG: embed the tree at `DIR` as the guest's root file system")
	netMode := fs.String("net", "", "network: none, user (no privileges; the default for programs that use the network) or tap=NAME (a host TAP interface); settings follow after commas: `MODE[,mac=MAC][,ip=ADDR/PREFIX,gw=ADDR,dns=ADDR]` (ip, gw, dns: tap only)")
	var publish envFlag
	fs.Var(&publishFlag{&publish}, "p", "publish a guest port on the host: `[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]` (repeatable; user network)")
	fs.Var(&publishFlag{&publish}, "publish", "same as -p")
	vols := addVolumeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return 0, usagef("run needs an image or a package (see 'brique run -h')")
	}
	target, progArgs := rest[0], rest[1:]
	if len(progArgs) > 0 && progArgs[0] == "--" {
		progArgs = progArgs[1:]
	}
	img, cleanup, err := openOrBuild(target, *rootfs, stderr)
	if err != nil {
		return 0, err
	}
	defer cleanup()

	if slices.Contains(img.Meta.Bricks, "net") {
		// A program that uses the network gets the user network by
		// default (no privileges needed; --net none to go without), and
		// room for the network stack's buffers.
		if *netMode == "" {
			*netMode = "user"
		}
		if rf.mem.mib == 0 {
			rf.mem.mib = NetDefaultMemoryMiB
		}
	}
	if len(vols.list) > 0 && !slices.Contains(img.Meta.Bricks, "vol") {
		fmt.Fprintf(stderr, "brique: warning: %s cannot open files (it has no volume brick): -v has no effect\n", target)
	}
	netCfg, err := netConfig(*netMode, publish, rf.debug, stderr)
	if err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	name := strings.TrimSuffix(filepath.Base(target), ".img")
	var status *os.File
	if rf.stats {
		// Opened now: the seccomp filter denies open once the VM runs.
		status, _ = os.Open("/proc/self/status")
	}
	var prof *os.File
	if *cpuprofile != "" {
		if prof, err = os.Create(*cpuprofile); err != nil {
			return 0, err
		}
		defer prof.Close()
	}
	cfg := monitor.Config{
		Image:     img,
		MemoryMiB: rf.mem.mib,
		Args:      append([]string{name}, progArgs...),
		Env:       rf.env,
		Stdout:    stdout,
		Stderr:    stderr,
		Debug:     rf.debug,
		Signals:   sigs,
		Seccomp:   *seccomp,
		Net:       netCfg,

		Volumes:      vols.list,
		VolumeServer: vols.server(stderr),
	}
	if prof != nil {
		cfg.CPUProfile = prof
	}
	res, err := monitor.Run(cfg)
	if err != nil {
		return 0, err
	}
	if rf.stats {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		anon, file := procRss(status)
		fmt.Fprintf(stderr, "brique: host memory: peak RSS %d KiB = guest RAM %d KiB + monitor private %d KiB + shared file pages (brique binary, image) %d KiB\n",
			ru.Maxrss, res.GuestResident/1024, anon, file)
		fmt.Fprintf(stderr, "brique: exit %d; monitor set-up %v, library OS boot %v, Go runtime to first output %v, total %v; %d VM exits (%d device, %d halts, %d other hypercalls with %d TLB flushes, %d interruptions), %d system calls, %d page faults; guest allocated %d KiB beyond its image\n",
			res.ExitCode, res.Setup.Round(time.Microsecond), res.GuestBoot.Round(time.Microsecond), res.FirstOutput.Round(time.Microsecond), res.Total.Round(time.Microsecond), res.Exits, res.ExitsBy.Device, res.ExitsBy.Halt, res.ExitsBy.Hypercall, res.Flushes, res.ExitsBy.Interrupt, res.Syscalls, res.PageFaults, res.FramesPeak*4)
		if n := res.Net; n != nil {
			fmt.Fprintf(stderr, "brique: network: %d frames in (%d KiB, %d dropped), %d out (%d KiB, %d dropped, %d errors); %d kicks, %d interrupts\n",
				n.RXPackets, n.RXBytes/1024, n.RXDropped, n.TXPackets, n.TXBytes/1024, n.TXDropped, n.TXErrors, n.Kicks, n.Interrupts)
		}
	}
	return res.ExitCode, nil
}

// openOrBuild opens target as an image file, or builds it as a package.
func openOrBuild(target, rootfs string, stderr io.Writer) (*bimage.Image, func(), error) {
	nop := func() {}
	st, err := os.Stat(target)
	if err == nil && st.Mode().IsRegular() {
		if rootfs != "" {
			return nil, nop, usagef("--rootfs is for building: %s is already an image (use brique build --rootfs)", target)
		}
		img, err := bimage.Open(target)
		return img, nop, err
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nop, err
	}
	if err != nil && (strings.HasSuffix(target, ".img") || !looksLikePackage(target)) {
		return nil, nop, fmt.Errorf("%s: no such image or package", target)
	}
	tmp, err := os.MkdirTemp("", "brique-run-")
	if err != nil {
		return nil, nop, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	r, err := builder.Build(builder.Options{Package: target, Output: filepath.Join(tmp, "prog.img"), Log: quietLog(stderr), RootFS: rootfs})
	if err != nil {
		cleanup()
		return nil, nop, err
	}
	img, err := bimage.Open(r.Path)
	// The image is mapped: its file and the build directory can go now
	// (before the VM runs under the seccomp filter, which denies unlink).
	cleanup()
	if err != nil {
		return nil, nop, err
	}
	return img, nop, nil
}

// looksLikePackage accepts import paths and relative package paths.
func looksLikePackage(s string) bool {
	return s == "." || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.Contains(s, "/") || !strings.Contains(s, ".")
}

// quietLog drops the build progress lines of `brique run PKG` unless
// BRIQUE_VERBOSE is set: run should print what the program prints.
func quietLog(w io.Writer) io.Writer {
	if os.Getenv("BRIQUE_VERBOSE") != "" {
		return w
	}
	return nil
}

func cmdTest(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("test", "test [-run REGEXP] [-v] [-count N] [-short] [-m SIZE] PKG...", stderr)
	runRe := fs.String("run", "", "run only tests matching `REGEXP`")
	skipRe := fs.String("skip", "", "skip tests matching `REGEXP`")
	verbose := fs.Bool("v", false, "verbose: print every test's output")
	count := fs.Int("count", 0, "run each test `N` times")
	short := fs.Bool("short", false, "tell long-running tests to shorten their run time")
	timeout := fs.Duration("timeout", 10*time.Minute, "fail a test binary that runs longer than `d`")
	var mem memFlag
	fs.Var(&mem, "m", "guest memory `SIZE` per test image (default 256M)")
	fs.BoolVar(&testDebug, "debug", false, "show library OS diagnostics and VM statistics")
	tags := fs.String("tags", "", "comma-separated build `tags` for the test binary (e.g. timetzdata)")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 {
		return 0, usagef("test needs at least one package")
	}
	if mem.mib == 0 {
		mem.mib = 256
	}
	testArgs := []string{"-test.timeout=" + timeout.String()}
	if *runRe != "" {
		testArgs = append(testArgs, "-test.run="+*runRe)
	}
	if *skipRe != "" {
		testArgs = append(testArgs, "-test.skip="+*skipRe)
	}
	if *verbose {
		testArgs = append(testArgs, "-test.v=true")
	}
	if *count > 0 {
		testArgs = append(testArgs, fmt.Sprintf("-test.count=%d", *count))
	}
	if *short {
		testArgs = append(testArgs, "-test.short=true")
	}
	failed := false
	for _, pkg := range fs.Args() {
		var goFlags []string
		if *tags != "" {
			goFlags = append(goFlags, "-tags="+*tags)
		}
		if !testOne(pkg, goFlags, testArgs, mem.mib, *verbose, stdout, stderr) {
			failed = true
		}
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

var testDebug bool

// testOne builds and boots one package's tests and prints go test's
// summary line.
func testOne(pkg string, goFlags, testArgs []string, mib int, verbose bool, stdout, stderr io.Writer) bool {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "brique-test-")
	if err != nil {
		fmt.Fprintf(stderr, "brique: %v\n", err)
		return false
	}
	defer os.RemoveAll(tmp)
	r, err := builder.Build(builder.Options{Package: pkg, Test: true, Output: filepath.Join(tmp, "test.img"), GoFlags: goFlags, PackageRootFS: true})
	if errors.Is(err, builder.ErrNoTests) {
		fmt.Fprintf(stdout, "?   \t%s\t[no test files]\n", pkg)
		return true
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAIL\t%s [build failed]\n%v\n", pkg, err)
		return false
	}
	img, err := bimage.Open(r.Path)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL\t%s [bad image]\n%v\n", pkg, err)
		return false
	}
	var buf bytes.Buffer
	out, errw := io.Writer(&buf), io.Writer(&buf)
	if verbose {
		out, errw = stdout, stdout
	}
	res, err := monitor.Run(monitor.Config{Image: img, MemoryMiB: mib, Args: append([]string{r.Package + ".test"}, testArgs...), Stdout: out, Stderr: errw, Debug: testDebug, Cwd: r.Cwd})
	elapsed := time.Since(start).Seconds()
	if testDebug {
		fmt.Fprintf(stderr, "brique: %s: exit %d; %d VM exits (%d TLB flushes); guest allocated %d KiB beyond its image\n", r.Package, res.ExitCode, res.Exits, res.Flushes, res.FramesPeak*4)
	}
	if err != nil {
		stdout.Write(buf.Bytes())
		fmt.Fprintf(stdout, "FAIL\t%s\t%.3fs\nbrique: %v\n", r.Package, elapsed, err)
		return false
	}
	if res.ExitCode != 0 {
		stdout.Write(buf.Bytes())
		fmt.Fprintf(stdout, "FAIL\t%s\t%.3fs\n", r.Package, elapsed)
		return false
	}
	fmt.Fprintf(stdout, "ok  \t%s\t%.3fs\n", r.Package, elapsed)
	return true
}

// procRss returns this process's private anonymous and file-backed
// resident memory in KiB (RssAnon, RssFile from /proc/self/status, read
// through f): the guest's RAM is already unmapped when it is read.
func procRss(f *os.File) (anon, file int) {
	if f == nil {
		return 0, 0
	}
	buf := make([]byte, 8192)
	n, _ := f.ReadAt(buf, 0)
	for _, l := range strings.Split(string(buf[:n]), "\n") {
		fl := strings.Fields(l)
		if len(fl) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fl[1])
		switch fl[0] {
		case "RssAnon:":
			anon = v
		case "RssFile:":
			file = v
		}
	}
	return anon, file
}

// publishFlag collects -p values.
type publishFlag struct{ v *envFlag }

func (p *publishFlag) String() string {
	if p.v == nil {
		return ""
	}
	return strings.Join(*p.v, ",")
}

func (p *publishFlag) Set(s string) error {
	*p.v = append(*p.v, s)
	return nil
}

// netConfig turns --net and -p into the monitor's configuration. --net
// is none, user or tap=NAME, followed by comma-separated settings:
// mac=MAC (both), ip=ADDR/PREFIX, gw=ADDR and dns=ADDR (tap).
func netConfig(mode string, publish []string, debug bool, stderr io.Writer) (monitor.NetConfig, error) {
	mode, opts, _ := strings.Cut(mode, ",")
	c := monitor.NetConfig{Mode: mode, Forwards: publish}
	if name, ok := strings.CutPrefix(mode, "tap="); ok {
		c.Mode, c.TAP = "tap", name
	}
	if c.Mode == "" && len(publish) > 0 {
		c.Mode = "user"
	}
	switch c.Mode {
	case "", "none", "user", "tap":
	default:
		return c, usagef("--net %s: unknown network (none, user or tap=NAME)", mode)
	}
	if len(publish) > 0 && c.Mode != "user" {
		return c, usagef("-p publishes a port on the user network: drop --net %s, or reach the guest at its own address", mode)
	}
	if opts != "" {
		if c.Mode != "tap" && c.Mode != "user" {
			return c, usagef("--net %s takes no settings", mode)
		}
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			var err error
			switch k {
			case "mac":
				c.MAC, err = parseMAC(v)
			case "ip":
				var p netip.Prefix
				p, err = netip.ParsePrefix(v)
				if err == nil && !p.Addr().Is4() {
					err = fmt.Errorf("only IPv4 addresses are configured this way")
				}
				if err == nil {
					c.IP.Addr, c.IP.PrefixLen = p.Addr().As4(), p.Bits()
				}
			case "gw", "dns":
				var a netip.Addr
				a, err = netip.ParseAddr(v)
				if err == nil && !a.Is4() {
					err = fmt.Errorf("not an IPv4 address")
				}
				switch {
				case err != nil:
				case k == "gw":
					c.IP.Gateway = a.As4()
				default:
					c.IP.DNS = a.As4()
				}
			default:
				return c, usagef("--net: unknown setting %q (mac=, ip=, gw=, dns=)", k)
			}
			if err != nil {
				return c, usagef("--net %s=%s: %v", k, v, err)
			}
		}
		if c.IP.Addr == ([4]byte{}) && (c.IP.Gateway != ([4]byte{}) || c.IP.DNS != ([4]byte{})) {
			return c, usagef("--net: gw= and dns= need ip=ADDR/PREFIX")
		}
	}
	switch c.Mode {
	case "user":
		c.Netd = netdPath(stderr)
	case "tap":
		warnTAPDown(c.TAP, stderr)
	}
	if debug {
		c.Log = stderr
	}
	return c, nil
}

// warnTAPDown warns when the TAP interface name exists but is down: the
// program would run, and no packet would reach it or leave it. (An
// interface that does not exist yet is the monitor's to create, or to say
// why it cannot.)
func warnTAPDown(name string, stderr io.Writer) {
	if up, err := vnet.InterfaceUp(name); err == nil && !up {
		fmt.Fprintf(stderr, "brique: warning: tap %s is down, so no packet will pass: bring it up with: ip link set %s up\n", name, name)
	}
}

// parseMAC parses a unicast Ethernet address, aa:bb:cc:dd:ee:ff. (Package
// net has ParseMAC, but importing net would link the cgo resolver, whose
// threads the monitor's seccomp filter does not allow.)
func parseMAC(s string) ([]byte, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil, fmt.Errorf("want six hexadecimal bytes, aa:bb:cc:dd:ee:ff")
	}
	mac := make([]byte, 6)
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return nil, fmt.Errorf("want six hexadecimal bytes, aa:bb:cc:dd:ee:ff")
		}
		mac[i] = byte(v)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("a multicast address cannot be a device's address")
	}
	return mac, nil
}

// netdPath finds brique-netd (vnet.FindNetd); when it is missing and brique
// runs inside its own module (go run ./cmd/brique), it builds the daemon
// into the user cache once (cachedHelper), so the README's commands work
// as they are. "" lets the monitor report the missing daemon.
func netdPath(stderr io.Writer) string {
	if p, err := vnet.FindNetd(); err == nil {
		return p
	}
	return cachedHelper(vnet.NetdName, "./cmd/brique-netd", stderr)
}
