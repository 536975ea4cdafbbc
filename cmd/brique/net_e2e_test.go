package main_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	bimage "brique.dev/brique/image"
	"brique.dev/brique/internal/kvmtest"
	"brique.dev/brique/internal/testutil"
)

// server is a `brique run` left running in the background.
type server struct {
	cmd *exec.Cmd
	out *testutil.SyncBuffer
}

// startBrique starts `brique run args...` (prefix: a command to run it
// under, such as ip netns exec) and waits until its output contains want.
func startBrique(t *testing.T, prefix []string, want string, args ...string) *server {
	t.Helper()
	argv := append(append(prefix, briqueBin, "run"), args...)
	s := &server{cmd: exec.Command(argv[0], argv[1:]...), out: new(testutil.SyncBuffer)}
	s.cmd.Env = briqueEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.out.String(), want) {
		select {
		case <-done:
			t.Fatalf("brique run exited before printing %q:\n%s", want, s.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("brique run did not print %q within a minute:\n%s", want, s.out)
		}
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// TestNetHTTPServerUser: `brique run -p HOSTPORT:8080 examples/httpserver`
// serves the host through the user network (no privileges involved), for
// one request and for many concurrent ones, and moves tens of MiB each way
// intact (the user network's frames are up to 64 KiB: netconf.UserMTU).
func TestNetHTTPServerUser(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := exampleImage(t, "httpserver")
	port := freePort(t)
	s := startBrique(t, nil, "listening on", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), img)
	url := fmt.Sprintf("http://127.0.0.1:%d/hello", port)
	body, err := httpGet(url)
	if err != nil || !strings.Contains(body, "Hello from Brique! host=brique path=/hello") {
		t.Fatalf("GET %s: %v\n%s\nbrique output:\n%s", url, err, body, s.out)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := fmt.Sprintf("http://127.0.0.1:%d/c%d", port, i)
			if b, err := httpGet(u); err != nil || !strings.Contains(b, fmt.Sprintf("path=/c%d ", i)) {
				errs <- fmt.Errorf("GET %s: %v %q", u, err, b)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := postSums(fmt.Sprintf("http://127.0.0.1:%d/sum", port)); err != nil {
		t.Errorf("upload: %v\nbrique output:\n%s", err, s.out)
	}
	if err := getBytes(fmt.Sprintf("http://127.0.0.1:%d/bytes", port), 40<<20+17); err != nil {
		t.Errorf("download: %v\nbrique output:\n%s", err, s.out)
	}
}

// getBytes fetches n bytes from examples/httpserver's /bytes and checks
// them (byte i is i mod 251).
func getBytes(url string, n int) error {
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(fmt.Sprintf("%s?n=%d", url, n))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	buf := make([]byte, 1<<20)
	off := 0
	for {
		k, err := resp.Body.Read(buf)
		for i, b := range buf[:k] {
			if b != byte((off+i)%251) {
				return fmt.Errorf("byte %d is %d, want %d", off+i, b, (off+i)%251)
			}
		}
		off += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", off, err)
		}
	}
	if off != n {
		return fmt.Errorf("got %d bytes, want %d", off, n)
	}
	return nil
}

// TestNetUserPortInUse: a forwarded port that is already taken stops the
// run with one clear line and a failure status, whether the program is
// a server or ends at once, and nothing of the program's output appears:
// the guest boots while brique-netd starts, but its first output waits
// for the network (monitor/netgate.go).
func TestNetUserPortInUse(t *testing.T) {
	kvmtest.RequireKVM(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// A server that never prints: the failure must stop it, not wait
	// for output.
	quiet := newModule(t, "example.com/quiet", map[string]string{"main.go": `package main

import (
	"net"
	"time"
)

func main() {
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	time.Sleep(time.Hour)
}
`})
	for _, name := range []string{"httpserver", "hello", quiet} {
		target := name
		if name != quiet {
			target = exampleImage(t, name)
		}
		r := brique(t, "", "run", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), target)
		if r.Code == 0 || r.TimedOut || !strings.Contains(r.Stderr, "address already in use") || r.Stdout != "" {
			t.Errorf("%s: want a failure that names the port in use, and no output\n%s", name, r)
		}
		if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n != 0 {
			t.Errorf("%s: want one line on stderr, got %d\n%s", name, n+1, r)
		}
	}
}

// TestNetHTTPClientUser: the guest's HTTP client reaches a server on the
// host by name (host.brique.internal, through the user network's DNS).
func TestNetHTTPClientUser(t *testing.T) {
	kvmtest.RequireKVM(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "served by the host to %s", r.UserAgent())
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	img := exampleImage(t, "httpclient")
	r := brique(t, "", "run", img, fmt.Sprintf("http://host.brique.internal:%d/x", port))
	if r.Code != 0 || !strings.Contains(r.Stdout, "200 OK") || !strings.Contains(r.Stdout, "served by the host to Go-http-client") {
		t.Fatalf("want the host's page\n%s", r)
	}
	// Nothing listens there: a clear error and exit 1, no hang.
	r = brique(t, "", "run", img, fmt.Sprintf("http://host.brique.internal:%d/", freePort(t)))
	if r.Code != 1 || !strings.Contains(r.Stderr, "connection refused") {
		t.Fatalf("want connection refused\n%s", r)
	}
}

// TestNetTAPHTTP runs the HTTP server on a TAP interface inside a network
// namespace the test creates (and removes), with a static address, and
// fetches a page from inside the namespace.
func TestNetTAPHTTP(t *testing.T) {
	kvmtest.RequireKVM(t)
	ns := tapNetns(t, "brique-http", "10.9.0.1/24")
	img := exampleImage(t, "httpserver")
	s := startBrique(t, []string{"ip", "netns", "exec", ns}, "listening on",
		"--net", "tap=tap0,ip=10.9.0.2/24,gw=10.9.0.1,mac=52:54:00:12:34:56", img)
	// The client runs in the namespace: this test binary, re-executed.
	r := testutil.Cmd{Timeout: time.Minute, Env: append(os.Environ(), "BRIQUE_TEST_GET=http://10.9.0.2:8080/tap")}.Run(t,
		"ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperGet$")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Hello from Brique! host=brique path=/tap remote=10.9.0.1:") {
		t.Fatalf("GET through the TAP interface\n%s\nbrique output:\n%s", r, s.out)
	}
	// IPv6 on the link: the guest's link-local address comes from its MAC.
	r = testutil.Cmd{Timeout: time.Minute, Env: append(os.Environ(), "BRIQUE_TEST_GET=http://[fe80::5054:ff:fe12:3456%25tap0]:8080/v6")}.Run(t,
		"ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperGet$")
	if r.Code != 0 || !strings.Contains(r.Stdout, "path=/v6 remote=[fe80::") {
		t.Fatalf("GET over IPv6 (link-local)\n%s\nbrique output:\n%s", r, s.out)
	}
	// Uploads arrive intact: the host hands the guest TCP segments of up
	// to 64 KiB with partial checksums (receive offload), over IPv4 and
	// IPv6.
	for _, url := range []string{"http://10.9.0.2:8080/sum", "http://[fe80::5054:ff:fe12:3456%25tap0]:8080/sum"} {
		r = testutil.Cmd{Timeout: time.Minute, Env: append(os.Environ(), "BRIQUE_TEST_POST="+url)}.Run(t,
			"ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperPost$")
		if r.Code != 0 || !strings.Contains(r.Stdout, "digests match") {
			t.Fatalf("POST to %s\n%s\nbrique output:\n%s", url, r, s.out)
		}
	}
	// The guest has the MAC address it was given.
	out, _ := exec.Command("ip", "-n", ns, "neigh", "show", "10.9.0.2").CombinedOutput()
	if !strings.Contains(string(out), "52:54:00:12:34:56") {
		t.Errorf("neighbour entry of the guest: %s", out)
	}
}

// TestNetTAPDown: on a TAP interface that is down, brique run warns in one
// line how to bring it up, and runs the program all the same; once the
// interface is up, it says nothing.
func TestNetTAPDown(t *testing.T) {
	kvmtest.RequireKVM(t)
	ns := tapNetns(t, "brique-down", "10.9.1.1/24")
	img := exampleImage(t, "hello")
	run := func() testutil.Result {
		t.Helper()
		return testutil.Cmd{Env: briqueEnv(), Timeout: 2 * time.Minute}.Run(t,
			"ip", "netns", "exec", ns, briqueBin, "run", "--net", "tap=tap0", img)
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "tap0", "down").CombinedOutput(); err != nil {
		t.Fatalf("ip link set tap0 down: %v\n%s", err, out)
	}
	r := run()
	want := "brique: warning: tap tap0 is down, so no packet will pass: bring it up with: ip link set tap0 up\n"
	if r.Code != 0 || !strings.Contains(r.Stdout, "Hello from a Brique unikernel!") || r.Stderr != want {
		t.Errorf("on a TAP interface that is down: want the program's output and only the warning %q on stderr\n%s", want, r)
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "tap0", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set tap0 up: %v\n%s", err, out)
	}
	if r := run(); r.Code != 0 || r.Stderr != "" {
		t.Errorf("on a TAP interface that is up: want nothing on stderr\n%s", r)
	}
}

// tapNetns creates a network namespace (deleted when the test ends) with
// a TAP interface tap0 that holds hostAddr and is up, and returns its
// name. It skips the test without root or the ip command.
func tapNetns(t *testing.T, prefix, hostAddr string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		kvmtest.Require(t, errors.New("TAP devices and network namespaces need root"))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		kvmtest.Require(t, errors.New("the ip command (iproute2) is not installed"))
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipCmd("-n", ns, "link", "set", "lo", "up")
	ipCmd("-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
	ipCmd("-n", ns, "addr", "add", hostAddr, "dev", "tap0")
	// No duplicate address detection: the interface's IPv6 link-local
	// address is usable as soon as the link is up.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/tap0/accept_dad").CombinedOutput(); err != nil {
		t.Logf("disabling DAD on tap0: %v %s", err, out)
	}
	ipCmd("-n", ns, "link", "set", "tap0", "up")
	return ns
}

// TestHelperGet is not a test: TestNetTAPHTTP runs it in a namespace.
func TestHelperGet(t *testing.T) {
	url := os.Getenv("BRIQUE_TEST_GET")
	if url == "" {
		t.Skip("helper for TestNetTAPHTTP")
	}
	body, err := httpGet(url)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Print(body)
}

// TestHelperPost is not a test: TestNetTAPHTTP runs it in a namespace. It
// posts pseudo-random bodies to BRIQUE_TEST_POST (examples/httpserver's
// /sum) and checks the length and SHA-256 the server found.
func TestHelperPost(t *testing.T) {
	url := os.Getenv("BRIQUE_TEST_POST")
	if url == "" {
		t.Skip("helper for TestNetTAPHTTP")
	}
	if err := postSums(url); err != nil {
		t.Fatal(err)
	}
	fmt.Println("digests match")
}

// postSums posts pseudo-random bodies of sizes around frame and segment
// boundaries, up to 24 MiB, to examples/httpserver's /sum at url and
// checks the length and SHA-256 the server found.
func postSums(url string) error {
	c := &http.Client{Timeout: 30 * time.Second}
	for _, n := range []int{1, 1460, 65536 + 7, 24<<20 + 123} {
		body := make([]byte, n)
		rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)}).Read(body)
		resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%d bytes: %w", n, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%d bytes: %w", n, err)
		}
		if want := fmt.Sprintf("%d %x\n", n, sha256.Sum256(body)); string(got) != want {
			return fmt.Errorf("%d bytes: the server found %q, want %q", n, got, want)
		}
	}
	return nil
}

// TestNetLoopback runs socket scenarios entirely inside the guest, on its
// loopback interface (no device): TCP over IPv4 and IPv6 with a large
// transfer and half-close, many concurrent connections, UDP (with
// datagrams cut to the buffer and MSG_TRUNC), MSG_TRUNC on TCP,
// connection refused, deadlines, resets, and localhost from /etc/hosts.
func TestNetLoopback(t *testing.T) {
	kvmtest.RequireKVM(t)
	dir := newModule(t, "example.com/loopback", map[string]string{"main.go": loopbackProgram})
	r := brique(t, dir, "run", "--net", "none", ".")
	for _, want := range []string{
		"tcp4 echo 4194304 bytes", "tcp6 echo 4194304 bytes", "concurrent 200 ok",
		"udp pong", `udp cut: 4 "0123" trunc=true`, `udp next: 2 "ab" trunc=false`,
		"udp recvmsg MSG_TRUNC: 10 trunc=true", `udp recvfrom MSG_TRUNC: 10 "0123"`,
		`udp read0: 0, then "kept"`, `tcp MSG_TRUNC: 3 "xxx", then "defgh", from <nil>`, "localhost [127.0.0.1 ::1]", "refused: true", "accept deadline: true",
		"read deadline: true", "reset: true", "peer gone: EOF", "DONE",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() || r.Code != 0 {
		t.Fatalf("loopback scenarios\n%s", r)
	}
}

// TestBricksOptional: only programs that use package net get the network
// brick, and only programs that can open files get the volume brick.
func TestBricksOptional(t *testing.T) {
	for _, c := range []struct {
		name     string
		net, vol bool
	}{{"hello", false, false}, {"httpserver", true, true}, {"files", false, true}} {
		// (net/http keeps os.Open: http.Dir serves files.)
		im, err := bimage.Open(exampleImage(t, c.name))
		if err != nil {
			t.Fatal(err)
		}
		has := map[string]bool{}
		for _, b := range im.Meta.Bricks {
			has[b] = true
		}
		if has["net"] != c.net || has["vol"] != c.vol {
			t.Errorf("%s: bricks %v, want net: %v, vol: %v", c.name, im.Meta.Bricks, c.net, c.vol)
		}
		syms := 0
		if s, err := im.File.Symbols(); err == nil {
			for _, sym := range s {
				if strings.Contains(sym.Name, "gvisor") {
					syms++
				}
			}
		}
		if !c.net && syms > 0 {
			t.Errorf("%s links %d gVisor symbols", c.name, syms)
		}
	}
}

const loopbackProgram = `package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Println("FAIL", what, err)
		os.Exit(1)
	}
}

func echo(network, addr string) {
	ln, err := net.Listen(network, addr)
	check("listen", err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		check("accept", err)
		io.Copy(c, c) // until the client's half-close
		c.Close()
	}()
	c, err := net.Dial(network, ln.Addr().String())
	check("dial", err)
	defer c.Close()
	msg := make([]byte, 4<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go func() {
		_, err := c.Write(msg)
		check("write", err)
		check("close write", c.(*net.TCPConn).CloseWrite())
	}()
	b, err := io.ReadAll(c)
	check("read", err)
	for i := range b {
		if b[i] != msg[i] {
			fmt.Println("FAIL corrupted at", i)
			os.Exit(1)
		}
	}
	fmt.Println(network, "echo", len(b), "bytes")
}

// udpTrunc: a datagram longer than the buffer is cut, the rest discarded,
// and recvmsg's flags say MSG_TRUNC; with the MSG_TRUNC flag, recvmsg and
// recvfrom return the datagram's length (udp(7)).
func udpTrunc(u *net.UDPConn, peer net.Conn) {
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	peer.Write([]byte("0123456789"))
	n, _, flags, _, err := u.ReadMsgUDP(b, nil)
	check("udp cut", err)
	fmt.Printf("udp cut: %d %q trunc=%v\n", n, b[:n], flags&syscall.MSG_TRUNC != 0)
	peer.Write([]byte("ab"))
	n, _, flags, _, err = u.ReadMsgUDP(b, nil)
	check("udp next", err)
	fmt.Printf("udp next: %d %q trunc=%v\n", n, b[:n], flags&syscall.MSG_TRUNC != 0)

	rc, err := u.SyscallConn()
	check("udp raw", err)
	peer.Write([]byte("0123456789"))
	check("udp recvmsg", rc.Read(func(fd uintptr) bool {
		n, _, flags, _, err = syscall.Recvmsg(int(fd), b, nil, syscall.MSG_TRUNC)
		return err != syscall.EAGAIN
	}))
	check("udp recvmsg", err)
	fmt.Printf("udp recvmsg MSG_TRUNC: %d trunc=%v\n", n, flags&syscall.MSG_TRUNC != 0)
	peer.Write([]byte("0123456789"))
	check("udp recvfrom", rc.Read(func(fd uintptr) bool {
		n, _, err = syscall.Recvfrom(int(fd), b, syscall.MSG_TRUNC)
		return err != syscall.EAGAIN
	}))
	check("udp recvfrom", err)
	fmt.Printf("udp recvfrom MSG_TRUNC: %d %q\n", n, b)

	// A read(2) of nothing leaves a queued datagram alone.
	peer.Write([]byte("kept"))
	check("udp peek", rc.Read(func(fd uintptr) bool {
		_, _, err = syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK)
		return err != syscall.EAGAIN
	}))
	var n0 int
	check("udp read0", rc.Read(func(fd uintptr) bool {
		n0, err = syscall.Read(int(fd), nil)
		return true
	}))
	check("udp read0", err)
	n, err = u.Read(b)
	check("udp after read0", err)
	fmt.Printf("udp read0: %d, then %q\n", n0, b[:n])
}

// tcpTrunc: MSG_TRUNC on a TCP socket discards the data instead of
// copying it (tcp(7)).
func tcpTrunc() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		check("accept", err)
		c.Write([]byte("abcdefgh"))
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	check("dial", err)
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	check("tcp raw", err)
	b := []byte("xxx")
	var n int
	var from syscall.Sockaddr
	check("tcp recvfrom", rc.Read(func(fd uintptr) bool {
		n, from, err = syscall.Recvfrom(int(fd), b, syscall.MSG_TRUNC)
		return err != syscall.EAGAIN
	}))
	check("tcp recvfrom", err)
	rest, err := io.ReadAll(c)
	check("tcp read", err)
	// A stream socket reports no sender address (its length is set to 0).
	fmt.Printf("tcp MSG_TRUNC: %d %q, then %q, from %v\n", n, b, rest, from)
}

func main() {
	echo("tcp4", "127.0.0.1:0")
	echo("tcp6", "[::1]:0")

	// Many concurrent connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				fmt.Println("dial", i, err)
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("hello %d", i)
			c.Write([]byte(msg))
			b := make([]byte, len(msg))
			if _, err := io.ReadFull(c, b); err == nil && string(b) == msg {
				mu.Lock()
				okCount++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	fmt.Println("concurrent", okCount, "ok")

	// UDP.
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("udp listen", err)
	go func() {
		b := make([]byte, 100)
		n, a, err := u.ReadFrom(b)
		check("udp read", err)
		u.WriteTo(append([]byte("pong:"), b[:n]...), a)
	}()
	uc, err := net.Dial("udp", u.LocalAddr().String())
	check("udp dial", err)
	uc.Write([]byte("ping"))
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, err := uc.Read(b)
	check("udp reply", err)
	if string(b[:n]) == "pong:ping" {
		fmt.Println("udp pong")
	}
	udpTrunc(u.(*net.UDPConn), uc)
	tcpTrunc()

	addrs, err := net.LookupHost("localhost")
	check("lookup", err)
	fmt.Println("localhost", addrs)

	_, err = net.Dial("tcp", "127.0.0.1:1")
	fmt.Println("refused:", errors.Is(err, syscall.ECONNREFUSED))

	l2, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	l2.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = l2.Accept()
	fmt.Println("accept deadline:", errors.Is(err, os.ErrDeadlineExceeded))

	// A peer that says nothing: the read deadline fires. Then the server
	// resets the connection (linger 0): the client sees ECONNRESET.
	go func() {
		l2.(*net.TCPListener).SetDeadline(time.Time{})
		c, err := l2.Accept()
		check("accept", err)
		time.Sleep(200 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}()
	c, err := net.Dial("tcp", l2.Addr().String())
	check("dial", err)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(b)
	fmt.Println("read deadline:", errors.Is(err, os.ErrDeadlineExceeded))
	c.SetReadDeadline(time.Time{})
	_, err = c.Read(b)
	fmt.Println("reset:", errors.Is(err, syscall.ECONNRESET))
	c.Close()

	// A peer that closes: end of file.
	go func() {
		c, err := l2.Accept()
		check("accept", err)
		c.Close()
	}()
	c, err = net.Dial("tcp", l2.Addr().String())
	check("dial", err)
	_, err = c.Read(b)
	fmt.Println("peer gone:", err)
	fmt.Println("DONE")
}
`
