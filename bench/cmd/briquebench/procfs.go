package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procInfo is what the harness reads from /proc/PID/stat.
type procInfo struct {
	PID, PPID int
	Comm      string
	State     byte   // R, S, D, Z, ...
	Start     uint64 // start time in clock ticks after boot: with PID, identifies a process
	CPU       uint64 // user + system time in clock ticks, all threads
}

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux/amd64 kernel).
const clockTick = 10 * time.Millisecond

// parseStat parses the contents of /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields
// after it are found from the last ')'.
func parseStat(s string) (procInfo, error) {
	var p procInfo
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return p, fmt.Errorf("malformed stat %q", clip(s, 100))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return p, fmt.Errorf("malformed stat %q: %w", clip(s, 100), err)
	}
	p.PID, p.Comm = pid, s[open+1:close]
	// Fields from 3 (state) on; starttime is field 22.
	f := strings.Fields(s[close+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return p, fmt.Errorf("malformed stat %q", clip(s, 100))
	}
	p.State = f[0][0]
	if p.PPID, err = strconv.Atoi(f[1]); err != nil {
		return p, err
	}
	if p.Start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return p, err
	}
	// utime and stime are fields 14 and 15.
	for _, i := range []int{11, 12} {
		t, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return p, err
		}
		p.CPU += t
	}
	return p, nil
}

// readProc reads /proc/PID/stat; ok is false if the process is gone.
func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	p, err := parseStat(string(b))
	return p, err == nil
}

// allProcs reads every process's stat.
func allProcs() map[int]procInfo {
	ents, _ := os.ReadDir("/proc")
	ps := make(map[int]procInfo, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			ps[pid] = p
		}
	}
	return ps
}

// tree returns root and its descendants in procs, root first.
func tree(root int, procs map[int]procInfo) []procInfo {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.PPID] = append(children[p.PPID], pid)
	}
	var out []procInfo
	seen := map[int]bool{}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		p, ok := procs[pid]
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, p)
		queue = append(queue, children[pid]...)
	}
	return out
}

// alive reports whether the process p still exists (the same process: a
// PID reused since has another start time) and is not a zombie.
func alive(p procInfo) bool {
	q, ok := readProc(p.PID)
	return ok && q.Start == p.Start && q.State != 'Z'
}

// memUse is a process's resident memory in KiB: Rss counts every page it
// maps once per process; Pss divides each page by the number of processes
// mapping it (page cache of a shared binary or image, shared libraries).
type memUse struct {
	RSS, PSS int64
	HasPSS   bool
}

// parseRollup reads the Rss and Pss lines of /proc/PID/smaps_rollup.
func parseRollup(s string) (memUse, error) {
	var m memUse
	var hasRSS bool
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "Rss":
			dst, hasRSS = &m.RSS, true
		case "Pss":
			dst, m.HasPSS = &m.PSS, true
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("smaps_rollup: malformed %q", sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("smaps_rollup: %q: %w", sc.Text(), err)
		}
		*dst = n
	}
	if !hasRSS {
		return m, fmt.Errorf("smaps_rollup: no Rss line in %q", clip(s, 200))
	}
	return m, nil
}

// processMem reads a process's memory from smaps_rollup, or only its RSS
// from status (VmRSS) on kernels without smaps_rollup (before 4.14).
func processMem(pid int) (memUse, error) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		return parseRollup(string(b))
	}
	v, ok := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	if !ok {
		return memUse{}, fmt.Errorf("process %d: no smaps_rollup and no VmRSS", pid)
	}
	n, err := parseKB(v)
	return memUse{RSS: n}, err
}

// meminfoKiB returns a "Key: N kB" field of /proc/meminfo.
func meminfoKiB(key string) (int64, error) {
	v, ok := procField("/proc/meminfo", key)
	if !ok {
		return 0, fmt.Errorf("/proc/meminfo has no %s", key)
	}
	return parseKB(v)
}

// parseKB parses "123 kB".
func parseKB(v string) (int64, error) {
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("not a kB value: %q", v)
	}
	return strconv.ParseInt(f[0], 10, 64)
}
