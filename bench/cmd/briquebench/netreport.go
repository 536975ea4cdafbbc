package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// netBase is the network competitor the ratios are taken against.
const netBase = "runc"

// netBase1CPU is the container held to one CPU, for a comparison at the
// same CPU budget as Brique's one vCPU.
const netBase1CPU = "runc-1cpu"

// wrkSummary is the medians over a competitor's timed wrk runs.
type wrkSummary struct {
	RPS           summary
	P50, P99      summary // nanoseconds
	Errors, Total int64
}

func summarizeWrk(ws []wrkResult) wrkSummary {
	var s wrkSummary
	var rps, p50, p99 []float64
	for _, w := range ws {
		rps = append(rps, w.RPS)
		p50 = append(p50, float64(w.P50))
		p99 = append(p99, float64(w.P99))
		s.Errors += w.Errors
		s.Total += w.Requests
	}
	s.RPS, s.P50, s.P99 = summarize(rps), summarize(p50), summarize(p99)
	return s
}

// netRan reports whether c exists and was not skipped.
func netRan(c *netComp) bool { return c != nil && c.Skipped == "" }

// netRateRatio is c's median over the container's, for rates (above 1×:
// c was faster), or why there is none.
func netRateRatio(c, base *netComp, val func(*netComp) float64) string {
	if !netRan(c) || !netRan(base) {
		return "n/a"
	}
	return ratio(val(c), val(base))
}

// netTimeRatio is the container's median over c's, for times (above 1×:
// c was faster).
func netTimeRatio(c, base *netComp, val func(*netComp) float64) string {
	if !netRan(c) || !netRan(base) {
		return "n/a"
	}
	return ratio(val(base), val(c))
}

func rpsOf(c *netComp) float64   { return summarizeWrk(c.Wrk).RPS.Median }
func bulkOf(c *netComp) float64  { return summarize(c.Bulk).Median }
func upOf(c *netComp) float64    { return summarize(c.Upload).Median }
func firstOf(c *netComp) float64 { return summarize(durations(c.First)).Median }

// netHeadline adds the network rows to the headline table.
func (r *report) netHeadline(p func(string, ...any)) {
	n := r.Net
	if n == nil || n.Err != "" {
		return
	}
	nat, tap, user, ctr := n.comp("native"), n.comp("brique-tap"), n.comp("brique-user"), n.comp(netBase)
	brique := func(f func(*netComp) string) string {
		return fmt.Sprintf("TAP %s; user %s", f(tap), f(user))
	}
	if n.WrkSkip == "" {
		rps := func(c *netComp) string {
			if !netRan(c) || len(c.Wrk) == 0 {
				return "not measured"
			}
			return fmtCount(rpsOf(c)) + "/s"
		}
		p("| HTTP requests/s, `wrk %s`, keep-alive, GET /small (median) | %s | %s (loopback) | %s (veth) | not run | brique-tap/runc %s, brique-user/runc %s (rates: above 1× Brique is faster) |\n",
			n.WrkArgs, brique(rps), rps(nat), rps(ctr), netRateRatio(tap, ctr, rpsOf), netRateRatio(user, ctr, rpsOf))
	}
	bulk := func(c *netComp) string {
		if !netRan(c) || len(c.Bulk) == 0 {
			return "not measured"
		}
		return fmtMBps(bulkOf(c))
	}
	p("| %s over one TCP connection, guest to host (median) | %s | %s (loopback) | %s (veth) | not run | brique-tap/runc %s, brique-user/runc %s |\n",
		fmtTransfer(n.BulkBytes), brique(bulk), bulk(nat), bulk(ctr), netRateRatio(tap, ctr, bulkOf), netRateRatio(user, ctr, bulkOf))
	up := func(c *netComp) string {
		if !netRan(c) || len(c.Upload) == 0 {
			return "not measured"
		}
		return fmtMBps(upOf(c))
	}
	p("| %s over one TCP connection, host to guest (median) | %s | %s (loopback) | %s (veth) | not run | brique-tap/runc %s, brique-user/runc %s |\n",
		fmtTransfer(n.BulkBytes), brique(up), up(nat), up(ctr), netRateRatio(tap, ctr, upOf), netRateRatio(user, ctr, upOf))
	first := func(c *netComp) string {
		if !netRan(c) || len(c.First) == 0 {
			return "not measured"
		}
		return fmtDur(firstOf(c))
	}
	p("| start of the command to the first HTTP response (median) | %s | %s | %s | not run | runc/brique-tap %s, runc/brique-user %s |\n",
		brique(first), first(nat), first(ctr), netTimeRatio(tap, ctr, firstOf), netTimeRatio(user, ctr, firstOf))
}

// netSkipped lists the network competitors that did not run, or not
// fully.
func (r *report) netSkipped() []string {
	n := r.Net
	if n == nil {
		return nil
	}
	var s []string
	if n.Err != "" {
		return []string{"network: the scenario could not be set up: " + mdEscape(n.Err)}
	}
	if n.WrkSkip != "" {
		s = append(s, "network: **HTTP requests/s and latency** not measured: "+mdEscape(n.WrkSkip))
	}
	for _, c := range n.Comps {
		if c.Skipped != "" {
			s = append(s, fmt.Sprintf("network: **%s** (`%s`) not measured: %s", c.Label, c.Name, mdEscape(c.Skipped)))
			continue
		}
		if c.Required {
			continue // their failures are problems
		}
		for _, f := range []struct {
			what string
			fail netFail
			ok   int
		}{{"wrk", c.WrkFail, len(c.Wrk)}, {"bulk", c.BulkFail, len(c.Bulk)}, {"upload", c.UpFail, len(c.Upload)}, {"first response", c.FirstOK, len(c.First)}} {
			if f.fail.N > 0 {
				s = append(s, fmt.Sprintf("network: **%s** (`%s`): %s failed %d of %d runs (not in the numbers): %s", c.Label, c.Name, f.what, f.fail.N, f.fail.N+f.ok, mdEscape(f.fail.First)))
			}
		}
	}
	s = append(s, "network: **Linux VM (QEMU/TCG)** not run: its network would be QEMU's emulated NIC under a software CPU, which says nothing about a Linux VM's network on KVM")
	return s
}

// problems lists the network scenario's failures: the required
// competitors (native, Brique on the user network, Brique on a TAP device
// that could be set up) must work, and nothing may be left behind.
func (n *netResult) problems() []string {
	if n == nil {
		return nil
	}
	if n.Err != "" {
		return []string{"network: " + n.Err}
	}
	var ps []string
	for _, c := range n.Comps {
		if c.Required {
			if c.Skipped != "" {
				ps = append(ps, fmt.Sprintf("network: %s could not run: %s", c.Name, c.Skipped))
			}
			for _, f := range []struct {
				what string
				fail netFail
				ok   int
			}{{"wrk", c.WrkFail, len(c.Wrk)}, {"bulk transfer", c.BulkFail, len(c.Bulk)}, {"upload", c.UpFail, len(c.Upload)}, {"first response", c.FirstOK, len(c.First)}} {
				if f.fail.N > 0 {
					ps = append(ps, fmt.Sprintf("network: %s: %s failed %d of %d runs: %s", c.Name, f.what, f.fail.N, f.fail.N+f.ok, f.fail.First))
				}
			}
		}
	}
	for _, l := range n.Leftovers {
		ps = append(ps, "network: left behind: "+l)
	}
	return ps
}

// measuredIn says which run measured a table.
func (r *report) measuredIn() string {
	return fmt.Sprintf("Measured by `%s` on %s.", r.Command, r.Machine.Date.Format("2006-01-02 15:04 MST"))
}

func (r *report) netSection(p func(string, ...any)) {
	n := r.Net
	p("## 7. Network: HTTP, bulk transfer, boot to the first response\n\n")
	if n == nil {
		p("Not run.\n\n")
		return
	}
	if n.Err != "" {
		p("Set-up failed: %s\n\n", mdEscape(n.Err))
		return
	}
	p("The same server programs, run %d ways in the same run; every measurement starts its own server, waits for its `listening on` line and stops it afterwards (SIGTERM; SIGKILL, and for runc `runc delete --force`, if it is still running %v later). ", len(n.Comps), netStopTimeout)
	p("The competitors take turns round-robin, the order rotating from one round to the next. ")
	p("Ratios are against the runc container, the usual way to isolate such a server: for rates (requests/s, MB/s) `X/runc` above 1× means X was faster, for times `runc/X` above 1× means X was faster.\n\n")
	p("What ran:\n\n")
	for _, c := range n.Comps {
		if c.Skipped != "" {
			p("- **%s** (`%s`): not measured — %s\n", c.Label, c.Name, mdEscape(c.Skipped))
			continue
		}
		p("- **%s** (`%s`): %s", c.Label, c.Name, c.How)
		if c.Stops.N > 0 {
			p("; %d server(s) needed SIGKILL (%s)", c.Stops.N, mdEscape(c.Stops.First))
		}
		p("\n")
	}
	p("\nThe native process talks over the loopback interface (MTU 65536, no device), the others over a 1500-byte-MTU link: a TAP device or a veth pair; the harness created them for this run (names and /24 networks above) and removed them afterwards. ")
	p("Brique's user network goes through brique-netd, a separate process that terminates the host's TCP connections and relays the data to the guest's network stack over a socket pair: a different path from the kernel's bridge-free TAP or veth.\n\n")

	nat, tap, user, ctr := n.comp("native"), n.comp("brique-tap"), n.comp("brique-user"), n.comp(netBase)
	ctr1 := n.comp(netBase1CPU)
	order := []*netComp{tap, user, ctr, nat}
	if ctr1 != nil { // (results from before it existed have none)
		order = []*netComp{tap, user, ctr, ctr1, nat}
	}

	p("### HTTP requests/s and latency\n\n")
	if n.WrkSkip != "" {
		p("Not measured: %s.\n\n", mdEscape(n.WrkSkip))
	} else {
		warm := "no warm-up run"
		if n.Warmup > 0 {
			warm = fmt.Sprintf("each after an untimed %s run on the same server", wrkSeconds(n.Warmup))
		}
		p("[`examples/httpserver`](../examples/httpserver) (Go's net/http) answers `GET /small` with `ok\\n`; `wrk %s http://ADDR/small` (%s) loads it over keep-alive connections, %d timed run(s) per competitor, %s; the server must first answer one `GET /small` correctly. ",
			n.WrkArgs, n.WrkVersion, n.Runs, warm)
		p("Requests/s is wrk's `Requests/sec`; the latencies are wrk's 50th and 99th percentiles (`--latency`); the table gives the median over the runs and, for requests/s, min – max. ")
		p("wrk and the server share the machine's %d CPUs.\n\n", r.Machine.NProc)
		p("%s\n\n", r.measuredIn())
		p("| competitor | requests/s: median | min – max | latency p50 | latency p99 | runs | requests | errors | requests/s vs runc | p99 vs runc |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range order {
			if !netRan(c) {
				p("| %s | not measured | | | | | | | | |\n", c.Label)
				continue
			}
			if len(c.Wrk) == 0 {
				p("| %s | every run failed | | | | 0 | | | | |\n", c.Label)
				continue
			}
			s := summarizeWrk(c.Wrk)
			rv, pv := "", ""
			if c != ctr {
				p99 := func(c *netComp) float64 { return summarizeWrk(c.Wrk).P99.Median }
				rv = fmt.Sprintf("%s/runc %s", c.Name, netRateRatio(c, ctr, rpsOf))
				pv = fmt.Sprintf("runc/%s %s", c.Name, netTimeRatio(c, ctr, p99))
			}
			p("| %s | %s | %s – %s | %s | %s | %d%s | %d | %d | %s | %s |\n", c.Label, fmtCount(s.RPS.Median), fmtCount(s.RPS.Min), fmtCount(s.RPS.Max),
				fmtDur(s.P50.Median), fmtDur(s.P99.Median), len(c.Wrk), failedSuffix(c.WrkFail), s.Total, s.Errors, rv, pv)
		}
		p("\n")
		if netRan(tap) && netRan(ctr) && len(tap.Wrk) > 0 && len(ctr.Wrk) > 0 {
			v := rpsOf(tap) / rpsOf(ctr)
			verdict := "met"
			if v < 1 {
				verdict = "**not met**"
			}
			p("Target: Brique on TAP serves at least as many requests/s as the runc container on veth (≥ 1.0×): %s (%s).", verdict, ratio(rpsOf(tap), rpsOf(ctr)))
			if netRan(ctr1) && len(ctr1.Wrk) > 0 {
				p(" At the same CPU budget (the container on one CPU, as the guest has one vCPU): brique-tap/runc-1cpu %s.", ratio(rpsOf(tap), rpsOf(ctr1)))
			}
			p("\n\n")
		} else {
			p("Target: Brique on TAP serves at least as many requests/s as the runc container on veth (≥ 1.0×): not measured in this run.\n\n")
		}
		r.netCPUTable(p, order)
	}

	p("### Bulk transfer: %s over one TCP connection\n\n", fmtTransfer(n.BulkBytes))
	p("[`bench/programs/bulk`](../bench/programs/bulk) listens on port %d and, for each connection, writes %d bytes in 256 KiB writes, half-closes and waits for the client's EOF. ", bulkGuestPort, n.BulkBytes)
	p("**Direction: server to host** (guest to host for Brique, container to host for runc): the harness connects, reads with 1 MiB buffers until EOF, checks the count, and divides it by the time from its connect call to EOF. ")
	p("%d transfer(s) per competitor, each from a freshly started server; MB = 10⁶ bytes.\n\n", n.BulkRuns)
	p("%s\n\n", r.measuredIn())
	bulkTable(p, order, ctr, func(c *netComp) ([]float64, netFail) { return c.Bulk, c.BulkFail }, bulkOf)
	p("**Direction: host to server** (host to guest for Brique): the same program with `-recv` reads each connection until EOF and answers `received N`; the harness connects, writes %d bytes in 256 KiB writes, half-closes, checks the answer, and divides the count by the time from its connect call to the answer. For Brique on TAP the host hands the guest TCP segments of up to 64 KiB (receive offload, decision 017); on the user network every frame is at most 1500 bytes. Same number of transfers.\n\n", n.BulkBytes)
	bulkTable(p, order, ctr, func(c *netComp) ([]float64, netFail) { return c.Upload, c.UpFail }, upOf)

	p("### Boot to the first HTTP response\n\n")
	p("From just before clone+exec of the command (`brique run ...`, `runc run ...`, the native binary) to the arrival of the first correct answer to `GET /small`. ")
	p("The harness does not wait for the server's output: from the start it begins a new request, on a new connection, every %v, each given %v (%v after the first %v), at most %d at once, and takes the first that succeeds; ", firstEvery, firstAttempt, firstAttemptLate, firstLate, firstInflight)
	p("a SYN sent before the server's network was up is simply superseded by a later attempt, so no TCP retransmission timeout is counted. ")
	p("%d run(s) per competitor, each from a new process; for Brique this includes the monitor's start, the guest's boot and, on the user network, starting brique-netd. ", n.FirstRuns)
	p("The second column is when, in the same runs, the server's `listening on` line reached the harness (its socket listened just before): what comes after it is the network's part.\n\n")
	p("%s\n\n", r.measuredIn())
	p("| competitor | first response: median | min – max | `listening on` line: median | runs | vs runc |\n|---|---|---|---|---|---|\n")
	for _, c := range order {
		switch {
		case !netRan(c):
			p("| %s | not measured | | | | |\n", c.Label)
		case len(c.First) == 0:
			p("| %s | every run failed | | | 0%s | |\n", c.Label, failedSuffix(c.FirstOK))
		default:
			s := summarize(durations(c.First))
			rv := ""
			if c != ctr {
				rv = fmt.Sprintf("runc/%s %s", c.Name, netTimeRatio(c, ctr, firstOf))
			}
			p("| %s | %s | %s – %s | %s | %d%s | %s |\n", c.Label, fmtDur(s.Median), fmtDur(s.Min), fmtDur(s.Max), fmtDur(summarize(durations(c.Listen)).Median), s.N, failedSuffix(c.FirstOK), rv)
		}
	}
	p("\n")

	p("### Image size\n\n")
	p("`examples/httpserver` as a Brique image (`brique build`; the library OS with the network stack linked in) against the same program as a stripped static Linux binary, `CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'` (and, last column, without `-trimpath`); hello, which does not use the network, for comparison.\n\n")
	p("%s\n\n", r.measuredIn())
	p("| program | Brique image | static binary | library OS overhead | image/static | static without -trimpath |\n|---|---|---|---|---|---|\n")
	for _, s := range n.Sizes {
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
	p("\n")

	if len(n.Leftovers) > 0 {
		p("Left behind (removed by the harness; a failure): %s.\n\n", mdEscape(strings.Join(n.Leftovers, "; ")))
	} else if len(n.Checked) > 0 {
		p("Nothing was left behind; checked: %s.\n\n", strings.Join(n.Checked, "; "))
	}
}

// fmtTransfer formats a transfer size: whole GiB as such, else fmtSize.
func fmtTransfer(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmtSize(int(n))
}

// failedSuffix is " (+N failed)" for a count of runs, or "".
func failedSuffix(f netFail) string {
	if f.N == 0 {
		return ""
	}
	return fmt.Sprintf(" (+%d failed)", f.N)
}

// String formats a wrk result for a log line.
func (w wrkResult) String() string {
	return fmt.Sprintf("%.0f requests/s, p50 %v, p99 %v, %d errors", w.RPS, w.P50.Round(time.Microsecond), w.P99.Round(time.Microsecond), w.Errors)
}

// netCPUTable reports where the host's CPU time went per request in the
// timed wrk runs.
func (r *report) netCPUTable(p func(string, ...any), order []*netComp) {
	have := false
	for _, c := range order {
		for _, w := range c.Wrk {
			have = have || w.CPU != nil
		}
	}
	if !have {
		return
	}
	p("**Host CPU per request.** During each timed run the harness read the kernel's CPU counters: every thread of the server's processes (`/proc/PID/task/TID/stat`; for Brique the monitor names its vCPU thread `brique-vcpu0` and the network device's I/O thread `brique-net-io`), wrk's own usage (rusage), and the whole machine (`/proc/stat`, all but idle and iowait). ")
	p("The counters are sampled at the kernel's ticks, so each figure is statistical (good to a few percent over a run). The host's own TCP/IP work is charged to the thread it ran in: wrk's sends and receives, the server's (for Brique, the I/O thread's writes to the TAP device carry each frame through the host's stack), or to nobody when it ran in an interrupt on an otherwise idle CPU. ")
	p("*Other* is the machine's busy time minus the server's and wrk's: other processes, kernel threads, interrupts taken while idle; near zero it can come out slightly negative, the counters being sampled. Microseconds of CPU per request (median over the timed runs); the machine has %d CPUs, so at most %d CPU-seconds per second are available.\n\n", r.Machine.NProc, r.Machine.NProc)
	p("| competitor | requests/s | machine busy | whole machine | server | server, by part | wrk | other |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range order {
		if !netRan(c) || len(c.Wrk) == 0 {
			continue
		}
		var busy, whole, server, wrk, other []float64
		parts := map[string][]float64{}
		for _, w := range c.Wrk {
			u := w.CPU
			if u == nil || u.Wall <= 0 {
				continue
			}
			busy = append(busy, float64(u.Busy)/float64(u.Wall))
			whole = append(whole, perRequest(u.Busy, w))
			server = append(server, perRequest(u.Server, w))
			wrk = append(wrk, perRequest(u.Wrk, w))
			other = append(other, perRequest(u.Busy-u.Server-u.Wrk, w))
			for _, pt := range u.Parts {
				parts[pt.Name] = append(parts[pt.Name], perRequest(pt.T, w))
			}
		}
		if len(busy) == 0 {
			p("| %s | %s | not measured | | | | | |\n", c.Label, fmtCount(rpsOf(c)))
			continue
		}
		type named struct {
			name string
			v    float64
		}
		var ps []named
		for n, vs := range parts {
			ps = append(ps, named{n, summarize(vs).Median})
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].v > ps[j].v || ps[i].v == ps[j].v && ps[i].name < ps[j].name })
		var by []string
		for _, x := range ps {
			by = append(by, fmt.Sprintf("%s %.1f", mdEscape(x.name), x.v))
		}
		us := func(xs []float64) string { return fmt.Sprintf("%.1f µs", summarize(xs).Median) }
		p("| %s | %s | %.2f CPUs | %s | %s | %s | %s | %s |\n", c.Label, fmtCount(rpsOf(c)), summarize(busy).Median,
			us(whole), us(server), strings.Join(by, "; "), us(wrk), us(other))
	}
	p("\n")
}

// bulkTable reports one direction of the bulk transfers: rates and
// failures from get, medians from med.
func bulkTable(p func(string, ...any), order []*netComp, ctr *netComp, get func(*netComp) ([]float64, netFail), med func(*netComp) float64) {
	p("| competitor | throughput: median | min – max | transfers | vs runc |\n|---|---|---|---|---|\n")
	for _, c := range order {
		if !netRan(c) {
			p("| %s | not measured | | | |\n", c.Label)
			continue
		}
		rates, fail := get(c)
		if len(rates) == 0 {
			p("| %s | every transfer failed | | 0%s | |\n", c.Label, failedSuffix(fail))
			continue
		}
		s := summarize(rates)
		rv := ""
		if c != ctr {
			rv = fmt.Sprintf("%s/runc %s", c.Name, netRateRatio(c, ctr, med))
		}
		p("| %s | %s | %s – %s | %d%s | %s |\n", c.Label, fmtMBps(s.Median), strings.Fields(fmtMBps(s.Min))[0], strings.Fields(fmtMBps(s.Max))[0], s.N, failedSuffix(fail), rv)
	}
	p("\n")
}
