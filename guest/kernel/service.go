package kernel

// Service forwarding (docs/decisions/010): system calls on sockets (and,
// later, on host volumes) are carried out by a brick's "service thread", an
// ordinary goroutine locked to its thread, because the code behind them
// (gVisor's netstack) allocates and blocks, which library OS code must not.
//
// A calling thread T enters the kernel, which queues T's index and blocks
// it; the service thread S, blocked in SysSvcWait, wakes up with a copy of
// T's system call (number, arguments, the object behind the descriptor),
// performs it on T's memory directly (same address space, T is blocked),
// and hands the result back with its next SysSvcWait, which wakes T. The
// kernel owns the descriptors (dup, close, fcntl, epoll work as for its own
// files); services own objects, numbered from 0, and report their
// readiness with SysSvcReady, which is what epoll and blocking calls wait
// on.

// Brique's service system calls (see SysDMA for the numbering).
const (
	// SysSvcRegister(svc) announces a service: from then on the calls it
	// serves are queued for it instead of failing.
	SysSvcRegister = 502
	// SysSvcWait(svc, req, handle, result) first completes the request
	// handle (0: none) with result, then, if req is not 0, blocks until a
	// request for svc is queued and writes it to *req (a SvcRequest).
	SysSvcWait = 503
	// SysSvcReady(svc, obj, events) sets the readiness (epoll bits) of
	// object obj and wakes whoever waits on it.
	SysSvcReady = 504
)

// Services.
const (
	SvcNet    = 0 // sockets
	SvcVolume = 1 // host volumes
	numSvcs   = 2

	// MaxSvcObjects bounds a service's object numbers.
	MaxSvcObjects = 1024
)

// SvcRequest is what SysSvcWait writes for the service thread.
type SvcRequest struct {
	// Handle names the waiting thread, to pass back to SysSvcWait with the
	// result; 0 when nobody waits (a close of the last descriptor).
	Handle uint64
	NR     uint64    // Linux system call number
	Args   [6]uint64 // its arguments, as the program passed them
	Obj    int64     // the object behind the descriptor in Args[0], or -1
	Flags  uint64    // SvcNonblock, SvcRetry
}

// SvcRequest.Flags.
const (
	// SvcNonblock: the descriptor is non-blocking (O_NONBLOCK).
	SvcNonblock = 1
	// SvcRetry: the call is repeated after it returned EAGAIN or
	// EINPROGRESS on a blocking descriptor and the object's readiness
	// changed (a blocking connect asks for its outcome).
	SvcRetry = 2
)

const svcReqSize = 80 // sizeof(SvcRequest)

// Wait kinds of forwarded calls.
const (
	waitSvcNext  = 6 // a service thread waits for a request (waitAddr = svc)
	waitSvcReply = 7 // a thread waits for its request's result
	waitSvcReady = 8 // a thread waits for an object's readiness to change
)

// thread.svcState.
const (
	svcIdle    = 0
	svcQueued  = 1 // in the service's queue or being served
	svcDone    = 2 // t.svcResult holds the result
	svcWaiting = 3 // blocked until the object's readiness changes
)

type svcObject struct {
	events uint32
	gen    uint64
}

type service struct {
	registered bool
	// Queue of thread indices (each thread has at most one request).
	q          [maxThreads]int32
	qhead, qn  int
	closes     [MaxSvcObjects]int32 // objects to close, nobody waits
	chead, cn  int
	objs       [MaxSvcObjects]svcObject
	nForwarded uint64
}

var services [numSvcs]service

// fdSvc descriptors: obj = svc<<svcShift | object.
const svcShift = 16

func svcOf(d *fdesc) (int, int32) { return d.obj >> svcShift, int32(d.obj & (1<<svcShift - 1)) }

// sysSvcRegisterImpl implements SysSvcRegister.
func sysSvcRegisterImpl(t *thread) int64 {
	svc := t.regs.rdi
	if svc >= numSvcs {
		return -eINVAL
	}
	services[svc].registered = true
	return 0
}

// sysSvcWaitImpl implements SysSvcWait.
func sysSvcWaitImpl(t *thread) int64 {
	svc, req := t.regs.rdi, uintptr(t.regs.rsi)
	if svc >= numSvcs {
		return -eINVAL
	}
	s := &services[svc]
	if !t.restart {
		if h := t.regs.rdx; h != 0 {
			if r := svcComplete(h, int64(t.regs.r10)); r < 0 {
				return r
			}
		}
		if req == 0 {
			return 0
		}
		if !userPrepare(req, svcReqSize, true) {
			return -eFAULT
		}
	}
	if s.qn == 0 && s.cn == 0 {
		if t.restart && t.interrupt {
			return -eINTR
		}
		return block(t, waitSvcNext, uintptr(svc), 0)
	}
	memclr(req, svcReqSize)
	if s.cn > 0 { // closes first: their object numbers get reused
		obj := s.closes[s.chead]
		s.chead = (s.chead + 1) % len(s.closes)
		s.cn--
		store64(req+8, sysClose)
		store64(req+64, uint64(obj))
		return 1
	}
	idx := s.q[s.qhead]
	s.qhead = (s.qhead + 1) % len(s.q)
	s.qn--
	w := &threads[idx]
	store64(req, uint64(w.tid)<<8|uint64(idx)+1)
	store64(req+8, w.regs.rax)
	store64(req+16, w.regs.rdi)
	store64(req+24, w.regs.rsi)
	store64(req+32, w.regs.rdx)
	store64(req+40, w.regs.r10)
	store64(req+48, w.regs.r8)
	store64(req+56, w.regs.r9)
	store64(req+64, uint64(int64(w.svcObj)))
	store64(req+72, w.svcFlags)
	return 1
}

// svcComplete hands result to the thread named by handle.
func svcComplete(h uint64, result int64) int64 {
	idx := (h - 1) & 0xff
	if idx >= maxThreads {
		return -eINVAL
	}
	w := &threads[idx]
	if w.state == thFree || uint64(w.tid) != (h-1)>>8 || w.svcState != svcQueued {
		return -eINVAL
	}
	w.svcState = svcDone
	w.svcResult = result
	wake(w)
	return 0
}

// sysSvcReadyImpl implements SysSvcReady. Events are the object's
// readiness (epoll bits); with bit 32 set the call only refreshes it after
// an operation, which counts as a change (an edge) only if a bit appeared.
func sysSvcReadyImpl(t *thread) int64 {
	svc, obj := t.regs.rdi, t.regs.rsi
	if svc >= numSvcs || obj >= MaxSvcObjects {
		return -eINVAL
	}
	o := &services[svc].objs[obj]
	ev := uint32(t.regs.rdx)
	rising := ev&^o.events != 0
	o.events = ev
	if t.regs.rdx&(1<<32) != 0 && !rising {
		return 0
	}
	o.gen++
	key := uintptr(svc)<<svcShift | uintptr(obj)
	for i := range threads {
		w := &threads[i]
		if w.state == thBlocked && (w.wait == waitEpoll || w.wait == waitSvcReady && w.waitAddr == key) {
			wake(w)
		}
	}
	return 0
}

// svcForward queues t's system call for service svc, about object obj
// (-1: none), and blocks t; called again when t is woken, it returns the
// result. Calls that return EAGAIN (or EINPROGRESS) on a blocking
// descriptor wait for the object's readiness to change and are sent again.
func svcForward(t *thread, svc int, obj int32, nonblock bool) int64 {
	if !t.restart {
		t.svcState = svcIdle
	}
	s := &services[svc]
	switch t.svcState {
	case svcIdle:
		if !s.registered {
			return -eNOSYS
		}
		t.svcFlags = 0
		if nonblock {
			t.svcFlags = SvcNonblock
		}
		return svcEnqueue(t, svc, obj)
	case svcQueued:
		// Not interruptible: the service is about to answer.
		return block(t, waitSvcReply, 0, 0)
	case svcWaiting:
		if o := &s.objs[t.svcObj]; o.gen != t.svcGen {
			t.svcFlags |= SvcRetry
			return svcEnqueue(t, svc, obj)
		}
		if t.interrupt {
			t.svcState = svcIdle
			return -eINTR
		}
		return block(t, waitSvcReady, uintptr(svc)<<svcShift|uintptr(t.svcObj), 0)
	}
	// svcDone
	t.svcState = svcIdle
	r := t.svcResult
	if (r == -eAGAIN || r == -eINPROGRESS) && !nonblock && obj >= 0 && svcBlocks(t.regs.rax) {
		t.svcState = svcWaiting
		if o := &s.objs[obj]; o.gen != t.svcGen {
			t.svcFlags |= SvcRetry
			return svcEnqueue(t, svc, obj)
		}
		return block(t, waitSvcReady, uintptr(svc)<<svcShift|uintptr(obj), 0)
	}
	return r
}

func svcEnqueue(t *thread, svc int, obj int32) int64 {
	s := &services[svc]
	t.svcObj = obj
	if obj >= 0 {
		t.svcGen = s.objs[obj].gen
	}
	s.q[(s.qhead+s.qn)%len(s.q)] = int32(cur)
	s.qn++
	s.nForwarded++
	t.svcState = svcQueued
	svcWakeServer(svc)
	return block(t, waitSvcReply, 0, 0)
}

func svcWakeServer(svc int) {
	for i := range threads {
		w := &threads[i]
		if w.state == thBlocked && w.wait == waitSvcNext && w.waitAddr == uintptr(svc) {
			wake(w)
			return
		}
	}
}

// svcClosed tells the service that the last descriptor of an object is
// gone.
func svcClosed(d *fdesc) {
	svc, obj := svcOf(d)
	s := &services[svc]
	if s.cn == len(s.closes) {
		return // cannot happen: at most one close per object
	}
	s.closes[(s.chead+s.cn)%len(s.closes)] = obj
	s.cn++
	s.objs[obj] = svcObject{gen: s.objs[obj].gen + 1}
	svcWakeServer(svc)
}

// svcBlocks reports whether a call waits for readiness on a blocking
// descriptor.
func svcBlocks(nr uint64) bool {
	switch nr {
	case sysRead, sysReadv, sysWrite, sysWritev, sysAccept, sysAccept4, sysConnect,
		sysSendto, sysRecvfrom, sysSendmsg, sysRecvmsg:
		return true
	}
	return false
}

// svcReadiness is readiness() for service descriptors.
func svcReadiness(d *fdesc) (uint32, uint64) {
	svc, obj := svcOf(d)
	o := &services[svc].objs[obj]
	return o.events, o.gen
}

// newSvcFD wraps a new object (socket, accept) in a descriptor.
func newSvcFD(svc int, obj int64, cloexec, nonblock bool) int64 {
	if obj < 0 {
		return obj
	}
	if obj >= MaxSvcObjects {
		return -eNOMEM
	}
	d := fdesc{kind: fdSvc, obj: svc<<svcShift | int(obj), cloexec: cloexec, nonblock: nonblock}
	fd := allocFD(d, 0)
	if fd < 0 {
		svcClosed(&d)
	}
	return fd
}
