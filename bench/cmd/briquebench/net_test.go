package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const wrkOut = `Running 10s test @ http://10.77.0.2:8080/small
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   296.53us  225.76us   8.76ms   95.19%
    Req/Sec   105.73k     6.07k  114.53k    79.00%
  Latency Distribution
     50%  247.00us
     75%  300.00us
     90%  400.00us
     99%    1.14ms
  1052051 requests in 10.00s, 115.38MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec: 105182.67
Transfer/sec:     11.53MB
`

func TestParseWrk(t *testing.T) {
	w, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 1052051, Elapsed: 10 * time.Second, RPS: 105182.67, P50: 247 * time.Microsecond, P99: 1140 * time.Microsecond, Errors: 8}
	if w != want {
		t.Errorf("parseWrk = %+v, want %+v", w, want)
	}
	// Without errors wrk prints neither error line.
	clean := strings.NewReplacer("  Socket errors: connect 0, read 2, write 0, timeout 1\n", "", "  Non-2xx or 3xx responses: 5\n", "").Replace(wrkOut)
	if w, err := parseWrk(clean); err != nil || w.Errors != 0 || w.Requests != 1052051 {
		t.Errorf("parseWrk without errors = %+v, %v", w, err)
	}
	for _, bad := range []string{
		"",
		strings.Replace(wrkOut, "  Latency Distribution\n     50%  247.00us\n", "", 1), // no --latency
		strings.Replace(wrkOut, "Requests/sec: 105182.67\n", "", 1),
		strings.Replace(wrkOut, "99%    1.14ms", "99%    1.14", 1),
		strings.Replace(wrkOut, "read 2,", "read x,", 1),
	} {
		if w, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk accepted %q: %+v", bad, w)
		}
	}
}

func TestParseWrkTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"247.00us", 247 * time.Microsecond, true},
		{"1.14ms", 1140 * time.Microsecond, true},
		{"10.00s", 10 * time.Second, true},
		{"1.50m", 90 * time.Second, true},
		{"2h", 2 * time.Hour, true},
		{"12", 0, false},
		{"ms", 0, false},
		{"-1ms", 0, false},
	} {
		got, err := parseWrkTime(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseWrkTime(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for d, want := range map[time.Duration]string{time.Second: "1s", 10 * time.Second: "10s", 100 * time.Millisecond: "1s", 2600 * time.Millisecond: "3s"} {
		if got := wrkSeconds(d); got != want {
			t.Errorf("wrkSeconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFreeSubnet(t *testing.T) {
	cidr := func(s string) *net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	for _, tc := range []struct {
		used []*net.IPNet
		want string
	}{
		{nil, "10.77.0.0/24"},
		{[]*net.IPNet{cidr("192.0.2.2/24"), cidr("127.0.0.1/8")}, "10.77.0.0/24"},
		{[]*net.IPNet{cidr("10.77.0.1/24")}, "10.77.1.0/24"},
		{[]*net.IPNet{cidr("10.77.0.1/24"), cidr("10.77.1.9/30")}, "10.77.2.0/24"},
		{[]*net.IPNet{cidr("10.77.0.200/16")}, ""}, // a /16 covers them all
		{[]*net.IPNet{cidr("10.0.0.1/8")}, ""},
	} {
		got := freeSubnet(77, tc.used)
		s := ""
		if got != nil {
			s = got.String()
		}
		if s != tc.want {
			t.Errorf("freeSubnet(77, %v) = %q, want %q", tc.used, s, tc.want)
		}
	}
	n := freeSubnet(78, nil)
	if a, b := subnetAddr(n, 1), subnetAddr(n, 2); a != "10.78.0.1" || b != "10.78.0.2" {
		t.Errorf("subnetAddr = %s, %s", a, b)
	}
}

func TestJoinNetns(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"process": {"args": ["sh"]}, "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := joinNetns(dir, "/run/netns/x"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Linux struct {
			Namespaces []map[string]string `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	nss := got.Linux.Namespaces
	if len(nss) != 3 || nss[1]["type"] != "network" || nss[1]["path"] != "/run/netns/x" || nss[0]["path"] != "" {
		t.Errorf("namespaces = %v", nss)
	}
	// No network namespace in the spec: one is added.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"linux": {"namespaces": [{"type": "pid"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := joinNetns(dir, "/run/netns/y"); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	if !strings.Contains(string(raw), `"path": "/run/netns/y"`) {
		t.Errorf("config.json without a network namespace: %s", raw)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := joinNetns(dir, "/run/netns/z"); err == nil {
		t.Error("joinNetns accepted a config.json without a linux section")
	}
}

func TestOnly(t *testing.T) {
	if err := checkOnly("http, files"); err != nil {
		t.Error(err)
	}
	if err := checkOnly("http,net"); err == nil || !strings.Contains(err.Error(), `"net"`) {
		t.Errorf("checkOnly(http,net) = %v", err)
	}
	c := config{Only: "http, files"}
	if !c.ran("http") || !c.ran("files") || c.ran("boot") || !(config{}).ran("boot") {
		t.Error("config.ran is wrong")
	}
}

// fakeServer is a server whose process the test does not start.
func fakeServer() *server {
	return &server{argv0: "fake", began: time.Now(), done: make(chan struct{}), listening: make(chan struct{}), errPath: os.DevNull}
}

// TestFirstResponse: the probe finds a server that starts listening
// late, and gives up on one that never answers correctly.
func TestFirstResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused until the server below listens
	s := fakeServer()
	const late = 80 * time.Millisecond
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			fmt.Fprint(w, smallBody)
			return
		}
		fmt.Fprint(w, "wrong")
	})}
	defer srv.Close()
	go func() {
		time.Sleep(late)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return // the port was taken meanwhile: the probe times out, and says so
		}
		srv.Serve(ln)
	}()
	took, err := firstResponse(s, "http://"+addr+"/small", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if took < late {
		t.Errorf("first response after %v, before the server listened (%v)", took, late)
	}
	// A wrong body is not an answer.
	if _, err := firstResponse(fakeServer(), "http://"+addr+"/other", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "wrong") {
		t.Errorf("firstResponse of a wrong body: %v", err)
	}
	// A server that exits ends the wait.
	s = fakeServer()
	close(s.done)
	if _, err := firstResponse(s, "http://127.0.0.1:1/small", 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("firstResponse of an exited server: %v", err)
	}
}

// TestBulkProgram builds bench/programs/bulk, reads a transfer from it
// with the harness's client, and stops it as the scenario does.
func TestBulkProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bulk")
	if out, err := exec.Command("go", "build", "-o", bin, "brique.dev/brique/bench/programs/bulk").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	const n = 3<<20 + 12345
	s, err := startServer([]string{bin, "-addr", addr, "-n", fmt.Sprint(n)}, "", dir, filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.proc.Kill()
	if err := s.waitListening(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if s.listenedAt() <= 0 {
		t.Error("no time for the listening line")
	}
	for i := 0; i < 2; i++ {
		if _, err := bulkRead(addr, n, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bulkRead(addr, n+1, 10*time.Second); err == nil || !strings.Contains(err.Error(), "sent 3158073 bytes") {
		t.Errorf("bulkRead of a short transfer: %v", err)
	}
	if !s.stop(5*time.Second, func() { t.Error("SIGTERM did not stop bulk") }) || !s.exited() {
		t.Error("bulk still runs")
	}
}

// TestNetReport renders the network section from made-up numbers, with a
// skipped competitor and a failure.
func TestNetReport(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x*float64(time.Millisecond)))
		}
		return ds
	}
	wrk := func(rps float64) wrkResult {
		return wrkResult{Requests: int64(rps) * 10, Elapsed: 10 * time.Second, RPS: rps, P50: time.Millisecond, P99: 4 * time.Millisecond}
	}
	n := &netResult{Runs: 2, BulkBytes: 1 << 30, BulkRuns: 2, FirstRuns: 2, WrkArgs: "-t1 -c32 -d10s --latency", WrkVersion: "wrk 4.1.0",
		Comps: []*netComp{
			{Name: "native", Label: "native, loopback", Required: true, How: "native",
				Wrk: []wrkResult{wrk(80000), wrk(90000)}, Bulk: []float64{3e9, 4e9}, First: ms(3, 4), Listen: ms(2, 3)},
			{Name: "brique-tap", Label: "Brique, TAP", Required: true, How: "tap",
				Wrk: []wrkResult{wrk(40000), wrk(40000)}, Bulk: []float64{80e6}, BulkFail: netFail{1, "reset"}, First: ms(20, 20), Listen: ms(15, 15)},
			{Name: "brique-user", Label: "Brique, user network", Required: true, How: "user",
				Wrk: []wrkResult{wrk(10000)}, Bulk: []float64{90e6}, First: ms(1000), Listen: ms(30)},
			{Name: "runc", Label: "runc + veth", Skipped: "runc not found"},
		},
		Sizes: []sizeResult{{Program: "httpserver", Image: 8 << 20, Native: 5 << 20}},
	}
	r := &report{Config: config{Only: "http"}, Command: "go run ./bench/cmd/briquebench -only http", Net: n}
	r.collectProblems()
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "brique-tap: bulk transfer failed 1 of 2 runs: reset") {
		t.Errorf("problems = %v", r.Problems)
	}
	md := r.markdown("docs/benchmarks.md")
	for _, want := range []string{
		"## 7. Network", "**PARTIAL RUN** (`-only http`)", "| HTTP requests/s, `wrk -t1 -c32 -d10s --latency`", "TAP 40k/s; user 10k/s",
		"| Brique, TAP | 40k | 40k – 40k | 1 ms | 4 ms | 2 | 800000 | 0 |", "not measured in this run",
		"| runc + veth | not measured |", "network: **runc + veth** (`runc`) not measured: runc not found",
		"| Brique, TAP | 80 MB/s | 80 – 80 | 1 (+1 failed) |", "| Brique, user network | 1 s | 1 s – 1 s | 30 ms | 1 |",
		"| httpserver | 8192 KiB | 5120 KiB | 3072 KiB | 1.60× | not built |", "Measured by `go run ./bench/cmd/briquebench -only http` on",
		"1 GiB over one TCP connection",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, absent := range []string{"## 1. Boot", "## 5. Density", "## 6. Files"} {
		if strings.Contains(md, absent) {
			t.Errorf("a -only http report has %q", absent)
		}
	}
	if i := strings.Index(md, "%!"); i >= 0 {
		t.Errorf("formatting error in the report: %q", md[max(0, i-40):min(len(md), i+40)])
	}

	// With the container: ratios and the target's verdict.
	n.Comps[3] = &netComp{Name: "runc", Label: "runc + veth", How: "runc", Wrk: []wrkResult{wrk(50000)}, Bulk: []float64{1e9}, First: ms(40), Listen: ms(35)}
	md = r.markdown("-")
	for _, want := range []string{"brique-tap/runc 0.80×", "**not met** (0.80×)", "runc/brique-tap 2.00×", "brique-tap/runc 0.08×", "runc/brique-user 0.04×"} {
		if !strings.Contains(md, want) {
			t.Errorf("report with runc lacks %q", want)
		}
	}
}
