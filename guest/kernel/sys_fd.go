package kernel

import "brique.dev/brique/abi"

// File descriptors: the console (0, 1, 2), eventfds, pipes and epoll
// instances live in static tables. Bricks that add files or sockets
// register their system calls with Register and keep their own
// descriptors above extFDBase.

const (
	maxFDs    = 1024
	maxEvents = 32
	maxPipes  = 16
	pipeSize  = 16 << 10
)

// File kinds.
const (
	fdFree = iota
	fdConsoleIn
	fdConsoleOut
	fdEventfd
	fdEpoll
	fdPipeR
	fdPipeW
	fdFile    // root file system file: obj = entry, off = offset
	fdDir     // root file system directory: obj = entry (-1 = "/"), off = entries read
	fdDevice  // /dev/null, /dev/zero, /dev/urandom: obj = dev*
	fdTmpFile // tmpfs file: obj = node, off = offset
	fdTmpDir  // tmpfs directory: obj = node, off = entries read
	fdSvc     // a service's object (socket): obj = svc<<svcShift | object
)

type fdesc struct {
	kind     uint8
	cloexec  bool
	nonblock bool
	obj      int   // eventfds, epolls or pipes index; console: fd 1 or 2; file: entry
	off      int64 // offset (files), entries read (directories)

	appendMode bool // O_APPEND
}

type eventfd struct {
	used      bool
	count     uint64
	semaphore bool
	gen       uint64 // bumped on every change that can make it readable
}

type pipe struct {
	readers, writers int
	r, w             uint64 // total bytes read / written
	gen              uint64
	buf              [pipeSize]byte
}

var (
	fds      [maxFDs]fdesc
	eventfds [maxEvents]eventfd
	pipes    [maxPipes]pipe

	// fdsHi is one more than the highest descriptor ever used: scans of
	// the table stop there (like threadsHi).
	fdsHi = 3
)

func fdInit() {
	fds[0] = fdesc{kind: fdConsoleIn}
	fds[1] = fdesc{kind: fdConsoleOut, obj: 1}
	fds[2] = fdesc{kind: fdConsoleOut, obj: 2}
}

func getFD(fd uint64) *fdesc {
	if fd >= maxFDs || fds[fd].kind == fdFree {
		return nil
	}
	return &fds[fd]
}

func allocFD(d fdesc, min int) int64 {
	for i := min; i < maxFDs; i++ {
		if fds[i].kind == fdFree {
			fds[i] = d
			fdsHi = max(fdsHi, i+1)
			return int64(i)
		}
	}
	return -eMFILE
}

// sysWriteImpl implements write(2).
func sysWriteImpl(t *thread) int64 {
	return writeFD(t, t.regs.rdi, uintptr(t.regs.rsi), uintptr(t.regs.rdx), true)
}

// writeFD writes [p, p+n) to descriptor fd, as write(2). With wait false
// a write that would block fails with EAGAIN instead: writev's iovecs
// after one that was written must not put the thread to sleep (its call
// would be dispatched again from the start, writing the data twice).
func writeFD(t *thread, fd uint64, p, n uintptr, wait bool) int64 {
	d := getFD(fd)
	if d == nil {
		return -eBADF
	}
	if d.kind == fdSvc {
		return svcFDCall(t, d)
	}
	if !userPrepare(p, n, false) {
		return -eFAULT
	}
	switch d.kind {
	case fdDevice:
		return int64(n) // /dev/null and friends swallow writes
	case fdTmpFile:
		off := d.off
		if d.appendMode {
			off = tmpNodes[d.obj].size
		}
		r := tmpWrite(d.obj, p, n, off)
		if r > 0 {
			d.off = off + r
		}
		return r
	case fdFile, fdDir, fdTmpDir:
		return -eBADF // opened read-only
	case fdConsoleOut:
		if n == 0 {
			return 0
		}
		return int64(consoleWrite(d.obj, mem(p, n)))
	case fdEventfd:
		if n < 8 {
			return -eINVAL
		}
		v := load64(p)
		e := &eventfds[d.obj]
		if v == ^uint64(0) || e.count+v < e.count {
			return -eINVAL
		}
		e.count += v
		e.gen++
		fileChanged()
		return 8
	case fdPipeW:
		pp := &pipes[d.obj]
		if pp.readers == 0 {
			post(t, 13) // SIGPIPE
			return -ePIPE
		}
		free := pipeSize - (pp.w - pp.r)
		if free == 0 {
			if d.nonblock || !wait {
				return -eAGAIN
			}
			return block(t, waitRead, 0, 0)
		}
		if uint64(n) > free {
			n = uintptr(free)
		}
		b := mem(p, n)
		for i := range b {
			pp.buf[(pp.w+uint64(i))%pipeSize] = b[i]
		}
		pp.w += uint64(n)
		pp.gen++
		fileChanged()
		return int64(n)
	}
	return -eBADF
}

// sysWritevImpl implements writev(2) (see vectored).
func sysWritevImpl(t *thread) int64 { return vectored(t, writeFD) }

// sysReadvImpl implements readv(2) (see vectored).
func sysReadvImpl(t *thread) int64 { return vectored(t, readFD) }

// vectored implements readv and writev with op, read(2)'s or write(2)'s
// path: iovec by iovec, stopping at a short transfer; the bytes moved so
// far if a later iovec fails or would block (op does not wait after the
// first iovec moved data: the call would be dispatched again from the
// start). A service's descriptor (socket, volume file) gets the whole
// call.
func vectored(t *thread, op func(t *thread, fd uint64, p, n uintptr, wait bool) int64) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	if d.kind == fdSvc {
		return svcFDCall(t, d)
	}
	iov, cnt := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if e := iovArray(iov, cnt); e != 0 {
		return e
	}
	return iovEach(iov, cnt, func(p, n uintptr, moved int64) int64 {
		return op(t, t.regs.rdi, p, n, moved == 0)
	})
}

// iovEach calls op on the cnt iovecs at iov (checked by iovArray) in
// order, with the bytes moved so far, and stops at a short transfer. It
// returns the bytes moved, or op's error if nothing was moved.
func iovEach(iov, cnt uintptr, op func(p, n uintptr, moved int64) int64) int64 {
	total := int64(0)
	for i := uintptr(0); i < cnt; i++ {
		p, n := uintptr(load64(iov+16*i)), uintptr(load64(iov+16*i+8))
		r := op(p, n, total)
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		if uintptr(r) < n {
			break
		}
	}
	return total
}

// iovArray checks (and maps) an array of cnt struct iovec: 0, -EINVAL
// for more than UIO_MAXIOV, or -EFAULT. The buffers are checked as each
// is used.
func iovArray(iov, cnt uintptr) int64 {
	if cnt > 1024 { // UIO_MAXIOV
		return -eINVAL
	}
	if !userPrepare(iov, cnt*16, false) {
		return -eFAULT
	}
	return 0
}

// sysReadImpl implements read(2).
func sysReadImpl(t *thread) int64 {
	return readFD(t, t.regs.rdi, uintptr(t.regs.rsi), uintptr(t.regs.rdx), true)
}

// readFD reads into [p, p+n) from descriptor fd, as read(2). With wait
// false a read that would block fails with EAGAIN instead (readv's iovecs
// after one that got data, see writeFD).
func readFD(t *thread, fd uint64, p, n uintptr, wait bool) int64 {
	d := getFD(fd)
	if d == nil {
		return -eBADF
	}
	if d.kind == fdSvc {
		return svcFDCall(t, d)
	}
	if t.restart && t.interrupt {
		return -eINTR
	}
	if !userPrepare(p, n, true) {
		return -eFAULT
	}
	switch d.kind {
	case fdConsoleIn:
		return 0 // no standard input: EOF
	case fdFile:
		return readFile(d, p, n, d.off, true)
	case fdTmpFile:
		r := tmpRead(d.obj, p, n, d.off)
		if r > 0 {
			d.off += r
		}
		return r
	case fdDevice:
		return readDevice(d, p, n, d.off, true)
	case fdDir, fdTmpDir:
		return -eISDIR
	case fdEventfd:
		if n < 8 {
			return -eINVAL
		}
		e := &eventfds[d.obj]
		if e.count == 0 {
			if d.nonblock || !wait {
				return -eAGAIN
			}
			return block(t, waitRead, 0, 0)
		}
		v := e.count
		if e.semaphore {
			v = 1
		}
		e.count -= v
		store64(p, v)
		fileChanged()
		return 8
	case fdPipeR:
		pp := &pipes[d.obj]
		avail := pp.w - pp.r
		if avail == 0 {
			if pp.writers == 0 || n == 0 {
				return 0 // (Linux's pipe_read returns at once for 0 bytes)
			}
			if d.nonblock || !wait {
				return -eAGAIN
			}
			return block(t, waitRead, 0, 0)
		}
		if uint64(n) > avail {
			n = uintptr(avail)
		}
		b := mem(p, n)
		for i := range b {
			b[i] = pp.buf[(pp.r+uint64(i))%pipeSize]
		}
		pp.r += uint64(n)
		pp.gen++
		fileChanged()
		return int64(n)
	}
	return -eBADF
}

// fileChanged wakes the threads that wait for a file to become ready.
func fileChanged() {
	wakeKind(waitRead)
	wakeKind(waitEpoll)
}

// sysCloseImpl implements close(2).
func sysCloseImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	closeFD(d)
	return 0
}

func closeFD(d *fdesc) {
	kind, obj := d.kind, d.obj
	c := *d
	*d = fdesc{}
	if refs(kind, obj) > 0 {
		return
	}
	switch kind {
	case fdSvc:
		svcClosed(&c)
	case fdEventfd:
		eventfds[obj] = eventfd{}
	case fdEpoll:
		epolls[obj].used = false
	case fdPipeR:
		pipes[obj].readers--
		pipes[obj].gen++
		pipeMaybeFree(obj)
	case fdPipeW:
		pipes[obj].writers--
		pipes[obj].gen++
		pipeMaybeFree(obj)
	case fdTmpFile:
		tmpNodes[obj].opens = 0
		tmpRelease(obj)
	}
	fileChanged()
}

func pipeMaybeFree(i int) {
	if pipes[i].readers <= 0 && pipes[i].writers <= 0 {
		pipes[i].readers, pipes[i].writers = 0, 0
		pipes[i].r, pipes[i].w = 0, 0
	}
}

// refs counts descriptors sharing the object (after dup).
func refs(kind uint8, obj int) int {
	if kind == fdConsoleIn || kind == fdConsoleOut {
		return 1
	}
	n := 0
	for i := range fds[:fdsHi] {
		if fds[i].kind == kind && fds[i].obj == obj {
			n++
		}
	}
	return n
}

// sysDupImpl implements dup(2).
func sysDupImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	c := *d
	c.cloexec = false
	return allocFD(c, 0)
}

// sysDup2Impl implements dup2(2).
func sysDup2Impl(t *thread) int64 { return dup3(t.regs.rdi, t.regs.rsi, 0) }

// sysDup3Impl implements dup3(2).
func sysDup3Impl(t *thread) int64 {
	if t.regs.rdi == t.regs.rsi {
		return -eINVAL
	}
	return dup3(t.regs.rdi, t.regs.rsi, t.regs.rdx)
}

func dup3(old, nfd, flags uint64) int64 {
	d := getFD(old)
	if d == nil || nfd >= maxFDs {
		return -eBADF
	}
	if old == nfd {
		return int64(nfd)
	}
	c := *d
	if fds[nfd].kind != fdFree {
		closeFD(&fds[nfd])
	}
	c.cloexec = flags&oCloexec != 0
	fds[nfd] = c
	fdsHi = max(fdsHi, int(nfd)+1)
	return int64(nfd)
}

// Open flags (asm-generic/fcntl.h).
const (
	oNonblock = 0x800
	oCloexec  = 0x80000
)

// sysFcntlImpl implements fcntl(2) F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD.
func sysFcntlImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	arg := t.regs.rdx
	switch t.regs.rsi {
	case 0, 1030: // F_DUPFD, F_DUPFD_CLOEXEC
		c := *d
		c.cloexec = t.regs.rsi == 1030
		return allocFD(c, int(arg))
	case 1: // F_GETFD
		if d.cloexec {
			return 1
		}
		return 0
	case 2: // F_SETFD
		d.cloexec = arg&1 != 0
		return 0
	case 3: // F_GETFL
		fl := int64(2) // O_RDWR
		switch d.kind {
		case fdConsoleIn, fdPipeR, fdFile, fdDir, fdTmpDir:
			fl = 0
		case fdConsoleOut, fdPipeW:
			fl = 1
		}
		if d.nonblock {
			fl |= oNonblock
		}
		return fl
	case 4: // F_SETFL
		d.nonblock = arg&oNonblock != 0
		return 0
	}
	return -eINVAL
}

// sysIoctlImpl implements ioctl(2): nothing is a terminal.
func sysIoctlImpl(t *thread) int64 {
	if getFD(t.regs.rdi) == nil {
		return -eBADF
	}
	return -eNOTTY
}

// Stat mode bits.
const (
	sIFIFO  = 0x1000
	sIFSOCK = 0xc000
	sIFCHR  = 0x2000
	sIFREG  = 0x8000
)

// sysFstatImpl implements fstat(2).
func sysFstatImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	return statFD(d, uintptr(t.regs.rsi))
}

func statFD(d *fdesc, st uintptr) int64 {
	switch d.kind {
	case fdTmpFile, fdTmpDir:
		return tmpStat(st, d.obj)
	case fdFile:
		return statEntry(st, d.obj, 0)
	case fdDir:
		return statEntry(st, d.obj, 0)
	case fdDevice:
		return statEntry(st, -1, d.obj)
	}
	const statSize = 144
	if !userPrepare(st, statSize, true) {
		return -eFAULT
	}
	memclr(st, statSize)
	mode := uint32(sIFCHR | 0o620)
	switch d.kind {
	case fdPipeR, fdPipeW:
		mode = sIFIFO | 0o600
	case fdSvc:
		mode = sIFSOCK | 0o777
	case fdEventfd, fdEpoll:
		mode = 0o600
	}
	store64(st+16, 1)            // st_nlink
	store32(st+24, mode)         // st_mode
	store64(st+56, abi.PageSize) // st_blksize
	return 0
}

// sysEventfdImpl implements eventfd(2).
func sysEventfdImpl(t *thread) int64 { return newEventfd(t.regs.rdi, 0) }

// sysEventfd2Impl implements eventfd2(2).
func sysEventfd2Impl(t *thread) int64 { return newEventfd(t.regs.rdi, t.regs.rsi) }

func newEventfd(initval, flags uint64) int64 {
	const efdSemaphore = 1
	for i := range eventfds {
		if !eventfds[i].used {
			r := allocFD(fdesc{kind: fdEventfd, obj: i, cloexec: flags&oCloexec != 0, nonblock: flags&oNonblock != 0}, 0)
			if r >= 0 {
				eventfds[i] = eventfd{used: true, count: initval, semaphore: flags&efdSemaphore != 0}
			}
			return r
		}
	}
	return -eMFILE
}

// sysPipeImpl implements pipe(2).
func sysPipeImpl(t *thread) int64 { return newPipe(uintptr(t.regs.rdi), 0) }

// sysPipe2Impl implements pipe2(2).
func sysPipe2Impl(t *thread) int64 { return newPipe(uintptr(t.regs.rdi), t.regs.rsi) }

func newPipe(p uintptr, flags uint64) int64 {
	if !userPrepare(p, 8, true) {
		return -eFAULT
	}
	for i := range pipes {
		pp := &pipes[i]
		if pp.readers != 0 || pp.writers != 0 {
			continue
		}
		ce, nb := flags&oCloexec != 0, flags&oNonblock != 0
		r := allocFD(fdesc{kind: fdPipeR, obj: i, cloexec: ce, nonblock: nb}, 0)
		if r < 0 {
			return r
		}
		w := allocFD(fdesc{kind: fdPipeW, obj: i, cloexec: ce, nonblock: nb}, 0)
		if w < 0 {
			fds[r] = fdesc{}
			return w
		}
		pp.readers, pp.writers, pp.r, pp.w = 1, 1, 0, 0
		store32(p, uint32(r))
		store32(p+4, uint32(w))
		return 0
	}
	return -eMFILE
}
