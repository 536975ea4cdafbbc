package main

import (
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	busy, err := parseProcStatCPU("cpu  100 5 50 1000 7 3 11 2 40 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal; guest (40) is inside user.
	if busy != 100+5+50+3+11+2 {
		t.Errorf("busy %d, want %d", busy, 171)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu a b c d e f g h"} {
		if _, err := parseProcStatCPU(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCPUBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := cpuSnap{when: t0, busy: 1000, threads: map[threadKey]threadCPU{
		{10, 10}: {"monitor's other threads", 50},
		{10, 11}: {"vCPU", 200},
		{10, 12}: {"network I/O thread", 30},
		{10, 13}: {"monitor's other threads", 5}, // exits during the run
	}}
	b := cpuSnap{when: t0.Add(10 * time.Second), busy: 2500, threads: map[threadKey]threadCPU{
		{10, 10}: {"monitor's other threads", 60},
		{10, 11}: {"vCPU", 1100},
		{10, 12}: {"network I/O thread", 430},
		{10, 14}: {"monitor's other threads", 7}, // started during the run
	}}
	u := cpuBetween(a, b, 3*time.Second)
	if u.Wall != 10*time.Second || u.Busy != 15*time.Second || u.Wrk != 3*time.Second {
		t.Errorf("wall %v busy %v wrk %v", u.Wall, u.Busy, u.Wrk)
	}
	if want := ticks(10 + 900 + 400 + 7); u.Server != want {
		t.Errorf("server %v, want %v", u.Server, want)
	}
	want := []cpuPart{{"vCPU", ticks(900)}, {"network I/O thread", ticks(400)}, {"monitor's other threads", ticks(17)}}
	if len(u.Parts) != len(want) {
		t.Fatalf("parts %v, want %v", u.Parts, want)
	}
	for i := range want {
		if u.Parts[i] != want[i] {
			t.Errorf("part %d: %v, want %v", i, u.Parts[i], want[i])
		}
	}
	if got := perRequest(u.Busy, wrkResult{Requests: 300000}); got != 50 {
		t.Errorf("per request %v µs, want 50", got)
	}
}

func TestServerPart(t *testing.T) {
	for _, tc := range []struct{ proc, thread, want string }{
		{"brique", "brique-vcpu0", "vCPU"},
		{"brique", "brique-net-io", "network I/O thread"},
		{"brique", "brique", "monitor's other threads"},
		{"brique-netd", "brique-netd", "brique-netd"},
		{"runc", "runc", "runc"},
		{"httpserver", "httpserver", "httpserver"},
	} {
		if got := serverPart(tc.proc, tc.thread); got != tc.want {
			t.Errorf("serverPart(%q, %q) = %q, want %q", tc.proc, tc.thread, got, tc.want)
		}
	}
}
