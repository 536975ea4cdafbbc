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
	// SysSvcWait(svc, req, handle, result, obj+1, events|seq<<32) first
	// refreshes the readiness of object obj (obj+1 = 0: none) after the
	// call it served (an edge only if a bit appeared), completes the
	// request handle (0: none) with result, then, if req is not 0, blocks
	// until a request for svc is queued and writes it to *req (a
	// SvcRequest).
	SysSvcWait = 503
	// SysSvcReady(svc, obj, events, seq) sets the readiness (epoll bits)
	// of object obj and wakes whoever waits on it. seq orders the updates
	// of an object (0: unordered): the service numbers them as it reads
	// the state, and the kernel drops an update older than one it already
	// applied, so a refresh computed before a change but delivered after
	// it cannot hide the change.
	SysSvcReady = 504
	// SysSvcAlloc(svc) reserves an object number (for a connection that
	// accept creates), or returns -ENFILE.
	SysSvcAlloc = 505
	// SysSvcAddr(svc, obj, which, addr, len) records a socket's local
	// (which = 0) or peer (1) address, a sockaddr of at most 28 bytes
	// (len 0: none), with which the kernel answers getsockname and
	// getpeername itself: Go makes those calls, and socket, without
	// releasing its P (RawSyscall), so they must not wait for the service
	// thread (the garbage collector would wait for them forever).
	SysSvcAddr = 506
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

	// Volume calls on descriptors pass the program's arguments, except
	// fchdir: Args[1] and Args[2] are a kernel buffer and its size, for
	// the directory's guest path, and the result is the path's length.
	//
	// Volume calls on paths (volume.go): the call is in its *at form
	// (NR, Args); Vol is the volume (-1 for calls on a descriptor);
	// Path[i][:PathLen[i]] is relative to the volume's root when
	// DirObj[i] is -1, or the program's relative path from directory
	// object DirObj[i].
	Vol     int64
	DirObj  [2]int64
	PathLen [2]uint64
	Path    [2][maxPath]byte
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

const svcReqSize = 120 + 2*maxPath // sizeof(SvcRequest)

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
	used          bool
	events        uint32
	seq           uint32 // last applied update (SysSvcReady)
	gen           uint64
	llen, rlen    uint8
	local, remote [28]byte // sockaddrs (SysSvcAddr)
}

// svcAsync is a request nobody waits for: the creation of a socket, the
// close of its last descriptor.
type svcAsync struct {
	nr   uint64
	args [3]uint64
	obj  int32
}

type service struct {
	registered bool
	// Queue of thread indices (each thread has at most one request).
	q         [maxThreads]int32
	qhead, qn int
	// Asynchronous requests, served before the queue (they come first:
	// a socket is created before anyone can use it).
	async     [2 * MaxSvcObjects]svcAsync
	ahead, an int
	objs      [MaxSvcObjects]svcObject
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
		if o := t.regs.r8; o != 0 && o <= MaxSvcObjects {
			svcSetReady(int(svc), o-1, uint32(t.regs.r9), uint32(t.regs.r9>>32), true)
		}
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
	if s.qn == 0 && s.an == 0 {
		if t.restart && t.interrupt {
			return -eINTR
		}
		return block(t, waitSvcNext, uintptr(svc), 0)
	}
	memclr(req, 120) // the fixed part; volFill sets the paths' lengths
	if s.an > 0 {
		a := &s.async[s.ahead]
		s.ahead = (s.ahead + 1) % len(s.async)
		s.an--
		store64(req+8, a.nr)
		store64(req+16, a.args[0])
		store64(req+24, a.args[1])
		store64(req+32, a.args[2])
		store64(req+64, uint64(a.obj))
		if a.nr == sysClose {
			s.objs[a.obj].used = false // the number can be reused
		}
		return 1
	}
	idx := s.q[s.qhead]
	s.qhead = (s.qhead + 1) % len(s.q)
	s.qn--
	w := &threads[idx]
	store64(req, uint64(w.tid)<<16|uint64(idx)+1)
	store64(req+8, w.regs.rax)
	store64(req+16, w.regs.rdi)
	store64(req+24, w.regs.rsi)
	store64(req+32, w.regs.rdx)
	store64(req+40, w.regs.r10)
	store64(req+48, w.regs.r8)
	store64(req+56, w.regs.r9)
	store64(req+64, uint64(int64(w.svcObj)))
	store64(req+72, w.svcFlags)
	if svc == SvcVolume {
		volFill(w, req)
	}
	return 1
}

// svcComplete hands result to the thread named by handle.
func svcComplete(h uint64, result int64) int64 {
	idx := (h - 1) & 0xffff
	if idx >= maxThreads {
		return -eINVAL
	}
	w := &threads[idx]
	if w.state == thFree || uint64(w.tid) != (h-1)>>16 || w.svcState != svcQueued {
		return -eINVAL
	}
	if w.svcVol && w.regs.rax == sysFchdir {
		result = volFchdirDone(result)
	}
	w.svcState = svcDone
	w.svcResult = result
	wake(w)
	handoff = int(idx)
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
	svcSetReady(int(svc), obj, uint32(t.regs.rdx), uint32(t.regs.r10), false)
	return 0
}

func svcSetReady(svc int, obj uint64, ev, seq uint32, refresh bool) {
	o := &services[svc].objs[obj]
	if seq != 0 {
		if int32(seq-o.seq) < 0 {
			return // older than what was applied
		}
		o.seq = seq
	}
	rising := ev&^o.events != 0
	o.events = ev
	if refresh && !rising {
		return
	}
	o.gen++
	key := uintptr(svc)<<svcShift | uintptr(obj)
	for i := range threads[:threadsHi] {
		w := &threads[i]
		if w.state == thBlocked && (w.wait == waitEpoll || w.wait == waitSvcReady && w.waitAddr == key) {
			wake(w)
		}
	}
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
	t.svcSvc, t.svcObj = int8(svc), obj
	if obj >= 0 {
		t.svcGen = s.objs[obj].gen
	}
	s.q[(s.qhead+s.qn)%len(s.q)] = int32(cur)
	s.qn++
	t.svcState = svcQueued
	svcWakeServer(svc)
	return block(t, waitSvcReply, 0, 0)
}

func svcWakeServer(svc int) {
	for i := range threads[:threadsHi] {
		w := &threads[i]
		if w.state == thBlocked && w.wait == waitSvcNext && w.waitAddr == uintptr(svc) {
			wake(w)
			handoff = i
			return
		}
	}
}

// svcClosed tells the service that the last descriptor of an object is
// gone.
func svcClosed(d *fdesc) {
	svc, obj := svcOf(d)
	svcPost(svc, svcAsync{nr: sysClose, obj: obj})
	o := &services[svc].objs[obj]
	o.events, o.llen, o.rlen, o.seq = 0, 0, 0, 0
	o.gen++
}

func svcPost(svc int, a svcAsync) {
	s := &services[svc]
	if s.an == len(s.async) {
		return // cannot happen: at most one creation and one close per object
	}
	s.async[(s.ahead+s.an)%len(s.async)] = a
	s.an++
	svcWakeServer(svc)
}

// svcAlloc reserves an object number of svc, or returns -1.
func svcAlloc(svc int) int32 {
	s := &services[svc]
	for i := range s.objs {
		if o := &s.objs[i]; !o.used {
			o.used = true
			o.events, o.llen, o.rlen, o.seq = 0, 0, 0, 0
			o.gen++
			return int32(i)
		}
	}
	return -1
}

// sysSvcAllocImpl implements SysSvcAlloc.
func sysSvcAllocImpl(t *thread) int64 {
	if t.regs.rdi >= numSvcs {
		return -eINVAL
	}
	if id := svcAlloc(int(t.regs.rdi)); id >= 0 {
		return int64(id)
	}
	return -eNFILE
}

// sysSvcAddrImpl implements SysSvcAddr.
func sysSvcAddrImpl(t *thread) int64 {
	svc, obj, which, p, n := t.regs.rdi, t.regs.rsi, t.regs.rdx, uintptr(t.regs.r10), uintptr(t.regs.r8)
	if svc >= numSvcs || obj >= MaxSvcObjects || which > 1 || n > 28 || !userPrepare(p, n, false) {
		return -eINVAL
	}
	o := &services[svc].objs[obj]
	if which == 0 {
		copy(o.local[:], mem(p, n))
		o.llen = uint8(n)
	} else {
		copy(o.remote[:], mem(p, n))
		o.rlen = uint8(n)
	}
	return 0
}

// svcWouldBlock reports whether a non-blocking receive or accept on the
// object would fail with EAGAIN, from the readiness the service reported:
// Go's net reads until EAGAIN, and this answers that last read without a
// round trip to the service.
func svcWouldBlock(svc int, obj int32, nr uint64) bool {
	switch nr {
	case sysRead, sysReadv, sysRecvfrom, sysRecvmsg, sysAccept, sysAccept4:
	default:
		return false
	}
	return services[svc].objs[obj].events&(epollIn|epollErr|epollHup|epollRdhup) == 0
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
	if svc == SvcVolume {
		return epollIn | epollOut, 0 // files are always ready
	}
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

// sockName answers getsockname (peer false) and getpeername from the
// addresses the service recorded.
func sockName(d *fdesc, peer bool, p, lenp uintptr) int64 {
	svc, obj := svcOf(d)
	o := &services[svc].objs[obj]
	a, n := o.local[:], uintptr(o.llen)
	if peer {
		a, n = o.remote[:], uintptr(o.rlen)
		if n == 0 {
			return -eNOTCONN
		}
	}
	room := uintptr(load32(lenp))
	copy(mem(p, room), a[:n])
	store32(lenp, uint32(n))
	return 0
}
