package kernel

// Socket system calls: the kernel checks the descriptor and the user
// buffers (so that the service thread never faults on the program's
// mistakes), then forwards the call to the network service (service.go).

const (
	sysSocket      = 41
	sysConnect     = 42
	sysAccept      = 43
	sysSendto      = 44
	sysRecvfrom    = 45
	sysSendmsg     = 46
	sysRecvmsg     = 47
	sysShutdown    = 48
	sysBind        = 49
	sysListen      = 50
	sysGetsockname = 51
	sysGetpeername = 52
	sysSocketpair  = 53
	sysSetsockopt  = 54
	sysGetsockopt  = 55
	sysAccept4     = 288
	sysSplice      = 275
	sysSendfile    = 40

	eNOTSOCK        = 88
	ePROTONOSUPPORT = 93
	eSOCKTNOSUPPORT = 94
	eNOTCONN        = 107
	eNFILE          = 23
	sockStream      = 1
	sockDgram       = 2
	ipprotoTCP      = 6
	ipprotoUDP      = 17
	ipprotoICMP     = 1
	ipprotoICMPv6   = 58
	eAFNOSUPPORT    = 97
	eINPROGRESS     = 115
	sockNonblock    = oNonblock
	sockCloexec     = oCloexec
	afInet          = 2
	afInet6         = 10
	sockaddrLimit   = 128
)

// sysSocketImpl implements socket(2) for TCP, UDP and ICMP over IPv4 and
// IPv6 when the network brick is linked in. It does not wait for the
// service thread (Go calls socket without releasing its P): the kernel
// numbers the socket and queues its creation, which the service performs
// before any other request on it.
func sysSocketImpl(t *thread) int64 {
	dom, typ, proto := t.regs.rdi, t.regs.rsi, t.regs.rdx
	if dom != afInet && dom != afInet6 || !services[SvcNet].registered {
		return -eAFNOSUPPORT
	}
	if typ&^(0xf|sockNonblock|sockCloexec) != 0 {
		return -eINVAL
	}
	switch st := typ & 0xf; {
	case st == sockStream && (proto == 0 || proto == ipprotoTCP),
		st == sockDgram && (proto == 0 || proto == ipprotoUDP),
		st == sockDgram && dom == afInet && proto == ipprotoICMP,
		st == sockDgram && dom == afInet6 && proto == ipprotoICMPv6:
	case st == sockStream || st == sockDgram:
		return -ePROTONOSUPPORT
	default:
		return -eSOCKTNOSUPPORT
	}
	id := svcAlloc(SvcNet)
	if id < 0 {
		return -eNFILE
	}
	o := &services[SvcNet].objs[id]
	// Unbound: getsockname reports the family and zeros.
	clear(o.local[:])
	o.local[0] = byte(dom)
	o.llen = 16
	if dom == afInet6 {
		o.llen = 28
	}
	d := fdesc{kind: fdSvc, obj: SvcNet<<svcShift | int(id), cloexec: typ&sockCloexec != 0, nonblock: typ&sockNonblock != 0}
	fd := allocFD(d, 0)
	if fd < 0 {
		o.used = false
		return fd
	}
	svcPost(SvcNet, svcAsync{nr: sysSocket, args: [3]uint64{dom, typ, proto}, obj: id})
	return fd
}

// sysEinvalImpl fails with EINVAL: splice(2) and sendfile(2), which Go's
// net and os try first and abandon for a plain copy on EINVAL ("not
// supported for this kind of file"); ENOSYS would count as a failure.
func sysEinvalImpl(t *thread) int64 { return -eINVAL }

// sysSocketpairImpl implements socketpair(2): there are no Unix sockets.
func sysSocketpairImpl(t *thread) int64 { return -eAFNOSUPPORT }

// sysSockCallImpl implements the calls that take a socket descriptor as
// their first argument.
func sysSockCallImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	if d.kind != fdSvc {
		return -eNOTSOCK
	}
	svc, obj := svcOf(d)
	if svc != SvcNet {
		return -eNOTSOCK // a volume's file
	}
	if e := sockArgs(t); e != 0 {
		return e
	}
	switch t.regs.rax {
	case sysGetsockname, sysGetpeername:
		if t.regs.rdx == 0 {
			return -eFAULT
		}
		return sockName(d, t.regs.rax == sysGetpeername, uintptr(t.regs.rsi), uintptr(t.regs.rdx))
	}
	nonblock := d.nonblock || sockDontwait(t)
	if nonblock && svcWouldBlock(svc, obj, t.regs.rax) {
		return -eAGAIN
	}
	return svcFinish(t, svc, svcForward(t, svc, obj, nonblock))
}

// msgDontwait is MSG_DONTWAIT: this call does not wait, whatever the
// descriptor's mode.
const msgDontwait = 0x40

// sockDontwait reports whether a send or receive call passes MSG_DONTWAIT.
func sockDontwait(t *thread) bool {
	switch t.regs.rax {
	case sysSendto, sysRecvfrom:
		return t.regs.r10&msgDontwait != 0
	case sysSendmsg, sysRecvmsg:
		return t.regs.rdx&msgDontwait != 0
	}
	return false
}

// svcFinish turns the service's answer to a forwarded call into the
// call's result: an accepted connection becomes a descriptor.
func svcFinish(t *thread, svc int, r int64) int64 {
	if r == blockedRet {
		return r
	}
	switch t.regs.rax {
	case sysAccept:
		return newSvcFD(svc, r, false, false)
	case sysAccept4:
		fl := t.regs.r10
		return newSvcFD(svc, r, fl&sockCloexec != 0, fl&sockNonblock != 0)
	}
	return r
}

// svcResume continues a forwarded call whose thread was woken (dispatch
// with restart), from the object the call was sent to: its descriptor may
// have been closed, even reused, meanwhile, and looking it up again would
// act on another object or leave the call queued at the service.
func svcResume(t *thread) int64 {
	t.restart = true
	svc := int(t.svcSvc)
	return svcFinish(t, svc, svcForward(t, svc, t.svcObj, t.svcFlags&SvcNonblock != 0))
}

// svcFDCall forwards read, write, readv and writev on a service
// descriptor.
func svcFDCall(t *thread, d *fdesc) int64 {
	if e := sockArgs(t); e != 0 {
		return e
	}
	svc, obj := svcOf(d)
	if svc == SvcNet && t.regs.rax == sysRead && t.regs.rdx == 0 {
		// As Linux: a read of nothing from a socket touches nothing (a
		// datagram stays queued). Not for volume files: there Linux
		// still says EISDIR or EBADF, which the volume service does.
		return 0
	}
	if d.nonblock && svc == SvcNet && svcWouldBlock(svc, obj, t.regs.rax) {
		return -eAGAIN
	}
	return svcForward(t, svc, obj, d.nonblock)
}

// sockArgs checks (and maps) the user memory a forwarded call touches:
// 0, -EFAULT, or -EINVAL for a length Linux refuses.
func sockArgs(t *thread) int64 {
	a1, a2, a3, a4, a5 := uintptr(t.regs.rsi), uintptr(t.regs.rdx), uintptr(t.regs.r10), uintptr(t.regs.r8), uintptr(t.regs.r9)
	ok := true
	switch t.regs.rax {
	case sysRead:
		ok = userPrepare(a1, a2, true)
	case sysWrite:
		ok = userPrepare(a1, a2, false)
	case sysReadv, sysWritev:
		return iovArgs(a1, a2, t.regs.rax == sysReadv)
	case sysConnect, sysBind:
		if a2 > sockaddrLimit {
			return -eINVAL
		}
		ok = userPrepare(a1, a2, false)
	case sysAccept, sysAccept4, sysGetsockname, sysGetpeername:
		ok = addrOutOK(a1, a2)
	case sysSendto:
		if a4 != 0 && a5 > sockaddrLimit {
			return -eINVAL
		}
		ok = userPrepare(a1, a2, false) && (a4 == 0 || userPrepare(a4, a5, false))
	case sysRecvfrom:
		ok = userPrepare(a1, a2, true) && (a4 == 0 || addrOutOK(a4, a5))
	case sysSendmsg, sysRecvmsg:
		return msgArgs(a1, t.regs.rax == sysRecvmsg)
	case sysSetsockopt:
		if a4 > 1024 {
			return -eINVAL // (no option the network brick serves is larger)
		}
		ok = userPrepare(a3, a4, false)
	case sysGetsockopt:
		if !userPrepare(a4, 4, true) {
			return -eFAULT
		}
		ok = userPrepare(a3, min(uintptr(load32(a4)), 1024), true)
	}
	if !ok {
		return -eFAULT
	}
	return 0
}

// addrOutOK checks a (sockaddr, *socklen) result pair; both may be nil.
func addrOutOK(addr, lenp uintptr) bool {
	if lenp == 0 {
		return true
	}
	if !userPrepare(lenp, 4, true) {
		return false
	}
	n := uintptr(load32(lenp))
	return n <= 1<<20 && userPrepare(addr, n, true)
}

// iovArgs checks an iovec array and the buffers it points to.
func iovArgs(iov, cnt uintptr, write bool) int64 {
	if e := iovArray(iov, cnt); e != 0 {
		return e
	}
	for i := uintptr(0); i < cnt; i++ {
		if !userPrepare(uintptr(load64(iov+16*i)), uintptr(load64(iov+16*i+8)), write) {
			return -eFAULT
		}
	}
	return 0
}

// msgArgs checks a struct msghdr and everything it points to.
func msgArgs(m uintptr, recv bool) int64 {
	const msghdrSize = 56
	if !userPrepare(m, msghdrSize, recv) {
		return -eFAULT
	}
	name, namelen := uintptr(load64(m)), uintptr(load32(m+8))
	iov, iovlen := uintptr(load64(m+16)), uintptr(load64(m+24))
	ctl, ctllen := uintptr(load64(m+32)), uintptr(load64(m+40))
	switch {
	case recv:
		namelen = min(namelen, sockaddrLimit) // Linux fills at most that
	case namelen > sockaddrLimit:
		return -eINVAL
	}
	if ctllen > 1<<16 {
		return -eINVAL
	}
	if !userPrepare(name, namelen, recv) || !userPrepare(ctl, ctllen, recv) {
		return -eFAULT
	}
	return iovArgs(iov, iovlen, recv)
}
