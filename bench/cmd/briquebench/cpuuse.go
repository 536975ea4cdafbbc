package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Host CPU accounting of a timed wrk run: where the machine's CPU time
// went per request, for every competitor. Requests/s alone cannot say
// why one competitor is slower when the load generator, the server and
// (for Brique) the monitor's threads share the same few CPUs.
//
// The counters are the kernel's tick-based ones (utime + stime of each
// thread in /proc/PID/task/TID/stat, the "cpu" line of /proc/stat): a
// thread is charged a whole tick when it is running as the tick fires,
// softirq work (the host's TCP/IP processing) included when it runs in
// that thread's context. Over a 10 s run at 250 Hz on 2 CPUs that is
// ~5000 samples: statistical, but good to a few percent.

// cpuUse is the host CPU time spent during one timed wrk run.
type cpuUse struct {
	Wall    time.Duration
	Busy    time.Duration // all CPUs, everything but idle and iowait (/proc/stat)
	Server  time.Duration // the server's processes, all threads
	Parts   []cpuPart     // Server by part (Brique: vCPU, network I/O thread, the rest)
	Wrk     time.Duration // the load generator (its rusage)
	Threads int           // threads the server's processes had
}

// cpuPart is the CPU time of a named part of the server.
type cpuPart struct {
	Name string
	T    time.Duration
}

// threadKey identifies a thread across two readings.
type threadKey struct{ pid, tid int }

// cpuSnap is one reading of the counters.
type cpuSnap struct {
	when    time.Time
	busy    uint64 // ticks
	threads map[threadKey]threadCPU
}

type threadCPU struct {
	part  string
	ticks uint64
}

// takeCPUSnap reads the machine's counters and those of every thread of
// root and its descendants.
func takeCPUSnap(root int) (cpuSnap, error) {
	s := cpuSnap{when: time.Now(), threads: map[threadKey]threadCPU{}}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.busy, err = parseProcStatCPU(string(b)); err != nil {
		return s, err
	}
	for _, p := range tree(root, allProcs()) {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.PID))
		if err != nil {
			continue // gone meanwhile
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", p.PID, tid))
			if err != nil {
				continue
			}
			t, err := parseStat(string(b))
			if err != nil {
				continue
			}
			s.threads[threadKey{p.PID, tid}] = threadCPU{part: serverPart(p.Comm, t.Comm), ticks: t.CPU}
		}
	}
	return s, nil
}

// parseProcStatCPU reads the first line of /proc/stat:
// "cpu user nice system idle iowait irq softirq steal guest guest_nice"
// (guest time is already counted in user). It returns the busy ticks:
// all but idle and iowait.
func parseProcStatCPU(s string) (busy uint64, err error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", clip(line, 100))
	}
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[1+i], 10, 64); err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %w", clip(line, 100), err)
		}
	}
	user, nice, system, irq, softirq, steal := v[0], v[1], v[2], v[5], v[6], v[7]
	return user + nice + system + irq + softirq + steal, nil
}

// serverPart names the part of the server a thread belongs to: the
// Brique monitor's named threads, brique-netd, or the process's name.
func serverPart(procComm, threadComm string) string {
	switch {
	case threadComm == "brique-vcpu0":
		return "vCPU"
	case threadComm == "brique-net-io":
		return "network I/O thread"
	case procComm == "brique":
		return "monitor's other threads"
	}
	return procComm
}

// cpuBetween is the CPU time spent from a to b; wrk is the load
// generator's own.
func cpuBetween(a, b cpuSnap, wrk time.Duration) *cpuUse {
	u := &cpuUse{
		Wall:    b.when.Sub(a.when),
		Busy:    ticks(b.busy - a.busy),
		Wrk:     wrk,
		Threads: len(b.threads),
	}
	parts := map[string]time.Duration{}
	for k, t := range b.threads {
		d := t.ticks
		if t0, ok := a.threads[k]; ok && t0.ticks <= d {
			d -= t0.ticks
		}
		parts[t.part] += ticks(d)
		u.Server += ticks(d)
	}
	for name, t := range parts {
		u.Parts = append(u.Parts, cpuPart{name, t})
	}
	sort.Slice(u.Parts, func(i, j int) bool {
		if u.Parts[i].T != u.Parts[j].T {
			return u.Parts[i].T > u.Parts[j].T
		}
		return u.Parts[i].Name < u.Parts[j].Name
	})
	return u
}

func ticks(n uint64) time.Duration { return time.Duration(n) * clockTick }

// perRequest is t per request of w, in microseconds.
func perRequest(t time.Duration, w wrkResult) float64 {
	if w.Requests <= 0 {
		return 0
	}
	return float64(t) / float64(time.Microsecond) / float64(w.Requests)
}
