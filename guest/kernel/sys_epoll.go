package kernel

// epoll(7) over the kernel's own files (eventfds, pipes, console). The Go
// netpoller uses it for timers and wakeups (an eventfd); the sockets of the
// network brick are service objects whose readiness the brick reports
// (service.go).

const (
	maxEpolls   = 4
	maxInterest = 1024

	epollIn      = 0x1
	epollOut     = 0x4
	epollErr     = 0x8
	epollHup     = 0x10
	epollRdhup   = 0x2000
	epollET      = 1 << 31
	epollOneshot = 1 << 30

	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3
)

type interest struct {
	fd      int32
	events  uint32
	data    uint64
	seenGen uint64
	armed   bool
}

type epollInst struct {
	used bool
	n    int
	list [maxInterest]interest
}

var epolls [maxEpolls]epollInst

// sysEpollCreateImpl implements epoll_create(2).
func sysEpollCreateImpl(t *thread) int64 {
	if int64(t.regs.rdi) <= 0 {
		return -eINVAL
	}
	return newEpoll(0)
}

// sysEpollCreate1Impl implements epoll_create1(2).
func sysEpollCreate1Impl(t *thread) int64 { return newEpoll(t.regs.rdi) }

func newEpoll(flags uint64) int64 {
	for i := range epolls {
		if !epolls[i].used {
			r := allocFD(fdesc{kind: fdEpoll, obj: i, cloexec: flags&oCloexec != 0}, 0)
			if r >= 0 {
				epolls[i].used = true
				epolls[i].n = 0
			}
			return r
		}
	}
	return -eMFILE
}

// sysEpollCtlImpl implements epoll_ctl(2).
func sysEpollCtlImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil || d.kind != fdEpoll {
		return -eBADF
	}
	ep := &epolls[d.obj]
	op, fd, ev := t.regs.rsi, int32(t.regs.rdx), uintptr(t.regs.r10)
	if fd < 0 || fd == int32(t.regs.rdi) {
		return -eINVAL
	}
	if _, _, ok := readiness(fd); !ok {
		return -eBADF
	}
	idx := -1
	for i := 0; i < ep.n; i++ {
		if ep.list[i].fd == fd {
			idx = i
		}
	}
	var events uint32
	var data uint64
	if op != epollCtlDel {
		if !userPrepare(ev, 12, false) {
			return -eFAULT
		}
		events = load32(ev)
		data = uint64(load32(ev+4)) | uint64(load32(ev+8))<<32
	}
	switch op {
	case epollCtlAdd:
		if idx >= 0 {
			return -eEXIST
		}
		if ep.n == maxInterest {
			return -eNOMEM
		}
		ep.list[ep.n] = interest{fd: fd, events: events, data: data, seenGen: ^uint64(0), armed: true}
		ep.n++
	case epollCtlMod:
		if idx < 0 {
			return -eNOENT
		}
		ep.list[idx] = interest{fd: fd, events: events, data: data, seenGen: ^uint64(0), armed: true}
	case epollCtlDel:
		if idx < 0 {
			return -eNOENT
		}
		ep.list[idx] = ep.list[ep.n-1]
		ep.n--
	default:
		return -eINVAL
	}
	return 0
}

// readiness returns the ready events of fd and its change generation.
func readiness(fd int32) (uint32, uint64, bool) {
	if fd < 0 {
		return 0, 0, false
	}
	if fd < maxFDs && fds[fd].kind != fdFree {
		d := &fds[fd]
		switch d.kind {
		case fdConsoleOut:
			return epollOut, 0, true
		case fdConsoleIn:
			return epollIn | epollHup, 0, true
		case fdEventfd:
			e := &eventfds[d.obj]
			r := uint32(epollOut)
			if e.count > 0 {
				r |= epollIn
			}
			return r, e.gen, true
		case fdPipeR:
			p := &pipes[d.obj]
			r := uint32(0)
			if p.w > p.r {
				r |= epollIn
			}
			if p.writers == 0 {
				r |= epollHup
			}
			return r, p.gen, true
		case fdPipeW:
			p := &pipes[d.obj]
			r := uint32(0)
			if p.w-p.r < pipeSize {
				r |= epollOut
			}
			if p.readers == 0 {
				r |= epollErr
			}
			return r, p.gen, true
		case fdEpoll:
			return 0, 0, true
		case fdSvc:
			r, gen := svcReadiness(d)
			return r, gen, true
		case fdFile, fdDevice, fdTmpFile:
			return epollIn | epollOut, 0, true
		}
	}
	return 0, 0, false
}

// sysEpollWaitImpl implements epoll_wait(2).
func sysEpollWaitImpl(t *thread) int64 { return epollWait(t) }

// sysEpollPwaitImpl implements epoll_pwait(2) (the signal mask is not
// applied: the Go runtime passes none).
func sysEpollPwaitImpl(t *thread) int64 { return epollWait(t) }

func epollWait(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil || d.kind != fdEpoll {
		return -eBADF
	}
	ep := &epolls[d.obj]
	out, max, timeout := uintptr(t.regs.rsi), int(int32(t.regs.rdx)), int64(int32(t.regs.r10))
	if max <= 0 {
		return -eINVAL
	}
	max = min(max, maxInterest) // more could never be reported
	if !userPrepare(out, uintptr(max)*12, true) {
		return -eFAULT
	}
	n := 0
	for i := 0; i < ep.n && n < max; i++ {
		in := &ep.list[i]
		r, gen, ok := readiness(in.fd)
		if !ok {
			continue
		}
		r &= in.events | epollErr | epollHup
		if r == 0 || !in.armed {
			continue
		}
		if in.events&epollET != 0 && gen == in.seenGen {
			continue
		}
		in.seenGen = gen
		if in.events&epollOneshot != 0 {
			in.armed = false
		}
		e := out + uintptr(n)*12
		store32(e, r)
		store32(e+4, uint32(in.data))
		store32(e+8, uint32(in.data>>32))
		n++
	}
	if n > 0 {
		return int64(n)
	}
	if t.restart {
		if t.interrupt {
			return -eINTR
		}
		if t.timedOut {
			return 0
		}
		// Woken for a change that did not concern us: wait on.
		return block(t, waitEpoll, 0, t.deadline)
	}
	switch {
	case timeout == 0:
		return 0
	case timeout < 0:
		return block(t, waitEpoll, 0, 0)
	}
	return block(t, waitEpoll, 0, nanotime()+timeout*1e6)
}
