package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The network scenario measures the network brick against the same
// program run as a native process on the host's loopback interface and in
// a runc container on a veth pair, in the same run:
//
//   - HTTP: wrk, keep-alive connections, against examples/httpserver's
//     GET /small ("ok\n"): requests/s and the 50th and 99th latency
//     percentiles;
//   - bulk: one TCP connection carrying -bulk-mib MiB from the server
//     (bench/programs/bulk) to a client in the harness (guest to host),
//     and one carrying as much the other way (bulk -recv: host to guest);
//   - boot to the first HTTP response: from just before clone+exec of
//     the command to the first successful GET /small.
//
// Brique runs twice: on a TAP interface in the host's namespace
// (`brique run --net tap=...`, root only) and on the user network
// (`brique run -p ...`, brique-netd). The TAP device, the network
// namespace and the veth pair are the harness's own, named after its PID,
// on private /24 networks that no interface of the host uses; they are
// removed when the scenario ends, also when a step fails or the harness is
// interrupted.

const (
	httpGuestPort = 8080 // examples/httpserver's default -addr
	bulkGuestPort = 9000 // bench/programs/bulk's default -addr
	smallBody     = "ok\n"
	listeningLine = "listening on" // what both servers print once they listen

	netReadyTimeout = time.Minute     // start to the "listening on" line
	netStopTimeout  = 5 * time.Second // SIGTERM to exit
	bulkIdle        = 30 * time.Second
	firstLimit      = time.Minute // start to the first response

	// The first-response probe starts a new GET every firstEvery, each
	// given firstAttempt (firstAttemptLate once firstLate has passed
	// without an answer), at most firstInflight at once.
	firstEvery       = time.Millisecond
	firstAttempt     = 250 * time.Millisecond
	firstAttemptLate = 5 * time.Second
	firstLate        = 5 * time.Second
	firstInflight    = 300
)

// netProg is a server program of the scenario.
type netProg struct {
	name string   // the key in artifacts: httpserver, bulk
	mode string   // "" or a variant of the same program (recv), for runc's bundles
	port int      // the port it listens on by default (guest, container)
	args []string // arguments after the address
}

// netFail counts failed measurements and keeps the first reason.
type netFail struct {
	N     int
	First string
}

func (f *netFail) add(why string) {
	f.N++
	if f.First == "" {
		f.First = why
	}
}

// netComp is one competitor of the network scenario.
type netComp struct {
	Name     string // native, brique-tap, brique-user, runc
	Label    string // for the tables
	How      string
	Skipped  string // why it could not run at all
	Required bool   // a failure is a harness failure

	Wrk      []wrkResult // timed wrk runs
	WrkFail  netFail
	Bulk     []float64 // bytes/s per transfer, server to host
	BulkFail netFail
	Upload   []float64 // bytes/s per transfer, host to server
	UpFail   netFail
	First    []time.Duration // start to the first response
	Listen   []time.Duration // start to the "listening on" line, in the same runs
	FirstOK  netFail
	Stops    netFail // servers that needed SIGKILL or did not exit

	// start returns the command line of a server running p, the runc
	// container ID ("" if none) and the address the host reaches it at.
	start func(p netProg) (argv []string, id, addr string)
	kill  func(id string) // after SIGKILL: runc delete --force
}

// succeeded reports whether any measurement of c succeeded.
func (c *netComp) succeeded() bool { return len(c.Wrk)+len(c.Bulk)+len(c.Upload)+len(c.First) > 0 }

// failed records a failed measurement: an optional competitor that has
// never worked is skipped instead, with the reason.
func (c *netComp) failed(f *netFail, why string) {
	if !c.Required && !c.succeeded() && c.WrkFail.N+c.BulkFail.N+c.UpFail.N+c.FirstOK.N == 0 {
		c.Skipped = why
		return
	}
	f.add(why)
}

// netResult is what the network scenario measured.
type netResult struct {
	Comps      []*netComp
	WrkSkip    string // why there are no wrk numbers
	WrkVersion string
	WrkArgs    string // wrk's options, for the report
	Runs       int    // timed wrk runs per competitor
	Warmup     time.Duration
	BulkBytes  int64
	BulkRuns   int
	FirstRuns  int
	TAP        hostLink // the TAP network ("" names if not set up)
	Veth       hostLink // the container's network
	Sizes      []sizeResult
	Leftovers  []string // anything left behind: a failure
	Checked    []string
	Err        string // set-up failed: nothing ran
}

func (n *netResult) comp(name string) *netComp {
	if n == nil {
		return nil
	}
	for _, c := range n.Comps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// hostLink is one network the harness created: the host's interface, its
// address and the peer's (guest or container).
type hostLink struct {
	Dev        string // TAP device or the host end of the veth pair
	NS         string // the container's network namespace
	Host, Peer string
	MAC        string // the guest's MAC address (TAP)
	Prefix     int
}

// netEnv is the state of one scenario run.
type netEnv struct {
	cfg  config
	work string
	dir  string // servers' stderr files
	res  *netResult

	mu       sync.Mutex
	cur      *server  // the server running now, stopped on an interrupt
	curComp  *netComp // whose it is
	stopping bool     // interrupted: start no more servers
	undo     []func() // removes what the set-up created, last first
	nserv    int
}

// netScenario sets up the networks, runs the three measurements on every
// competitor and removes everything again.
func netScenario(cfg config, work string, a *artifacts, rc *runcEnv, runcSkip string) *netResult {
	res := &netResult{Runs: cfg.HTTPRuns, Warmup: cfg.WrkWarmup, BulkBytes: int64(cfg.BulkMiB) << 20, BulkRuns: cfg.BulkRuns, FirstRuns: cfg.FirstRuns,
		WrkArgs: fmt.Sprintf("-t%d -c%d -d%s --latency", cfg.WrkThreads, cfg.WrkConns, wrkSeconds(cfg.WrkDur))}
	for _, p := range []string{"httpserver", "hello"} {
		s := sizeResult{Program: p}
		for _, f := range []struct {
			path string
			dst  *int64
		}{{a.images[p], &s.Image}, {a.native[p], &s.Native}, {a.plain[p], &s.Plain}} {
			if f.path == "" {
				continue
			}
			st, err := os.Stat(f.path)
			if err != nil {
				s.Err = err.Error()
				break
			}
			*f.dst = st.Size()
		}
		res.Sizes = append(res.Sizes, s)
	}
	e := &netEnv{cfg: cfg, work: work, dir: filepath.Join(work, "net"), res: res}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		res.Err = err.Error()
		return res
	}

	// An interrupted harness still removes its servers, its networks and
	// its work directory (unless -keep).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	quit := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(quit)
	}()
	go func() {
		select {
		case s := <-sigs:
			logf("network: %v: stopping the server and removing the networks", s)
			e.mu.Lock()
			e.stopping = true
			if srv := e.cur; srv != nil {
				srv.proc.Kill()
				if k := e.curComp.kill; k != nil && srv.id != "" {
					k(srv.id)
				}
			}
			e.mu.Unlock()
			e.teardown()
			if !e.cfg.Keep {
				os.RemoveAll(e.work)
			}
			os.Exit(1)
		case <-quit:
		}
	}()
	defer e.teardown()

	if _, err := exec.LookPath(cfg.Wrk); cfg.Wrk == "" {
		res.WrkSkip = "disabled with -wrk ''"
	} else if err != nil {
		res.WrkSkip = fmt.Sprintf("%s not found (install the Debian package wrk): %v", cfg.Wrk, err)
	} else {
		out, _ := exec.Command(cfg.Wrk, "--version").CombinedOutput() // exits 1 after printing its version
		v := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		v, _, _ = strings.Cut(v, " Copyright")
		res.WrkVersion = v
	}

	native := &netComp{Name: "native", Label: "native, loopback", Required: true,
		How: "the static binary on the host, listening on 127.0.0.1 (`-addr 127.0.0.1:PORT`), reached over the loopback interface (MTU 65536)",
		start: func(p netProg) ([]string, string, string) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort())
			return append([]string{a.native[p.name], "-addr", addr}, p.args...), "", addr
		}}
	tap := &netComp{Name: "brique-tap", Label: "Brique, TAP"}
	user := &netComp{Name: "brique-user", Label: "Brique, user network", Required: true,
		How: "`brique run -p 127.0.0.1:PORT:GUESTPORT IMG` (default -m for network programs): the user network, brique-netd forwarding the host port to the guest",
		start: func(p netProg) ([]string, string, string) {
			port := freePort()
			argv := []string{a.brique, "run", "-p", fmt.Sprintf("127.0.0.1:%d:%d", port, p.port), a.images[p.name]}
			if len(p.args) > 0 {
				argv = append(append(argv, "--"), p.args...)
			}
			return argv, "", fmt.Sprintf("127.0.0.1:%d", port)
		}}
	ctr := &netComp{Name: "runc", Label: "runc + veth"}
	// The same container held to one CPU: Brique's guest has one vCPU,
	// while the container's server (and the kernel's TCP work for it) can
	// use every CPU of the machine.
	ctr1 := &netComp{Name: netBase1CPU, Label: "runc + veth, 1 CPU"}
	res.Comps = []*netComp{native, tap, user, ctr, ctr1}

	privSkip := ""
	if os.Geteuid() != 0 {
		privSkip = "needs root (CAP_NET_ADMIN): run the harness as root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		privSkip = "the ip command is not installed (Debian package iproute2)"
	}
	if privSkip != "" {
		tap.Skipped = "creating a TAP device " + privSkip
	} else if err := e.setupTAP(); err != nil {
		tap.Skipped = "setting up the TAP device: " + err.Error()
	} else {
		l := res.TAP
		tap.Required = true
		tap.How = fmt.Sprintf("`brique run --net tap=%s,ip=%s/%d,gw=%s,mac=%s IMG` (default -m for network programs): a TAP device in the host's namespace with %s/%d and a permanent neighbour entry for the guest's MAC",
			l.Dev, l.Peer, l.Prefix, l.Host, l.MAC, l.Host, l.Prefix)
		tap.start = func(p netProg) ([]string, string, string) {
			argv := []string{a.brique, "run", "--net", fmt.Sprintf("tap=%s,ip=%s/%d,gw=%s,mac=%s", l.Dev, l.Peer, l.Prefix, l.Host, l.MAC), a.images[p.name]}
			if len(p.args) > 0 {
				argv = append(append(argv, "--"), p.args...)
			}
			return argv, "", net.JoinHostPort(l.Peer, strconv.Itoa(p.port))
		}
	}
	progs := []netProg{
		{name: "httpserver", port: httpGuestPort},
		{name: "bulk", port: bulkGuestPort, args: []string{"-n", strconv.FormatInt(res.BulkBytes, 10)}},
		{name: "bulk", mode: "recv", port: bulkGuestPort, args: []string{"-recv"}},
	}
	switch {
	case rc == nil:
		ctr.Skipped = runcSkip
	case privSkip != "":
		ctr.Skipped = "creating a network namespace and a veth pair " + privSkip
	default:
		if err := e.setupVeth(); err != nil {
			ctr.Skipped = "setting up the veth pair: " + err.Error()
			break
		}
		l := res.Veth
		bundles := map[string]string{}
		for _, p := range progs {
			dir := filepath.Join(work, "bundle-net-"+p.name+p.mode)
			if err := rc.writeBundle(dir, a.native[p.name], p.args...); err != nil {
				ctr.Skipped = "writing the bundle: " + err.Error()
				break
			}
			if err := joinNetns(dir, netnsPath(l.NS)); err != nil {
				ctr.Skipped = "writing the bundle: " + err.Error()
				break
			}
			bundles[p.name+p.mode] = dir
		}
		ctr.How = fmt.Sprintf("`runc run`, rootfs = the static binary, listening on its default port in the network namespace %s (`linux.namespaces` path in config.json), reached over a veth pair: host %s/%d, container %s/%d",
			l.NS, l.Host, l.Prefix, l.Peer, l.Prefix)
		ctr.start = func(p netProg) ([]string, string, string) {
			argv, id := rc.argvBundle(bundles[p.name+p.mode])
			return argv, id, net.JoinHostPort(l.Peer, strconv.Itoa(p.port))
		}
		ctr.kill = rc.remove
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			ctr1.Skipped = "the taskset command is not installed (Debian package util-linux)"
			break
		}
		ctr1.How = "the same container started as `taskset -c 0 runc run ...`: the container's processes may run on CPU 0 only, so its Go runtime sees one CPU (GOMAXPROCS 1), as Brique's guest has one vCPU (the kernel's network work for it is not pinned)"
		ctr1.start = func(p netProg) ([]string, string, string) {
			argv, id := rc.argvBundle(bundles[p.name+p.mode])
			return append([]string{taskset, "-c", "0"}, argv...), id, net.JoinHostPort(l.Peer, strconv.Itoa(p.port))
		}
		ctr1.kill = rc.remove
	}
	if ctr1.Skipped == "" && ctr1.start == nil {
		ctr1.Skipped = ctr.Skipped
	}

	var active []*netComp
	for _, c := range res.Comps {
		if c.Skipped == "" {
			active = append(active, c)
		}
	}
	if res.WrkSkip == "" {
		logf("scenario 7: network, HTTP (wrk %s, %d timed run(s) each)", res.WrkArgs, cfg.HTTPRuns)
		interleave(active, cfg.HTTPRuns, func(c *netComp) { e.wrkRun(c, progs[0]) })
	}
	logf("scenario 7: network, bulk transfer (%d MiB, %d run(s) each)", cfg.BulkMiB, cfg.BulkRuns)
	interleave(active, cfg.BulkRuns, func(c *netComp) { e.transferRun(c, progs[1], "bulk", bulkRead, &c.Bulk, &c.BulkFail) })
	logf("scenario 7: network, bulk transfer the other way (%d MiB, %d run(s) each)", cfg.BulkMiB, cfg.BulkRuns)
	interleave(active, cfg.BulkRuns, func(c *netComp) { e.transferRun(c, progs[2], "upload", bulkWrite, &c.Upload, &c.UpFail) })
	logf("scenario 7: network, boot to the first HTTP response (%d run(s) each)", cfg.FirstRuns)
	interleave(active, cfg.FirstRuns, func(c *netComp) { e.firstRun(c, progs[0]) })

	e.teardown()
	e.checkLeftovers()
	return res
}

// interleave runs f n times for every competitor, round-robin, the order
// rotating from one round to the next; a competitor skipped meanwhile
// drops out.
func interleave(comps []*netComp, n int, f func(*netComp)) {
	for i := 0; i < n; i++ {
		for j := range comps {
			if c := comps[(i+j)%len(comps)]; c.Skipped == "" {
				f(c)
			}
		}
	}
}

// wrkRun starts an HTTP server, runs wrk against it (an untimed run first
// if configured) and stops it.
func (e *netEnv) wrkRun(c *netComp, p netProg) {
	s, addr, err := e.startListening(c, p)
	if err == nil {
		url := "http://" + addr + "/small"
		if e.cfg.WrkWarmup > 0 {
			_, _, err = runWrk(e.cfg, url, e.cfg.WrkWarmup)
		}
		var w wrkResult
		if err == nil {
			before, cerr := takeCPUSnap(s.proc.Pid)
			var used time.Duration
			if w, used, err = runWrk(e.cfg, url, e.cfg.WrkDur); err == nil {
				after, cerr2 := takeCPUSnap(s.proc.Pid)
				if cerr == nil && cerr2 == nil {
					w.CPU = cpuBetween(before, after, used)
				} else {
					logf("network %s: CPU accounting failed: %v", c.Name, errors.Join(cerr, cerr2))
				}
				c.Wrk = append(c.Wrk, w)
				logf("network %s: wrk: %v", c.Name, w)
			}
		}
	}
	e.stop(c, s)
	if err != nil {
		logf("network %s: wrk failed: %v", c.Name, err)
		c.failed(&c.WrkFail, err.Error())
	}
}

// transferRun starts the bulk server p, times one transfer with xfer
// (bulkRead: from it; bulkWrite: to it), records the rate in *rates or
// the failure in *fail, and stops the server.
func (e *netEnv) transferRun(c *netComp, p netProg, what string, xfer func(addr string, want int64, idle time.Duration) (time.Duration, error), rates *[]float64, fail *netFail) {
	s, addr, err := e.startListening(c, p)
	if err == nil {
		var took time.Duration
		if took, err = xfer(addr, e.res.BulkBytes, bulkIdle); err == nil {
			*rates = append(*rates, float64(e.res.BulkBytes)/took.Seconds())
			logf("network %s: %s: %s in %v, %s", c.Name, what, fmtTransfer(e.res.BulkBytes), took.Round(time.Millisecond), fmtMBps((*rates)[len(*rates)-1]))
		}
	}
	e.stop(c, s)
	if err != nil {
		logf("network %s: %s failed: %v", c.Name, what, err)
		c.failed(fail, err.Error())
	}
}

// firstRun starts the HTTP server and times its first answer.
func (e *netEnv) firstRun(c *netComp, p netProg) {
	s, addr, err := e.start(c, p)
	if err == nil {
		var took time.Duration
		if took, err = firstResponse(s, "http://"+addr+"/small", firstLimit); err == nil {
			c.First = append(c.First, took)
			listen := s.listenedAt()
			if listen > 0 {
				c.Listen = append(c.Listen, listen)
			}
			logf("network %s: first response after %v (listening line after %v)", c.Name, took.Round(10*time.Microsecond), listen.Round(10*time.Microsecond))
		}
	}
	e.stop(c, s)
	if err != nil {
		logf("network %s: first response failed: %v", c.Name, err)
		c.failed(&c.FirstOK, err.Error())
	}
}

// start starts c's server for p; it returns the address to reach it at.
func (e *netEnv) start(c *netComp, p netProg) (*server, string, error) {
	argv, id, addr := c.start(p)
	// Under the lock, so that an interrupt either stops this server or
	// comes before it starts.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping {
		return nil, "", errors.New("interrupted")
	}
	e.nserv++
	errPath := filepath.Join(e.dir, fmt.Sprintf("stderr-%s-%d", c.Name, e.nserv))
	s, err := startServer(argv, id, e.dir, errPath)
	if err != nil {
		return nil, "", err
	}
	e.cur, e.curComp = s, c
	return s, addr, nil
}

// startListening starts c's server for p, waits for its "listening on"
// line and checks that it answers one request.
func (e *netEnv) startListening(c *netComp, p netProg) (*server, string, error) {
	s, addr, err := e.start(c, p)
	if err != nil {
		return nil, "", err
	}
	if err := s.waitListening(netReadyTimeout); err != nil {
		return s, "", err
	}
	if p.name == "httpserver" {
		if _, err := firstResponse(s, "http://"+addr+"/small", 10*time.Second); err != nil {
			return s, "", err
		}
	}
	return s, addr, nil
}

// stop ends a server: SIGTERM (brique forwards it to the guest; in a
// container the program is its namespace's init and Go's runtime exits
// on it), then SIGKILL and c.kill if it is still running.
func (e *netEnv) stop(c *netComp, s *server) {
	if s == nil {
		return
	}
	if !s.stop(netStopTimeout, func() {
		if c.kill != nil && s.id != "" {
			c.kill(s.id)
		}
	}) {
		c.Stops.add(fmt.Sprintf("%s (pid %d) did not exit on SIGTERM within %v", s.argv0, s.proc.Pid, netStopTimeout))
	}
	if !s.exited() {
		e.res.Leftovers = append(e.res.Leftovers, fmt.Sprintf("%s: %s (pid %d) did not exit even after SIGKILL", c.Name, s.argv0, s.proc.Pid))
	}
	if c.kill != nil && s.id != "" {
		c.kill(s.id) // runc run deletes a container that exited; this catches the rest
	}
	e.mu.Lock()
	e.cur, e.curComp = nil, nil
	e.mu.Unlock()
}

// ip runs the ip command; its error quotes the output.
func ip(args ...string) error {
	_, err := command(".", nil, append([]string{"ip"}, args...)...)
	return err
}

// addUndo registers a clean-up step of the set-up.
func (e *netEnv) addUndo(f func()) {
	e.mu.Lock()
	e.undo = append(e.undo, f)
	e.mu.Unlock()
}

// teardown runs the clean-up steps, last first, once.
func (e *netEnv) teardown() {
	e.mu.Lock()
	undo := e.undo
	e.undo = nil
	e.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
}

// setupTAP creates the TAP device in the host's namespace, with the first
// free 10.77.X.0/24 network and a permanent neighbour entry for the
// guest's address: the guest's MAC is fixed, so the host sends to it
// without ARP, which would otherwise add a retry (a second) to the first
// response of a guest that was not yet up when the host first asked.
func (e *netEnv) setupTAP() error {
	subnet, err := pickSubnet(77)
	if err != nil {
		return err
	}
	l := hostLink{Dev: fmt.Sprintf("bqbtap%d", os.Getpid()), Prefix: 24, MAC: "52:54:00:4d:00:02"}
	l.Host, l.Peer = subnetAddr(subnet, 1), subnetAddr(subnet, 2)
	if err := ip("tuntap", "add", "dev", l.Dev, "mode", "tap"); err != nil {
		return err
	}
	e.addUndo(func() { ip("link", "del", l.Dev) })
	e.res.TAP = l
	for _, args := range [][]string{
		{"addr", "add", fmt.Sprintf("%s/%d", l.Host, l.Prefix), "dev", l.Dev},
		{"link", "set", l.Dev, "up"},
		{"neigh", "replace", l.Peer, "lladdr", l.MAC, "dev", l.Dev, "nud", "permanent"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// setupVeth creates the container's network namespace and a veth pair
// between it and the host, on the first free 10.78.X.0/24 network.
func (e *netEnv) setupVeth() error {
	subnet, err := pickSubnet(78)
	if err != nil {
		return err
	}
	l := hostLink{Dev: fmt.Sprintf("bqbveth%d", os.Getpid()), NS: fmt.Sprintf("briquebench-%d", os.Getpid()), Prefix: 24}
	l.Host, l.Peer = subnetAddr(subnet, 1), subnetAddr(subnet, 2)
	if err := ip("netns", "add", l.NS); err != nil {
		return err
	}
	e.addUndo(func() { ip("netns", "del", l.NS) })
	if err := ip("link", "add", l.Dev, "type", "veth", "peer", "name", "eth0", "netns", l.NS); err != nil {
		return err
	}
	e.addUndo(func() {
		if _, err := net.InterfaceByName(l.Dev); err == nil {
			ip("link", "del", l.Dev) // gone with the namespace, normally
		}
	})
	e.res.Veth = l
	for _, args := range [][]string{
		{"addr", "add", fmt.Sprintf("%s/%d", l.Host, l.Prefix), "dev", l.Dev},
		{"link", "set", l.Dev, "up"},
		{"-n", l.NS, "addr", "add", fmt.Sprintf("%s/%d", l.Peer, l.Prefix), "dev", "eth0"},
		{"-n", l.NS, "link", "set", "eth0", "up"},
		{"-n", l.NS, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// netnsPath is where ip netns add mounts a named namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

// pickSubnet returns the first 10.b.X.0/24 that overlaps no network of
// the host's interfaces.
func pickSubnet(b byte) (*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var used []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			used = append(used, n)
		}
	}
	if n := freeSubnet(b, used); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("every 10.%d.X.0/24 network overlaps one of the host's", b)
}

// freeSubnet is pickSubnet's choice among the networks in used.
func freeSubnet(b byte, used []*net.IPNet) *net.IPNet {
	for x := 0; x < 256; x++ {
		cand := &net.IPNet{IP: net.IPv4(10, b, byte(x), 0).To4(), Mask: net.CIDRMask(24, 32)}
		free := true
		for _, u := range used {
			if u.Contains(cand.IP) || cand.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			return cand
		}
	}
	return nil
}

// subnetAddr is host number n of a /24.
func subnetAddr(n *net.IPNet, host byte) string {
	a := n.IP.To4()
	return net.IPv4(a[0], a[1], a[2], host).String()
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0 // the server fails to listen and says so
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// checkLeftovers checks, after the teardown, that the networks are gone
// and that no process started from the work directory (servers,
// brique-netd) still runs; such a process is killed.
func (e *netEnv) checkLeftovers() {
	add := func(format string, args ...any) {
		e.res.Leftovers = append(e.res.Leftovers, fmt.Sprintf(format, args...))
	}
	for _, l := range []hostLink{e.res.TAP, e.res.Veth} {
		if l.Dev == "" {
			continue
		}
		if _, err := net.InterfaceByName(l.Dev); err == nil {
			add("the interface %s is still there", l.Dev)
			ip("link", "del", l.Dev)
		}
		if l.NS != "" {
			if _, err := os.Stat(netnsPath(l.NS)); err == nil {
				add("the network namespace %s is still there", l.NS)
				ip("netns", "del", l.NS)
			}
		}
	}
	e.res.Checked = append(e.res.Checked, "the TAP device, the veth pair and the network namespace (gone)")
	// brique-netd exits when brique closes its socket; give it a moment.
	deadline := time.Now().Add(netStopTimeout)
	for {
		left := fromWork(e.work)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				add("process %d (%s) still ran from the work directory (killed)", p.PID, p.Comm)
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.res.Checked = append(e.res.Checked, "every process whose command line names the harness's work directory (servers, brique-netd)")
}

// fromWork lists live processes whose command line names the work
// directory.
func fromWork(work string) []procInfo {
	var out []procInfo
	self := os.Getpid()
	for pid, p := range allProcs() {
		if pid == self || p.State == 'Z' {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), work) {
			out = append(out, p)
		}
	}
	return out
}

// server is a server process the scenario started, with its stdout on a
// pipe the harness reads (to see its "listening on" line) and its stderr
// in a file.
type server struct {
	argv0     string
	id        string // runc container ID
	proc      *os.Process
	began     time.Time // just before clone+exec
	done      chan struct{}
	listening chan struct{} // closed at the "listening on" line
	listenAt  time.Duration // began to the arrival of that line
	errPath   string

	mu  sync.Mutex
	out []byte // the start of its stdout
}

// startServer starts argv in dir.
func startServer(argv []string, id, dir, errPath string) (*server, error) {
	s := &server{argv0: filepath.Base(argv[0]), id: id, errPath: errPath, done: make(chan struct{}), listening: make(chan struct{})}
	errf, err := os.Create(errPath)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.began = time.Now()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: dir, Files: []*os.File{devnull, pw, errf}})
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	s.proc = p
	go func() {
		p.Wait()
		close(s.done)
	}()
	go func() {
		// Reads to EOF, so that the server never blocks on a full pipe.
		defer pr.Close()
		br := bufio.NewReader(pr)
		said := false
		for {
			line, err := br.ReadString('\n')
			s.mu.Lock()
			if len(s.out) < 4096 {
				s.out = append(s.out, line...)
			}
			s.mu.Unlock()
			if !said && strings.Contains(line, listeningLine) {
				s.mu.Lock()
				s.listenAt = time.Since(s.began)
				s.mu.Unlock()
				close(s.listening)
				said = true
			}
			if err != nil {
				return
			}
		}
	}()
	return s, nil
}

// listenedAt is the time from the start to the "listening on" line, 0
// if it has not come.
func (s *server) listenedAt() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenAt
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// output is the start of the server's stdout and stderr, on one line.
func (s *server) output() string {
	s.mu.Lock()
	out := string(s.out)
	s.mu.Unlock()
	errb, _ := os.ReadFile(s.errPath)
	return oneLine(out + " " + string(errb))
}

// waitListening waits for the "listening on" line.
func (s *server) waitListening(limit time.Duration) error {
	select {
	case <-s.listening:
		return nil
	case <-s.done:
		return fmt.Errorf("%s exited before listening: %s", s.argv0, s.output())
	case <-time.After(limit):
		return fmt.Errorf("%s: no %q line after %v: %s", s.argv0, listeningLine, limit, s.output())
	}
}

// stop sends SIGTERM and waits up to grace; then it calls kill, sends
// SIGKILL and waits as long again. It reports whether SIGTERM was enough.
func (s *server) stop(grace time.Duration, kill func()) bool {
	if s.exited() {
		return true
	}
	s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return true
	case <-time.After(grace):
	}
	kill()
	s.proc.Kill()
	select {
	case <-s.done:
	case <-time.After(grace):
	}
	return false
}

// firstResponse polls url until a GET returns 200 and "ok\n", and returns
// the time from the server's start to that answer. A new attempt starts
// every firstEvery, each on a new connection and given firstAttempt (so
// that a SYN lost while the server was not up yet costs no retransmission
// timeout), at most firstInflight at once.
func firstResponse(s *server, url string, limit time.Duration) (time.Duration, error) {
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	won := make(chan time.Duration, 1)
	sem := make(chan struct{}, firstInflight)
	defer func() {
		cancel()
		for i := 0; i < firstInflight; i++ { // wait for the attempts in flight
			sem <- struct{}{}
		}
	}()
	var lastErr atomic.Value
	lastErr.Store("no attempt finished")
	attempt := func(timeout time.Duration) {
		defer func() { <-sem }()
		actx, acancel := context.WithTimeout(ctx, timeout)
		defer acancel()
		req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
		if err != nil {
			lastErr.Store(err.Error())
			return
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			lastErr.Store(err.Error())
			return
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		at := time.Since(s.began)
		switch {
		case err != nil:
			lastErr.Store(err.Error())
		case resp.StatusCode != http.StatusOK || string(body) != smallBody:
			lastErr.Store(fmt.Sprintf("%s: %q", resp.Status, clip(string(body), 100)))
		default:
			select {
			case won <- at:
			default:
			}
		}
	}
	tick := time.NewTicker(firstEvery)
	defer tick.Stop()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case at := <-won:
			return at, nil
		case <-s.done:
			select {
			case at := <-won:
				return at, nil
			default:
			}
			return 0, fmt.Errorf("%s exited before answering GET %s: %s", s.argv0, url, s.output())
		case <-deadline.C:
			return 0, fmt.Errorf("no answer to GET %s within %v (last: %v): %s", url, limit, lastErr.Load(), s.output())
		case <-tick.C:
			timeout := firstAttempt
			if time.Since(s.began) > firstLate {
				timeout = firstAttemptLate
			}
			select {
			case sem <- struct{}{}:
				go attempt(timeout)
			default: // firstInflight attempts wait already
			}
		}
	}
}

// bulkRead connects to addr, reads until EOF and returns the time from
// the connect call to EOF; the byte count must be want.
func bulkRead(addr string, want int64, idle time.Duration) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		k, err := c.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading from %s after %d of %d bytes: %w", addr, n, want, err)
		}
	}
	took := time.Since(start)
	if n != want {
		return 0, fmt.Errorf("%s sent %d bytes, want %d", addr, n, want)
	}
	return took, nil
}

// bulkWrite connects to addr, writes want bytes in 256 KiB writes,
// half-closes and waits for the server's "received N" line; it returns
// the time from the connect call to that answer.
func bulkWrite(addr string, want int64, idle time.Duration) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n := int64(0); n < want; {
		b := buf[:min(int64(len(buf)), want-n)]
		c.SetWriteDeadline(time.Now().Add(idle))
		k, err := c.Write(b)
		n += int64(k)
		if err != nil {
			return 0, fmt.Errorf("writing to %s after %d of %d bytes: %w", addr, n, want, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(idle))
	line, err := io.ReadAll(io.LimitReader(c, 64))
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("reading the answer of %s: %w", addr, err)
	}
	if got := strings.TrimSpace(string(line)); got != fmt.Sprintf("received %d", want) {
		return 0, fmt.Errorf("%s answered %q after %d bytes were sent", addr, got, want)
	}
	return took, nil
}

// joinNetns makes the container of the bundle in dir join the network
// namespace at path (config.json's linux.namespaces entry of type
// network gets that path) instead of creating an empty one.
func joinNetns(dir, path string) error {
	return editBundle(dir, func(cfg map[string]any) error {
		linux, _ := cfg["linux"].(map[string]any)
		if linux == nil {
			return fmt.Errorf("no linux section in %s/config.json", dir)
		}
		nss, _ := linux["namespaces"].([]any)
		for _, x := range nss {
			if ns, ok := x.(map[string]any); ok && ns["type"] == "network" {
				ns["path"] = path
				return nil
			}
		}
		linux["namespaces"] = append(nss, map[string]any{"type": "network", "path": path})
		return nil
	})
}
