package net

// Host tests (tier 1) of the socket service: the server's calls on
// netstack's loopback interface, without the kernel. Requests are built by
// hand, the program's memory is an arena in this process (the server reads
// and writes it through kernel.Mem, as it does the program's memory in the
// guest), and the service system calls the server makes to report
// readiness and addresses fail with ENOSYS on the host, which it ignores.

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/svc"
)

// Flags of recv calls and msg_flags (linux/socket.h).
const (
	tMsgPeek        = 0x2
	tMsgTrunc       = 0x20
	tMsgCmsgCloexec = 0x40000000
)

// prog is the program's memory: an arena of addresses.
type prog struct {
	mem []byte
	off int
}

func newProg(tb testing.TB) *prog {
	p := &prog{mem: make([]byte, 1<<16)}
	tb.Cleanup(func() { runtime.KeepAlive(p.mem) })
	return p
}

// alloc reserves n bytes and returns their address.
func (p *prog) alloc(n int) uint64 {
	a := addrOf(p.mem[p.off:])
	p.off += (n + 15) &^ 15
	if p.off > len(p.mem) {
		panic("test arena too small")
	}
	return a
}

// fill reserves n bytes set to c.
func (p *prog) fill(n int, c byte) uint64 {
	a := p.alloc(n)
	for i := range mem(a, uint64(n)) {
		mem(a, uint64(n))[i] = c
	}
	return a
}

// str reserves a copy of s (noinline: a constant-size copy to a converted
// address trips a Go 1.26 compiler crash, as in guest/kernel's copyMem).
//
//go:noinline
func (p *prog) str(s string) uint64 {
	a := p.alloc(len(s))
	copy(mem(a, uint64(len(s))), s)
	return a
}

// iovecs builds a struct iovec array for buffers given as address,
// length pairs.
func (p *prog) iovecs(bufs ...uint64) uint64 {
	a := p.alloc(8 * len(bufs))
	for i, v := range bufs {
		st64(a+8*uint64(i), v)
	}
	return a
}

// msghdr builds a struct msghdr; msg_flags starts with garbage, which
// recvmsg must overwrite.
func (p *prog) msghdr(name, namelen, iov, iovlen, ctl, ctllen uint64) uint64 {
	m := p.alloc(56)
	st64(m, name)
	st32(m+8, uint32(namelen))
	st64(m+16, iov)
	st64(m+24, iovlen)
	st64(m+32, ctl)
	st64(m+40, ctllen)
	st32(m+48, 0xdead)
	return m
}

// sockaddr4 builds a sockaddr_in for 127.0.0.1:port.
func (p *prog) sockaddr4(port uint16) uint64 {
	a := p.alloc(16)
	b := mem(a, 16)
	clear(b)
	binary.LittleEndian.PutUint16(b, syscall.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], []byte{127, 0, 0, 1})
	return a
}

// newTestServer is a server on a stack with the loopback interface.
func newTestServer(tb testing.TB) *server {
	tb.Helper()
	if svc.OnBrique() {
		tb.Skip("host test: on Brique, the server's reports would reach the running service's objects")
	}
	st, routes, err := newStack()
	if err != nil {
		tb.Fatal(err)
	}
	st.SetRouteTable(routes)
	s := &server{stack: st}
	tb.Cleanup(func() {
		for _, so := range s.socks {
			if so != nil && so.ep != nil {
				so.ep.Close()
			}
		}
		st.Close()
		st.Wait()
	})
	return s
}

// sys serves system call nr on object obj; args are the call's arguments
// after the descriptor (which the kernel turns into obj).
func sys(s *server, obj int, nr uint64, args ...uint64) int64 {
	r := &kernel.SvcRequest{NR: nr, Obj: int64(obj)}
	copy(r.Args[1:], args)
	n, _ := s.do(r)
	return n
}

// socket creates object obj as socket(domain, typ, proto) does.
func socket(tb testing.TB, s *server, obj int, domain, typ, proto uint64) {
	tb.Helper()
	s.do(&kernel.SvcRequest{NR: syscall.SYS_SOCKET, Obj: int64(obj), Args: [6]uint64{domain, typ, proto}})
	if so := s.socks[obj]; so == nil || so.err != 0 {
		tb.Fatalf("socket(%d, %d, %d) failed", domain, typ, proto)
	}
}

// waitFor waits until cond holds (netstack delivers on its own goroutines).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: timed out", what)
		}
		runtime.Gosched()
	}
}

func readable(s *server, obj int) bool {
	return s.socks[obj].ep.Readiness(waiter.ReadableEvents) != 0
}

// TestRecvDatagramTrunc: a datagram longer than the buffers is cut, the
// rest discarded; recvmsg reports MSG_TRUNC in msg_flags, and the
// MSG_TRUNC flag makes the call return the datagram's length (Linux's
// udp_recvmsg, udp(7)).
func TestRecvDatagramTrunc(t *testing.T) {
	s := newTestServer(t)
	p := newProg(t)
	const rx, tx = 0, 1
	socket(t, s, rx, syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	socket(t, s, tx, syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if r := sys(s, rx, syscall.SYS_BIND, p.sockaddr4(0), 16); r != 0 {
		t.Fatalf("bind: %d", r)
	}
	la, _ := s.socks[rx].ep.GetLocalAddress()
	dst := p.sockaddr4(la.Port)

	for _, c := range []struct {
		name      string
		send      string
		nr        uint64 // SYS_RECVMSG, SYS_RECVFROM or SYS_READ
		bufs      []int  // buffer sizes
		flags     uint64
		want      int64
		wantData  string // what lands in the buffers, in order
		wantFlags uint32 // msg_flags (recvmsg)
	}{
		{"fits", "0123", syscall.SYS_RECVMSG, []int{4}, 0, 4, "0123", 0},
		{"cut", "0123456789", syscall.SYS_RECVMSG, []int{4}, 0, 4, "0123", tMsgTrunc},
		{"cut over two buffers", "0123456789", syscall.SYS_RECVMSG, []int{3, 0, 3}, 0, 6, "012345", tMsgTrunc},
		{"MSG_TRUNC", "0123456789", syscall.SYS_RECVMSG, []int{4}, tMsgTrunc, 10, "0123", tMsgTrunc},
		{"MSG_TRUNC, fits", "0123", syscall.SYS_RECVMSG, []int{8}, tMsgTrunc, 4, "0123xxxx", 0},
		{"MSG_PEEK|MSG_TRUNC", "0123456789", syscall.SYS_RECVMSG, []int{4}, tMsgPeek | tMsgTrunc, 10, "0123", tMsgTrunc},
		{"no buffer", "0123456789", syscall.SYS_RECVMSG, []int{0}, 0, 0, "", tMsgTrunc},
		{"no buffer, MSG_TRUNC", "0123456789", syscall.SYS_RECVMSG, nil, tMsgTrunc, 10, "", tMsgTrunc},
		{"MSG_CMSG_CLOEXEC", "0123456789", syscall.SYS_RECVMSG, []int{4}, tMsgCmsgCloexec, 4, "0123", tMsgTrunc | tMsgCmsgCloexec},
		{"recvfrom cut", "0123456789", syscall.SYS_RECVFROM, []int{4}, 0, 4, "0123", 0},
		{"recvfrom MSG_TRUNC", "0123456789", syscall.SYS_RECVFROM, []int{4}, tMsgTrunc, 10, "0123", 0},
		{"read cut", "0123456789", syscall.SYS_READ, []int{4}, 0, 4, "0123", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if r := sys(s, tx, syscall.SYS_SENDTO, p.str(c.send), uint64(len(c.send)), 0, dst, 16); r != int64(len(c.send)) {
				t.Fatalf("sendto: %d", r)
			}
			waitFor(t, "datagram", func() bool { return readable(s, rx) })
			var bufs []uint64
			for _, n := range c.bufs {
				bufs = append(bufs, p.fill(n, 'x'), uint64(n))
			}
			name, namelen := p.fill(16, 0), p.alloc(4)
			st32(namelen, 16)
			var got int64
			var msg uint64
			switch c.nr {
			case syscall.SYS_RECVMSG:
				ctl := p.alloc(64)
				msg = p.msghdr(name, 16, p.iovecs(bufs...), uint64(len(c.bufs)), ctl, 64)
				got = sys(s, rx, c.nr, msg, c.flags)
			case syscall.SYS_RECVFROM:
				got = sys(s, rx, c.nr, bufs[0], bufs[1], c.flags, name, namelen)
			case syscall.SYS_READ:
				got = sys(s, rx, c.nr, bufs[0], bufs[1])
			}
			if got != c.want {
				t.Errorf("returned %d, want %d", got, c.want)
			}
			var data []byte
			for i := 0; i < len(bufs); i += 2 {
				data = append(data, mem(bufs[i], bufs[i+1])...)
			}
			if string(data) != c.wantData {
				t.Errorf("buffers hold %q, want %q", data, c.wantData)
			}
			if c.nr == syscall.SYS_RECVMSG {
				if f := ld32(msg + 48); f != c.wantFlags {
					t.Errorf("msg_flags %#x, want %#x", f, c.wantFlags)
				}
				if n := ld64(msg + 40); n != 0 {
					t.Errorf("msg_controllen %d, want 0 (no control messages)", n)
				}
				namelen = msg + 8
			}
			if c.nr != syscall.SYS_READ {
				ta, _ := s.socks[tx].ep.GetLocalAddress()
				if n, port := ld32(namelen), binary.BigEndian.Uint16(mem(name+2, 2)); n != 16 || port != ta.Port {
					t.Errorf("sender: length %d port %d, want 16 and %d", n, port, ta.Port)
				}
			}
			if c.flags&tMsgPeek != 0 {
				// Still queued, whole.
				b := p.alloc(64)
				if n := sys(s, rx, syscall.SYS_RECVFROM, b, 64, 0, 0, 0); n != int64(len(c.send)) || string(mem(b, uint64(n))) != c.send {
					t.Errorf("after the peek: read %d bytes, want the datagram %q", n, c.send)
				}
			}
			// The rest of a cut datagram is gone: the queue is empty.
			if n := sys(s, rx, syscall.SYS_READ, p.alloc(64), 64); n != -int64(syscall.EAGAIN) {
				t.Errorf("next read returned %d, want EAGAIN", n)
			}
		})
	}
}

// TestRecvPingTrunc: a ping socket cuts a long reply and says MSG_TRUNC,
// but returns what it copied even with the MSG_TRUNC flag (Linux's
// ping_recvmsg; checked natively: 4 and MSG_TRUNC for an 18-byte reply).
func TestRecvPingTrunc(t *testing.T) {
	s := newTestServer(t)
	p := newProg(t)
	socket(t, s, 0, syscall.AF_INET, syscall.SOCK_DGRAM, syscall.IPPROTO_ICMP)
	echo := "\x08\x00\x00\x00\x00\x00\x00\x01" + "0123456789" // echo request, sequence 1
	if r := sys(s, 0, syscall.SYS_SENDTO, p.str(echo), uint64(len(echo)), 0, p.sockaddr4(0), 16); r != int64(len(echo)) {
		t.Fatalf("sendto: %d", r)
	}
	waitFor(t, "echo reply", func() bool { return readable(s, 0) })
	b := p.fill(4, 'x')
	msg := p.msghdr(0, 0, p.iovecs(b, 4), 1, 0, 0)
	if n := sys(s, 0, syscall.SYS_RECVMSG, msg, tMsgTrunc); n != 4 {
		t.Errorf("recvmsg(4, MSG_TRUNC) = %d, want 4", n)
	}
	if f := ld32(msg + 48); f != tMsgTrunc {
		t.Errorf("msg_flags %#x, want MSG_TRUNC", f)
	}
	if typ := mem(b, 1)[0]; typ != 0 {
		t.Errorf("ICMP type %d, want 0 (echo reply)", typ)
	}
}

// tcpPair connects two TCP sockets over loopback: object a with the
// server's socket and connect calls, object b accepted from netstack
// directly (accept reserves an object number with SysSvcAlloc, which the
// host does not have).
func tcpPair(tb testing.TB, s *server, p *prog, a, b int) {
	tb.Helper()
	socket(tb, s, a, syscall.AF_INET, syscall.SOCK_STREAM, 0)
	lep, err := s.stack.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, new(waiter.Queue))
	if err != nil {
		tb.Fatal(err)
	}
	defer lep.Close()
	if err := lep.Bind(tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{127, 0, 0, 1})}); err != nil {
		tb.Fatal(err)
	}
	if err := lep.Listen(1); err != nil {
		tb.Fatal(err)
	}
	la, _ := lep.GetLocalAddress()
	if r := sys(s, a, syscall.SYS_CONNECT, p.sockaddr4(la.Port), 16); r != 0 && r != -int64(syscall.EINPROGRESS) {
		tb.Fatalf("connect: %d", r)
	}
	var ep tcpip.Endpoint
	var wq *waiter.Queue
	waitFor(tb, "accept", func() bool {
		ep, wq, err = lep.Accept(nil)
		return err == nil
	})
	s.socks[b] = &sock{id: int32(b), family: syscall.AF_INET, typ: sockStream, ep: ep, wq: wq}
	waitFor(tb, "connect", func() bool {
		_, err := s.socks[a].ep.GetRemoteAddress()
		return err == nil
	})
}

// TestRecvStreamTrunc: on a TCP socket the MSG_TRUNC flag discards the
// data instead of copying it (tcp(7)); msg_flags never says MSG_TRUNC.
// The writes check that the server's reused reader starts afresh.
func TestRecvStreamTrunc(t *testing.T) {
	s := newTestServer(t)
	p := newProg(t)
	const c, d = 0, 1
	tcpPair(t, s, p, c, d)
	for _, w := range []struct {
		nr   uint64
		args []uint64
	}{
		{syscall.SYS_WRITE, []uint64{p.str("ab"), 2}},
		{syscall.SYS_WRITEV, []uint64{p.iovecs(p.str("cde"), 3, p.str(""), 0, p.str("f"), 1), 3}},
		{syscall.SYS_SENDTO, []uint64{p.str("gh"), 2, 0, 0, 0}},
		{syscall.SYS_SENDMSG, []uint64{p.msghdr(0, 0, p.iovecs(p.str("i"), 1, p.str("j"), 1), 2, 0, 0), 0}},
	} {
		if n := sys(s, d, w.nr, w.args...); n <= 0 {
			t.Fatalf("system call %d: %d", w.nr, n)
		}
	}
	waitFor(t, "data", func() bool {
		n, _ := s.socks[c].ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
		return n >= 10
	})

	buf := p.fill(8, 'x')
	untouched := func(what string) {
		if b := mem(buf, 8); !bytes.Equal(b, []byte("xxxxxxxx")) {
			t.Errorf("%s wrote %q into the buffer", what, b)
		}
	}
	if n := sys(s, c, syscall.SYS_RECVFROM, buf, 3, tMsgTrunc, 0, 0); n != 3 {
		t.Errorf("recvfrom(3, MSG_TRUNC) = %d, want 3", n)
	}
	untouched("recvfrom(MSG_TRUNC)")
	msg := p.msghdr(0, 0, p.iovecs(buf, 2), 1, 0, 0)
	if n := sys(s, c, syscall.SYS_RECVMSG, msg, tMsgPeek|tMsgTrunc); n != 2 {
		t.Errorf("recvmsg(2, MSG_PEEK|MSG_TRUNC) = %d, want 2", n)
	}
	untouched("recvmsg(MSG_PEEK|MSG_TRUNC)")
	if n := sys(s, c, syscall.SYS_RECVMSG, msg, tMsgTrunc); n != 2 {
		t.Errorf("recvmsg(2, MSG_TRUNC) = %d, want 2", n)
	}
	untouched("recvmsg(MSG_TRUNC)")
	if f := ld32(msg + 48); f != 0 {
		t.Errorf("msg_flags %#x after recvmsg(MSG_TRUNC), want 0", f)
	}
	// A short read: more data is queued, and msg_flags still says nothing.
	msg = p.msghdr(0, 0, p.iovecs(buf, 2, buf+2, 1), 2, 0, 0)
	if n := sys(s, c, syscall.SYS_RECVMSG, msg, 0); n != 3 || string(mem(buf, 3)) != "fgh" {
		t.Errorf("recvmsg(3) = %d, %q, want 3, \"fgh\"", n, mem(buf, 3))
	}
	if f := ld32(msg + 48); f != 0 {
		t.Errorf("msg_flags %#x after a short stream read, want 0", f)
	}
	if n := sys(s, c, syscall.SYS_READ, buf, 8); n != 2 || string(mem(buf, 2)) != "ij" {
		t.Errorf("read(8) = %d, %q, want 2, \"ij\"", n, mem(buf, 2))
	}
	if n := sys(s, c, syscall.SYS_READ, buf, 8); n != -int64(syscall.EAGAIN) {
		t.Errorf("read of an empty socket = %d, want EAGAIN", n)
	}
}

// fakeEP is a connected endpoint that serves every read from data and
// swallows writes, so that the allocation test counts the server's own
// allocations and not netstack's. A call it does not implement panics
// (nil embedded interface).
type fakeEP struct {
	tcpip.Endpoint
	data, sink []byte
}

func (e *fakeEP) Read(dst io.Writer, opts tcpip.ReadOptions) (tcpip.ReadResult, tcpip.Error) {
	n, err := dst.Write(e.data)
	if n == 0 && err != nil {
		return tcpip.ReadResult{}, &tcpip.ErrBadBuffer{}
	}
	return tcpip.ReadResult{Count: n, Total: len(e.data)}, nil
}

func (e *fakeEP) ModerateRecvBuf(int) {}

func (e *fakeEP) Write(p tcpip.Payloader, opts tcpip.WriteOptions) (int64, tcpip.Error) {
	n, _ := io.ReadFull(p, e.sink[:p.Len()])
	return int64(n), nil
}

func (e *fakeEP) GetLocalAddress() (tcpip.FullAddress, tcpip.Error) {
	return tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), Port: 1}, nil
}

func (e *fakeEP) GetRemoteAddress() (tcpip.FullAddress, tcpip.Error) {
	return tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), Port: 2}, nil
}

// TestServeAllocs: the data calls allocate nothing in the server (its
// scratch iovecs, reader and writer are reused from call to call).
func TestServeAllocs(t *testing.T) {
	if svc.OnBrique() {
		t.Skip("host test")
	}
	s := &server{}
	fake := func(typ uint64) *sock {
		return &sock{family: syscall.AF_INET, typ: typ, ep: &fakeEP{data: make([]byte, 1500), sink: make([]byte, 4096)}}
	}
	s.socks[0], s.socks[1] = fake(sockStream), fake(sockDgram)
	s.socks[1].id = 1
	p := newProg(t)
	buf := p.alloc(1024)
	iov := p.iovecs(buf, 256, buf+256, 768)
	msg := p.msghdr(0, 0, iov, 2, 0, 0)
	name, namelen := p.alloc(16), p.alloc(4)
	to := p.sockaddr4(9)
	udpMsg := p.msghdr(name, 16, iov, 2, 0, 0)
	for _, c := range []struct {
		name string
		obj  int
		nr   uint64
		args []uint64
	}{
		{"read", 0, syscall.SYS_READ, []uint64{buf, 1024}},
		{"readv", 0, syscall.SYS_READV, []uint64{iov, 2}},
		{"recvfrom", 0, syscall.SYS_RECVFROM, []uint64{buf, 1024, 0, 0, 0}},
		{"recvmsg", 0, syscall.SYS_RECVMSG, []uint64{msg, 0}},
		{"recvmsg MSG_TRUNC", 0, syscall.SYS_RECVMSG, []uint64{msg, tMsgTrunc}},
		{"write", 0, syscall.SYS_WRITE, []uint64{buf, 1024}},
		{"writev", 0, syscall.SYS_WRITEV, []uint64{iov, 2}},
		{"sendto", 0, syscall.SYS_SENDTO, []uint64{buf, 1024, 0, 0, 0}},
		{"sendmsg", 0, syscall.SYS_SENDMSG, []uint64{msg, 0}},
		{"udp recvfrom", 1, syscall.SYS_RECVFROM, []uint64{buf, 1024, 0, name, namelen}},
		{"udp recvmsg", 1, syscall.SYS_RECVMSG, []uint64{udpMsg, 0}},
		{"udp sendto", 1, syscall.SYS_SENDTO, []uint64{buf, 1024, 0, to, 16}},
		{"udp sendmsg", 1, syscall.SYS_SENDMSG, []uint64{p.msghdr(to, 16, iov, 2, 0, 0), 0}},
	} {
		r := &kernel.SvcRequest{NR: c.nr, Obj: int64(c.obj)}
		copy(r.Args[1:], c.args)
		st32(namelen, 16)
		if n, _ := s.do(r); n <= 0 {
			t.Fatalf("%s: %d", c.name, n)
		}
		if a := testing.AllocsPerRun(100, func() { st32(namelen, 16); s.do(r) }); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, a)
		}
	}
}

// BenchmarkTCPWriteRead: a 1 KiB write on one end of a loopback TCP
// connection and the reads that take it at the other, through the server
// (the allocations reported include netstack's).
func BenchmarkTCPWriteRead(b *testing.B) {
	s := newTestServer(b)
	p := newProg(b)
	tcpPair(b, s, p, 0, 1)
	wbuf, rbuf := p.fill(1024, 'w'), p.alloc(1024)
	wr := &kernel.SvcRequest{NR: syscall.SYS_WRITE, Obj: 0, Args: [6]uint64{0, wbuf, 1024}}
	rd := &kernel.SvcRequest{NR: syscall.SYS_READ, Obj: 1, Args: [6]uint64{0, rbuf, 1024}}
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if n, _ := s.do(wr); n != 1024 {
			b.Fatalf("write: %d", n)
		}
		for got := int64(0); got < 1024; {
			n, _ := s.do(rd)
			switch {
			case n > 0:
				got += n
			case n == -int64(syscall.EAGAIN):
				runtime.Gosched()
			default:
				b.Fatalf("read: %d", n)
			}
		}
	}
}
