package net

import (
	"encoding/binary"
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/svc"
)

// server performs the socket system calls that the kernel forwards. It
// runs on one goroutine locked to its thread; every call is non-blocking
// on netstack (the kernel turns EAGAIN into a wait on blocking sockets).
type server struct {
	stack *stack.Stack
	socks [kernel.MaxSvcObjects]*sock // by object number (the kernel's)

	// Scratch space for the call being served, so that the data calls
	// allocate nothing: the server has one goroutine (serve, started once
	// by start), which serves one call at a time, and netstack is done
	// with the writer, the reader and the address when Read or Write
	// returns (it copies the data and reads the address). Nothing here
	// lives longer than a call.
	iovs [maxIovecs]iovSeg
	w    iovWriter
	r    iovReader
	to   tcpip.FullAddress
}

// maxIovecs is UIO_MAXIOV: the kernel refuses calls with more iovecs
// (sockArgs).
const maxIovecs = 1024

type sock struct {
	id     int32
	family uint64 // AF_INET, AF_INET6
	typ    uint64 // SOCK_STREAM, SOCK_DGRAM
	icmp   bool   // a ping socket (SOCK_DGRAM, IPPROTO_ICMP or IPPROTO_ICMPV6)
	ep     tcpip.Endpoint
	wq     *waiter.Queue
	entry  waiter.Entry
	// err: the endpoint could not be created; every call fails with it.
	err syscall.Errno
	// seq numbers the readiness updates sent to the kernel.
	seq atomic.Uint32
}

const (
	sockStream = 1
	sockDgram  = 2

	// Flags of the receive calls, and their msg_flags (linux/socket.h).
	msgPeek        = 0x2
	msgTrunc       = 0x20
	msgCmsgCloexec = 0x40000000

	solSocket = 1
	solIP     = 0
	solTCP    = 6
	solIPv6   = 41

	allEvents = waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp | waiter.EventRdHUp
)

// serve runs the service loop. It waits for requests in a raw system call,
// keeping its P: a request is then served as soon as the kernel switches to
// this thread, without waiting for the Go scheduler to find it a P (the
// calling goroutine's P sits in its system call). The program keeps the
// other P (the builder sets GOMAXPROCS to 2). The kernel interrupts the
// wait for Go's preemption signal, and the loop then yields, so that
// stop-the-world and stack scans never wait for it.
func (s *server) serve() {
	runtime.LockOSThread()
	req := new(kernel.SvcRequest)
	var handle, ready, events uint64
	var result int64
	for {
		e := svc.Wait(kernel.SvcNet, req, handle, result, ready, events)
		handle, result, ready = 0, 0, 0
		if e != 0 {
			runtime.Gosched()
			continue
		}
		handle = req.Handle
		var so *sock
		result, so = s.do(req)
		if so != nil && so.ep != nil {
			// The call's effect on readiness goes with the result,
			// ordered after the notifications already sent.
			seq := so.seq.Load()
			ready, events = uint64(so.id)+1, uint64(so.ep.Readiness(allEvents))|uint64(seq)<<32
		}
	}
}

// report tells the kernel the readiness of so (netstack notified a
// change). The sequence number is taken before the state is read: an
// update the kernel receives out of order is then recognised as older.
func (so *sock) report() {
	seq := so.seq.Add(1)
	if seq == 0 {
		seq = so.seq.Add(1) // 0 means unordered
	}
	ev := uint64(so.ep.Readiness(allEvents))
	syscall.RawSyscall6(kernel.SysSvcReady, kernel.SvcNet, uintptr(so.id), uintptr(ev), uintptr(seq), 0, 0)
}

// do serves one request; it returns the result and the socket whose
// readiness the call may have changed.
func (s *server) do(r *kernel.SvcRequest) (int64, *sock) {
	a := r.Args
	if r.Obj < 0 || int(r.Obj) >= len(s.socks) {
		return -int64(syscall.EBADF), nil
	}
	if r.NR == syscall.SYS_SOCKET {
		s.socket(int32(r.Obj), a[0], a[1], a[2])
		return 0, nil
	}
	so := s.socks[r.Obj]
	if so == nil {
		return -int64(syscall.EBADF), nil
	}
	if r.NR == syscall.SYS_CLOSE {
		s.close(so)
		return 0, nil
	}
	if so.err != 0 {
		return -int64(so.err), nil
	}
	ret := s.call(so, r)
	switch r.NR {
	case syscall.SYS_BIND, syscall.SYS_LISTEN, syscall.SYS_CONNECT, syscall.SYS_SENDTO, syscall.SYS_SENDMSG, syscall.SYS_GETSOCKOPT:
		// Calls that can give the socket an address or a peer
		// (getsockopt: Go asks SO_ERROR when a connect completes).
		so.pushAddrs()
	}
	return ret, so
}

// pushAddrs gives the kernel the socket's addresses (getsockname,
// getpeername).
func (so *sock) pushAddrs() {
	var b [28]byte
	if a, err := so.ep.GetLocalAddress(); err == nil {
		n := so.encodeAddr(a, &b)
		svcAddr(so.id, 0, b[:n])
	}
	n := 0
	if a, err := so.ep.GetRemoteAddress(); err == nil {
		n = so.encodeAddr(a, &b)
	}
	svcAddr(so.id, 1, b[:n])
}

func (s *server) call(so *sock, r *kernel.SvcRequest) int64 {
	a := r.Args
	switch r.NR {
	case syscall.SYS_READ, syscall.SYS_READV:
		iov := s.buffer(a[1], a[2])
		if r.NR == syscall.SYS_READV {
			iov = s.iovecs(a[1], a[2])
		}
		if iov.total() == 0 {
			return 0 // as Linux (sock_read_iter): a datagram stays queued
		}
		n, _ := s.recv(so, iov, 0, 0, 0)
		return n
	case syscall.SYS_RECVFROM:
		n, _ := s.recv(so, s.buffer(a[1], a[2]), a[3], a[4], a[5])
		return n
	case syscall.SYS_RECVMSG:
		m := a[1]
		n, flags := s.recv(so, s.iovecs(ld64(m+16), ld64(m+24)), a[2], ld64(m), m+8)
		if n >= 0 {
			// No control messages (the options that ask for some
			// are refused), so never MSG_CTRUNC either.
			st64(m+40, 0) // msg_controllen
			st32(m+48, flags)
		}
		return n
	case syscall.SYS_WRITE:
		return s.send(so, s.buffer(a[1], a[2]), 0, 0)
	case syscall.SYS_WRITEV:
		return s.send(so, s.iovecs(a[1], a[2]), 0, 0)
	case syscall.SYS_SENDTO:
		return s.send(so, s.buffer(a[1], a[2]), a[4], a[5])
	case syscall.SYS_SENDMSG:
		m := a[1]
		return s.send(so, s.iovecs(ld64(m+16), ld64(m+24)), ld64(m), uint64(ld32(m+8)))
	case syscall.SYS_BIND:
		addr, errno := so.readAddr(a[1], a[2])
		if errno != 0 {
			return -int64(errno)
		}
		return errnoOf(so.ep.Bind(addr))
	case syscall.SYS_LISTEN:
		backlog := int(int32(a[1]))
		if backlog <= 0 || backlog > 4096 {
			backlog = 4096
		}
		return errnoOf(so.ep.Listen(backlog))
	case syscall.SYS_CONNECT:
		return so.connect(a[1], a[2], r.Flags&kernel.SvcRetry != 0)
	case syscall.SYS_ACCEPT, syscall.SYS_ACCEPT4:
		return s.accept(so, a[1], a[2])
	case syscall.SYS_SHUTDOWN:
		var f tcpip.ShutdownFlags
		switch a[1] {
		case 0:
			f = tcpip.ShutdownRead
		case 1:
			f = tcpip.ShutdownWrite
		case 2:
			f = tcpip.ShutdownRead | tcpip.ShutdownWrite
		default:
			return -int64(syscall.EINVAL)
		}
		return errnoOf(so.ep.Shutdown(f))
	case syscall.SYS_SETSOCKOPT:
		return so.setsockopt(a[1], a[2], a[3], a[4])
	case syscall.SYS_GETSOCKOPT:
		return so.getsockopt(a[1], a[2], a[3], a[4])
	}
	return -int64(syscall.ENOSYS)
}

// socket creates the endpoint of object id, which the kernel numbered
// and already gave the program (it checked the arguments).
func (s *server) socket(id int32, domain, typ, proto uint64) {
	so := &sock{id: id, family: domain, typ: typ & 0xf}
	so.icmp = so.typ == sockDgram && (proto == syscall.IPPROTO_ICMP || proto == syscall.IPPROTO_ICMPV6)
	s.socks[id] = so
	var np tcpip.NetworkProtocolNumber = ipv4.ProtocolNumber
	if domain == syscall.AF_INET6 {
		np = ipv6.ProtocolNumber
	}
	var tp tcpip.TransportProtocolNumber
	switch {
	case so.typ == sockStream:
		tp = tcp.ProtocolNumber
	case proto == syscall.IPPROTO_ICMP:
		tp = icmp.ProtocolNumber4
	case proto == syscall.IPPROTO_ICMPV6:
		tp = icmp.ProtocolNumber6
	default:
		tp = udp.ProtocolNumber
	}
	so.wq = new(waiter.Queue)
	ep, err := s.stack.NewEndpoint(tp, np, so.wq)
	if err != nil {
		so.err = syscall.Errno(-errnoOf(err))
		return
	}
	so.ep = ep
	s.watch(so)
}

// watch starts reporting the readiness of so.
func (s *server) watch(so *sock) {
	so.entry = waiter.NewFunctionEntry(allEvents, func(waiter.EventMask) { so.report() })
	so.wq.EventRegister(&so.entry)
	so.report()
}

func (s *server) close(so *sock) {
	if so.ep != nil {
		so.wq.EventUnregister(&so.entry)
		so.ep.Close()
	}
	s.socks[so.id] = nil
}

func (s *server) accept(so *sock, addrp, lenp uint64) int64 {
	var peer tcpip.FullAddress
	ep, wq, err := so.ep.Accept(&peer)
	if err != nil {
		return errnoOf(err)
	}
	id, _, e := syscall.RawSyscall(kernel.SysSvcAlloc, kernel.SvcNet, 0, 0)
	if e != 0 {
		ep.Close()
		return -int64(e)
	}
	n := &sock{id: int32(id), family: so.family, typ: so.typ, icmp: so.icmp, ep: ep, wq: wq}
	s.socks[id] = n
	s.watch(n)
	n.pushAddrs()
	if lenp != 0 {
		n.writeAddr(peer, addrp, lenp)
	}
	return int64(id)
}

func (so *sock) connect(addrp, n uint64, retry bool) int64 {
	if retry {
		// A blocking connect that was in progress: its outcome.
		if _, err := so.ep.GetRemoteAddress(); err == nil {
			return 0
		}
		if err := so.ep.LastError(); err != nil {
			return errnoOf(err)
		}
		return -int64(syscall.EINPROGRESS)
	}
	addr, errno := so.readAddr(addrp, n)
	if errno != 0 {
		return -int64(errno)
	}
	err := so.ep.Connect(addr)
	if _, ok := err.(*tcpip.ErrConnectStarted); ok {
		return -int64(syscall.EINPROGRESS)
	}
	return errnoOf(err)
}

// recv serves read, readv, recvfrom and recvmsg on so: it fills the
// buffers iov and the sender's address (addrp, lenp: 0 when not asked),
// and returns the call's result and, for recvmsg, its msg_flags. As Linux:
//
//   - A datagram longer than the buffers is cut: the rest is discarded and
//     msg_flags says MSG_TRUNC. With the MSG_TRUNC flag, a UDP socket
//     returns the datagram's whole length (udp_recvmsg); a ping socket
//     still returns what it copied (ping_recvmsg).
//   - On a stream socket, the MSG_TRUNC flag discards the data instead of
//     copying it (tcp(7)): the call returns how much it took (with
//     MSG_PEEK, how much it could take), the buffers are left alone.
//   - msg_flags starts as the call's MSG_CMSG_CLOEXEC (____sys_recvmsg).
func (s *server) recv(so *sock, iov iovec, flags, addrp, lenp uint64) (int64, uint32) {
	mflags := uint32(flags & msgCmsgCloexec)
	if so.typ == sockStream && iov.total() == 0 {
		return 0, mflags // as Linux: a stream read of nothing reads nothing
	}
	dgram := so.typ == sockDgram
	w := &s.w
	*w = iovWriter{iov: iov, truncate: dgram, discard: !dgram && flags&msgTrunc != 0}
	res, err := so.ep.Read(w, tcpip.ReadOptions{Peek: flags&msgPeek != 0, NeedRemoteAddr: addrp != 0 && lenp != 0})
	if err != nil {
		return errnoOf(err), 0 // (0 once the peer has closed)
	}
	if !dgram {
		if addrp != 0 && lenp != 0 {
			st32(lenp, 0) // as Linux: a stream socket gives no sender address
		}
		if flags&msgPeek == 0 && !w.discard {
			// Receive buffer auto-tuning (TCPModerateReceiveBufferOption)
			// grows the window from what the program reads per
			// round trip: netstack learns it only from this call.
			so.ep.ModerateRecvBuf(w.copied)
		}
		return int64(w.copied), mflags
	}
	if addrp != 0 && lenp != 0 {
		so.writeAddr(res.RemoteAddr, addrp, lenp)
	}
	if res.Total > w.copied {
		mflags |= msgTrunc
	}
	if flags&msgTrunc != 0 && !so.icmp {
		return int64(res.Total), mflags
	}
	return int64(w.copied), mflags
}

// send serves write, writev, sendto and sendmsg on so: the data in the
// buffers iov, to the address at addrp (addrlen bytes; 0: none, and
// ignored on a stream socket).
func (s *server) send(so *sock, iov iovec, addrp, addrlen uint64) int64 {
	var opts tcpip.WriteOptions
	if addrp != 0 && so.typ == sockDgram {
		var errno syscall.Errno
		s.to, errno = so.readAddr(addrp, addrlen)
		if errno != 0 {
			return -int64(errno)
		}
		opts.To = &s.to
	}
	r := &s.r
	*r = iovReader{iov: iov, left: iov.total()}
	n, err := so.ep.Write(r, opts)
	if err != nil {
		return errnoOf(err)
	}
	return n
}

func (so *sock) setsockopt(level, name, valp, n uint64) int64 {
	if n < 4 && !(level == solSocket && name == syscall.SO_LINGER) {
		return -int64(syscall.EINVAL)
	}
	v := int32(0)
	if n >= 4 {
		v = int32(ld32(valp))
	}
	o := so.ep.SocketOptions()
	switch level {
	case solSocket:
		switch name {
		case syscall.SO_REUSEADDR:
			o.SetReuseAddress(v != 0)
		case 15: // SO_REUSEPORT
			o.SetReusePort(v != 0)
		case syscall.SO_BROADCAST:
			o.SetBroadcast(v != 0)
		case syscall.SO_KEEPALIVE:
			o.SetKeepAlive(v != 0)
		case syscall.SO_RCVBUF:
			o.SetReceiveBufferSize(int64(v)*2, true)
		case syscall.SO_SNDBUF:
			o.SetSendBufferSize(int64(v)*2, true)
		case syscall.SO_LINGER:
			if n < 8 {
				return -int64(syscall.EINVAL)
			}
			o.SetLinger(tcpip.LingerOption{Enabled: v != 0, Timeout: time.Duration(int32(ld32(valp+4))) * time.Second})
		default:
			return -int64(syscall.ENOPROTOOPT)
		}
	case solTCP:
		switch name {
		case syscall.TCP_NODELAY:
			o.SetDelayOption(v == 0)
		case syscall.TCP_KEEPIDLE:
			opt := tcpip.KeepaliveIdleOption(time.Duration(v) * time.Second)
			return errnoOf(so.ep.SetSockOpt(&opt))
		case syscall.TCP_KEEPINTVL:
			opt := tcpip.KeepaliveIntervalOption(time.Duration(v) * time.Second)
			return errnoOf(so.ep.SetSockOpt(&opt))
		case syscall.TCP_KEEPCNT:
			return errnoOf(so.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(v)))
		default:
			return -int64(syscall.ENOPROTOOPT)
		}
	case solIPv6:
		switch name {
		case syscall.IPV6_V6ONLY:
			o.SetV6Only(v != 0)
		case syscall.IPV6_UNICAST_HOPS:
			return errnoOf(so.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, int(v)))
		default:
			return -int64(syscall.ENOPROTOOPT)
		}
	case solIP:
		switch name {
		case syscall.IP_TTL:
			return errnoOf(so.ep.SetSockOptInt(tcpip.IPv4TTLOption, int(v)))
		default:
			return -int64(syscall.ENOPROTOOPT)
		}
	default:
		return -int64(syscall.ENOPROTOOPT)
	}
	return 0
}

func (so *sock) getsockopt(level, name, valp, lenp uint64) int64 {
	if ld32(lenp) < 4 {
		return -int64(syscall.EINVAL)
	}
	o := so.ep.SocketOptions()
	b := func(v bool) int32 {
		if v {
			return 1
		}
		return 0
	}
	var v int32
	switch {
	case level == solSocket && name == syscall.SO_ERROR:
		if err := so.ep.LastError(); err != nil {
			v = int32(-errnoOf(err))
		}
	case level == solSocket && name == syscall.SO_TYPE:
		v = int32(so.typ)
	case level == solSocket && name == 39: // SO_DOMAIN
		v = int32(so.family)
	case level == solSocket && name == syscall.SO_REUSEADDR:
		v = b(o.GetReuseAddress())
	case level == solSocket && name == syscall.SO_KEEPALIVE:
		v = b(o.GetKeepAlive())
	case level == solSocket && name == syscall.SO_BROADCAST:
		v = b(o.GetBroadcast())
	case level == solSocket && name == syscall.SO_RCVBUF:
		v = int32(o.GetReceiveBufferSize())
	case level == solSocket && name == syscall.SO_SNDBUF:
		v = int32(o.GetSendBufferSize())
	case level == solSocket && name == syscall.SO_ACCEPTCONN:
		v = b(o.GetAcceptConn())
	case level == solTCP && name == syscall.TCP_NODELAY:
		v = b(!o.GetDelayOption())
	case level == solTCP && name == syscall.TCP_KEEPIDLE:
		var opt tcpip.KeepaliveIdleOption
		if err := so.ep.GetSockOpt(&opt); err != nil {
			return errnoOf(err)
		}
		v = int32(time.Duration(opt) / time.Second)
	case level == solTCP && name == syscall.TCP_KEEPINTVL:
		var opt tcpip.KeepaliveIntervalOption
		if err := so.ep.GetSockOpt(&opt); err != nil {
			return errnoOf(err)
		}
		v = int32(time.Duration(opt) / time.Second)
	case level == solTCP && name == syscall.TCP_KEEPCNT:
		return so.getInt(tcpip.KeepaliveCountOption, valp, lenp)
	case level == solIP && name == syscall.IP_TTL:
		return so.getInt(tcpip.IPv4TTLOption, valp, lenp)
	case level == solIPv6 && name == syscall.IPV6_UNICAST_HOPS:
		return so.getInt(tcpip.IPv6HopLimitOption, valp, lenp)
	case level == solIPv6 && name == syscall.IPV6_V6ONLY:
		v = b(o.GetV6Only())
	default:
		return -int64(syscall.ENOPROTOOPT)
	}
	st32(valp, uint32(v))
	st32(lenp, 4)
	return 0
}

// getInt answers getsockopt with netstack's integer option opt.
func (so *sock) getInt(opt tcpip.SockOptInt, valp, lenp uint64) int64 {
	n, err := so.ep.GetSockOptInt(opt)
	if err != nil {
		return errnoOf(err)
	}
	st32(valp, uint32(int32(n)))
	st32(lenp, 4)
	return 0
}

// readAddr decodes a sockaddr_in or sockaddr_in6 from the program.
func (so *sock) readAddr(p, n uint64) (tcpip.FullAddress, syscall.Errno) {
	if n < 2 {
		return tcpip.FullAddress{}, syscall.EINVAL
	}
	b := mem(p, n)
	fam := uint64(binary.LittleEndian.Uint16(b))
	port := binary.BigEndian.Uint16(b[2:])
	switch {
	case fam == syscall.AF_INET && n >= 16:
		if so.family == syscall.AF_INET6 {
			// Linux refuses AF_INET addresses on AF_INET6 sockets.
			return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
		}
		a := tcpip.AddrFrom4Slice(b[4:8])
		if a.Unspecified() {
			a = tcpip.Address{}
		}
		return tcpip.FullAddress{Addr: a, Port: port}, 0
	case fam == syscall.AF_INET6 && n >= 24:
		if so.family != syscall.AF_INET6 {
			return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
		}
		a := tcpip.AddrFrom16Slice(b[8:24])
		if a.Unspecified() {
			a = tcpip.Address{}
		}
		var nic tcpip.NICID
		if n >= 28 {
			nic = tcpip.NICID(binary.LittleEndian.Uint32(b[24:]))
		}
		return tcpip.FullAddress{Addr: a, Port: port, NIC: nic}, 0
	case fam == syscall.AF_UNSPEC:
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	}
	return tcpip.FullAddress{}, syscall.EINVAL
}

// encodeAddr encodes addr as the socket's family's sockaddr.
func (so *sock) encodeAddr(addr tcpip.FullAddress, sa *[28]byte) int {
	clear(sa[:])
	if so.family == syscall.AF_INET6 {
		binary.LittleEndian.PutUint16(sa[:], syscall.AF_INET6)
		binary.BigEndian.PutUint16(sa[2:], addr.Port)
		switch addr.Addr.Len() {
		case 4:
			sa[18], sa[19] = 0xff, 0xff
			a := addr.Addr.As4()
			copy(sa[20:], a[:])
		case 16:
			a := addr.Addr.As16()
			copy(sa[8:], a[:])
		}
		return 28
	}
	binary.LittleEndian.PutUint16(sa[:], syscall.AF_INET)
	binary.BigEndian.PutUint16(sa[2:], addr.Port)
	if addr.Addr.Len() == 4 {
		a := addr.Addr.As4()
		copy(sa[4:], a[:])
	}
	return 16
}

// writeAddr encodes addr for the program (sockaddr buffer at p, its
// length at lenp, truncated as Linux does).
func (so *sock) writeAddr(addr tcpip.FullAddress, p, lenp uint64) int64 {
	if lenp == 0 {
		return 0
	}
	var sa [28]byte
	size := so.encodeAddr(addr, &sa)
	room := uint64(ld32(lenp))
	copy(mem(p, min(room, uint64(size))), sa[:size])
	st32(lenp, uint32(size))
	return 0
}

// errnoOf maps a netstack error to a negative errno (0 for nil).
func errnoOf(err tcpip.Error) int64 {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	switch err.(type) {
	case *tcpip.ErrWouldBlock:
		e = syscall.EAGAIN
	case *tcpip.ErrConnectStarted:
		e = syscall.EINPROGRESS
	case *tcpip.ErrAlreadyConnecting:
		e = syscall.EALREADY
	case *tcpip.ErrAlreadyConnected:
		e = syscall.EISCONN
	case *tcpip.ErrAlreadyBound, *tcpip.ErrInvalidEndpointState, *tcpip.ErrInvalidOptionValue, *tcpip.ErrInvalidPortRange:
		e = syscall.EINVAL
	case *tcpip.ErrConnectionRefused:
		e = syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		e = syscall.ECONNRESET
	case *tcpip.ErrConnectionAborted, *tcpip.ErrAborted:
		e = syscall.ECONNABORTED
	case *tcpip.ErrNotConnected:
		e = syscall.ENOTCONN
	case *tcpip.ErrClosedForSend:
		e = syscall.EPIPE
	case *tcpip.ErrPortInUse, *tcpip.ErrDuplicateAddress:
		e = syscall.EADDRINUSE
	case *tcpip.ErrBadLocalAddress, *tcpip.ErrNoPortAvailable:
		e = syscall.EADDRNOTAVAIL
	case *tcpip.ErrNetworkUnreachable:
		e = syscall.ENETUNREACH
	case *tcpip.ErrNoNet:
		e = syscall.ENONET
	case *tcpip.ErrHostUnreachable:
		e = syscall.EHOSTUNREACH
	case *tcpip.ErrHostDown:
		e = syscall.EHOSTDOWN
	case *tcpip.ErrEndpointBusy:
		e = syscall.EBUSY
	case *tcpip.ErrBadBuffer, *tcpip.ErrBadAddress:
		e = syscall.EFAULT
	case *tcpip.ErrTimeout:
		e = syscall.ETIMEDOUT
	case *tcpip.ErrUnknownProtocolOption:
		e = syscall.ENOPROTOOPT
	case *tcpip.ErrNotSupported, *tcpip.ErrQueueSizeNotSupported:
		e = syscall.EOPNOTSUPP
	case *tcpip.ErrMessageTooLong:
		e = syscall.EMSGSIZE
	case *tcpip.ErrDestinationRequired:
		e = syscall.EDESTADDRREQ
	case *tcpip.ErrAddressFamilyNotSupported:
		e = syscall.EAFNOSUPPORT
	case *tcpip.ErrNoBufferSpace:
		e = syscall.ENOBUFS
	case *tcpip.ErrBroadcastDisabled:
		e = syscall.EACCES
	case *tcpip.ErrNotPermitted:
		e = syscall.EPERM
	case *tcpip.ErrClosedForReceive:
		return 0
	default:
		e = syscall.EINVAL
	}
	return -int64(e)
}

// The program's memory, which the kernel checked and mapped before
// forwarding the call (the calling thread is blocked meanwhile).

// iovec is the program's buffers, in the server's scratch space.
type iovec []iovSeg

// iovSeg is one buffer: address and length (a struct iovec).
type iovSeg struct{ p, n uint64 }

// total is the number of bytes the buffers hold.
func (v iovec) total() int {
	n := 0
	for _, b := range v {
		n += int(b.n)
	}
	return n
}

// iovecs copies the program's iovec array at p (cnt entries) into the
// server's scratch space. The kernel refuses more than UIO_MAXIOV entries
// (EINVAL) before it forwards a call, as it checks the buffers; the bound
// here only keeps a kernel bug from becoming an index panic.
func (s *server) iovecs(p, cnt uint64) iovec {
	v := s.iovs[:min(cnt, maxIovecs)]
	for i := range v {
		v[i] = iovSeg{ld64(p + 16*uint64(i)), ld64(p + 16*uint64(i) + 8)}
	}
	return v
}

// buffer is the single buffer at p, n bytes, as an iovec in the server's
// scratch space.
func (s *server) buffer(p, n uint64) iovec {
	s.iovs[0] = iovSeg{p, n}
	return s.iovs[:1]
}

func mem(p, n uint64) []byte {
	return kernel.Mem(uintptr(p), uintptr(n))
}

func ld64(p uint64) uint64    { return binary.LittleEndian.Uint64(mem(p, 8)) }
func ld32(p uint64) uint32    { return binary.LittleEndian.Uint32(mem(p, 4)) }
func st64(p uint64, v uint64) { binary.LittleEndian.PutUint64(mem(p, 8), v) }
func st32(p uint64, v uint32) { binary.LittleEndian.PutUint32(mem(p, 4), v) }

// iovWriter writes into the program's buffers.
type iovWriter struct {
	iov      iovec
	truncate bool // drop what does not fit (datagrams)
	discard  bool // take what fits without copying it (MSG_TRUNC on a stream)
	copied   int  // bytes taken into the buffers
}

func (w *iovWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 && len(w.iov) > 0 {
		v := &w.iov[0]
		k := int(min(v.n, uint64(len(b))))
		if !w.discard {
			copy(mem(v.p, uint64(k)), b)
		}
		b = b[k:]
		n += k
		v.p += uint64(k)
		v.n -= uint64(k)
		if v.n == 0 {
			w.iov = w.iov[1:]
		}
	}
	w.copied += n
	if len(b) > 0 && !w.truncate {
		return n, io.ErrShortWrite
	}
	return n + len(b), nil
}

// iovReader reads from the program's buffers (a tcpip.Payloader).
type iovReader struct {
	iov  iovec
	left int
}

func (r *iovReader) Len() int { return r.left }

func (r *iovReader) Read(b []byte) (int, error) {
	n := 0
	for len(b) > 0 && len(r.iov) > 0 {
		v := &r.iov[0]
		k := copy(b, mem(v.p, v.n))
		b = b[k:]
		n += k
		r.left -= k
		v.p += uint64(k)
		v.n -= uint64(k)
		if v.n == 0 {
			r.iov = r.iov[1:]
		}
	}
	if n == 0 && len(r.iov) == 0 {
		return 0, io.EOF
	}
	return n, nil
}
