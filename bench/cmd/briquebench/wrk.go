package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reported (wrk 4.x with --latency).
type wrkResult struct {
	Requests int64         // "N requests in T"
	Elapsed  time.Duration // T
	RPS      float64       // "Requests/sec:"
	P50, P99 time.Duration // "Latency Distribution"
	Errors   int64         // socket errors (connect, read, write, timeout) and non-2xx/3xx responses
	CPU      *cpuUse       // host CPU time during the run (timed runs; nil if it could not be read)
}

// wrkSeconds formats d for wrk -d, which takes whole seconds.
func wrkSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

// runWrk runs wrk against url for d with the configured threads and
// connections and parses its report. A run that completed no request is
// an error. It also returns the CPU time wrk used (user + system).
func runWrk(cfg config, url string, d time.Duration) (wrkResult, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	argv := []string{cfg.Wrk, "-t" + strconv.Itoa(cfg.WrkThreads), "-c" + strconv.Itoa(cfg.WrkConns), "-d" + wrkSeconds(d), "--latency", url}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, oneLine(string(out)))
	}
	used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	w, err := parseWrk(string(out))
	if err != nil {
		return w, used, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if w.Requests == 0 {
		return w, used, fmt.Errorf("%s: no request completed: %s", strings.Join(argv, " "), oneLine(string(out)))
	}
	return w, used, nil
}

// parseWrk reads wrk's report:
//
//	  Latency Distribution
//	     50%  247.00us
//	     99%    1.14ms
//	  1052051 requests in 10.00s, 115.38MB read
//	  Socket errors: connect 0, read 0, write 0, timeout 0
//	  Non-2xx or 3xx responses: 5
//	Requests/sec: 105182.67
//
// The socket error and non-2xx lines appear only when there are such
// errors.
func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	var seen50, seen99, seenRPS, seenReqs bool
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkTime(f[1])
			if err != nil {
				return w, fmt.Errorf("wrk latency line %q: %w", strings.TrimSpace(line), err)
			}
			if f[0] == "50%" {
				w.P50, seen50 = d, true
			} else {
				w.P99, seen99 = d, true
			}
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("wrk line %q: %w", strings.TrimSpace(line), err)
			}
			w.RPS, seenRPS = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return w, fmt.Errorf("wrk line %q: %w", strings.TrimSpace(line), err)
			}
			d, err := parseWrkTime(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return w, fmt.Errorf("wrk line %q: %w", strings.TrimSpace(line), err)
			}
			w.Requests, w.Elapsed, seenReqs = n, d, true
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			rest := strings.TrimPrefix(strings.TrimSpace(line), "Socket errors:")
			for _, part := range strings.Split(rest, ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return w, fmt.Errorf("wrk line %q: malformed", strings.TrimSpace(line))
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return w, fmt.Errorf("wrk line %q: %w", strings.TrimSpace(line), err)
				}
				w.Errors += n
			}
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return w, fmt.Errorf("wrk line %q: %w", strings.TrimSpace(line), err)
			}
			w.Errors += n
		}
	}
	if !seen50 || !seen99 || !seenRPS || !seenReqs {
		return w, fmt.Errorf("wrk printed no latency distribution, request count or Requests/sec (run with --latency?): %q", clip(out, 400))
	}
	return w, nil
}

// parseWrkTime reads one of wrk's times: a decimal number with the unit
// us, ms, s, m or h.
func parseWrkTime(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("time %q: not a number with a unit", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("time %q: no unit (us, ms, s, m or h)", s)
}
