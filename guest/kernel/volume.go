package kernel

import "brique.dev/brique/abi"

// Host volumes (`brique run -v HOSTDIR:GUESTDIR`): the monitor serves each
// over 9P (virtio-9p) and announces it on the command line as
// "brique.vol=<tag>:<guestdir>[:ro]". The kernel only routes: system calls
// whose path falls under a volume's directory, and calls on descriptors the
// volume service opened, are forwarded to that service (service.go,
// SvcVolume), which the brick guest/vol provides. Legacy calls are
// normalized to their *at form before the service sees them.

const (
	maxMounts   = 8
	maxMountLen = 256
)

type mount struct {
	prefix [maxMountLen]byte
	plen   int
}

var (
	mounts  [maxMounts]mount
	nmounts int
)

// volumesInit reads the volumes from the command line.
func volumesInit() {
	off, n := uintptr(bootInfo(abi.BootInfoCmdlineOff)), uintptr(bootInfo(abi.BootInfoCmdlineLen))
	if off == 0 || n == 0 || off+n > abi.BootInfoSize {
		return
	}
	line := mem(abi.BootInfoAddr+off, n)
	const key = "brique.vol="
	for i := 0; i+len(key) <= len(line) && nmounts < maxMounts; i++ {
		if (i > 0 && line[i-1] != ' ') || string(line[i:i+len(key)]) != key {
			continue
		}
		w := line[i+len(key):]
		j := 0
		for j < len(w) && w[j] != ' ' {
			j++
		}
		w = w[:j]
		// tag:dir[:ro]
		k := 0
		for k < len(w) && w[k] != ':' {
			k++
		}
		if k == len(w) {
			continue
		}
		dir := w[k+1:]
		e := 0
		for e < len(dir) && dir[e] != ':' {
			e++
		}
		dir = dir[:e]
		if len(dir) < 2 || dir[0] != '/' || len(dir) > maxMountLen {
			continue
		}
		m := &mounts[nmounts]
		m.plen = copy(m.prefix[:], dir)
		nmounts++
	}
}

// volOf returns the volume holding the absolute clean path and the path
// relative to the volume's root, or -1.
func volOf(path []byte) (int, []byte) {
	for i := 0; i < nmounts; i++ {
		p := mounts[i].prefix[:mounts[i].plen]
		if len(path) >= len(p) && string(path[:len(p)]) == string(p) {
			if len(path) == len(p) {
				return i, path[len(p):]
			}
			if path[len(p)] == '/' {
				return i, path[len(p)+1:]
			}
		}
	}
	return -1, nil
}

// Normalized path calls (the *at forms).
const (
	sysLinkat  = 265
	sysLink    = 86
	sysStatfs  = 137
	sysFstatfs = 138
)

// volCall describes a call in its normalized form.
type volCall struct {
	nr     uint64
	args   [6]uint64
	dirArg [2]int // argument holding the directory descriptor (-1: AT_FDCWD)
	path   [2]int // argument holding the path (-1: none)
	follow bool   // follow a symbolic link in the last component
}

// volNormalize returns the normalized form of t's call, if it is a path
// call.
func volNormalize(t *thread) (c volCall, ok bool) {
	r := &t.regs
	a := [6]uint64{r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9}
	cwdFD := uint64(0xffffffffffffff9c) // AT_FDCWD
	c.dirArg = [2]int{0, -1}
	c.path = [2]int{1, -1}
	c.nr = r.rax
	c.args = a
	switch r.rax {
	case sysOpen:
		c.nr, c.args = sysOpenat, [6]uint64{cwdFD, a[0], a[1], a[2]}
	case sysOpenat:
	case sysStat:
		c.nr, c.args = sysNewfstatat, [6]uint64{cwdFD, a[0], a[1], 0}
	case sysLstat:
		c.nr, c.args = sysNewfstatat, [6]uint64{cwdFD, a[0], a[1], 0x100}
	case sysNewfstatat:
		if a[3]&0x1000 != 0 && (a[1] == 0 || userPrepare(uintptr(a[1]), 1, false) && load8(uintptr(a[1])) == 0) {
			return c, false // AT_EMPTY_PATH: a call on the descriptor
		}
	case sysMkdir:
		c.nr, c.args = sysMkdirat, [6]uint64{cwdFD, a[0], a[1]}
	case sysMkdirat:
	case sysUnlink:
		c.nr, c.args = sysUnlinkat, [6]uint64{cwdFD, a[0], 0}
	case sysRmdir:
		c.nr, c.args = sysUnlinkat, [6]uint64{cwdFD, a[0], 0x200}
	case sysUnlinkat:
	case sysRename:
		c.nr, c.args = sysRenameat2, [6]uint64{cwdFD, a[0], cwdFD, a[1], 0}
	case sysRenameat:
		c.nr, c.args = sysRenameat2, [6]uint64{a[0], a[1], a[2], a[3], 0}
	case sysRenameat2:
	case sysLink:
		c.nr, c.args = sysLinkat, [6]uint64{cwdFD, a[0], cwdFD, a[1], 0}
	case sysLinkat:
	case sysSymlink:
		c.nr, c.args = sysSymlinkat, [6]uint64{a[0], cwdFD, a[1]}
	case sysSymlinkat:
	case sysReadlink:
		c.nr, c.args = sysReadlinkat, [6]uint64{cwdFD, a[0], a[1], a[2]}
	case sysReadlinkat:
	case sysChmod:
		c.nr, c.args = sysFchmodat, [6]uint64{cwdFD, a[0], a[1]}
	case sysFchmodat, sysFchmodat2:
		c.nr = sysFchmodat
	case sysAccess:
		c.nr, c.args = sysFaccessat, [6]uint64{cwdFD, a[0], a[1]}
	case sysFaccessat, sysFaccessat2:
		c.nr = sysFaccessat
	case sysUtimensat:
		if a[1] == 0 {
			return c, false // futimens: a call on the descriptor
		}
	case sysChdir:
		// Checked as "can search it" (the service has no chdir); the
		// kernel then moves the working directory (volFinish).
		c.nr, c.args = sysFaccessat, [6]uint64{cwdFD, a[0], 1}
	case sysTruncate, sysStatfs:
		c.dirArg[0], c.path[0] = -1, 0
	default:
		return c, false
	}
	switch c.nr {
	case sysRenameat2, sysLinkat:
		c.dirArg[1], c.path[1] = 2, 3
	case sysSymlinkat:
		c.dirArg[0], c.path[0] = 1, 2
	}
	switch c.nr {
	case sysOpenat:
		c.follow = c.args[2]&0x20000 == 0 // O_NOFOLLOW
	case sysNewfstatat, sysUtimensat:
		c.follow = c.args[3]&0x100 == 0
	case sysFchmodat, sysFaccessat, sysTruncate, sysStatfs:
		c.follow = true
	}
	return c, true
}

// volPath finds where path argument i of c leads: the volume and the path
// relative to its root (into buf), or the directory object it starts from
// (dirObj >= 0, with the program's relative path). vol is -1 when the path
// is not on a volume.
func volPath(c *volCall, i int, buf *[maxPath]byte) (vol int, dirObj int32, n int, errno int64) {
	p := uintptr(c.args[c.path[i]])
	dirfd := int64(atFDCWD)
	if c.dirArg[i] >= 0 {
		dirfd = int64(int32(c.args[c.dirArg[i]]))
	}
	if !userPrepare(p, 1, false) {
		return -1, -1, 0, -eFAULT
	}
	if load8(p) != '/' && dirfd != atFDCWD {
		if d := getFD(uint64(dirfd)); d != nil && d.kind == fdSvc {
			svc, obj := svcOf(d)
			if svc != SvcVolume {
				return -1, -1, 0, -eNOTDIR
			}
			s := cstring(p, maxPath)
			n = copy(buf[:], s)
			return mountOfObj(obj), obj, n, 0
		}
	}
	r := resolveLink(dirfd, p, buf, c.follow)
	if r < 0 {
		return -1, -1, 0, r
	}
	v, rel := volOf(buf[:r])
	if v < 0 {
		return -1, -1, 0, 0
	}
	n = copy(buf[:], rel)
	return v, -1, n, 0
}

// objMount remembers which volume each volume object belongs to.
var objMount [MaxSvcObjects]int8

func mountOfObj(obj int32) int { return int(objMount[obj]) }

// volRoute forwards t's call to the volume service if it concerns a
// volume; ok reports whether it did (r is then the call's result).
func volRoute(t *thread, restart bool) (r int64, ok bool) {
	if restart {
		if !t.svcVol {
			return 0, false
		}
		t.restart = true
		r = svcForward(t, SvcVolume, t.svcObj, false)
		if r != blockedRet {
			r = volFinish(t, r)
		}
		return r, true
	}
	t.svcVol = false
	if nmounts == 0 {
		return 0, false
	}
	t.restart = false
	// Calls on a volume's descriptor.
	if volFDCall(t) {
		d := getFD(t.regs.rdi)
		if d == nil || d.kind != fdSvc {
			return 0, false
		}
		svc, obj := svcOf(d)
		if svc != SvcVolume {
			return 0, false
		}
		if e := volFDArgs(t); e != 0 {
			return e, true
		}
		t.svcVol = true
		t.svcVolVol = int8(mountOfObj(obj))
		return svcForward(t, SvcVolume, obj, false), true
	}
	c, isPath := volNormalize(t)
	if !isPath {
		return 0, false
	}
	v0, _, _, e := volPath(&c, 0, &pathBuf)
	if e != 0 || v0 < 0 {
		if e != 0 && v0 >= 0 {
			return e, true
		}
		if c.path[1] >= 0 && e == 0 {
			// rename or link from outside into a volume: EXDEV.
			if v1, _, _, e1 := volPath(&c, 1, &pathBuf); e1 == 0 && v1 >= 0 {
				return -eXDEV, true
			}
		}
		return 0, false
	}
	if c.path[1] >= 0 {
		v1, _, _, e1 := volPath(&c, 1, &pathBuf)
		if e1 != 0 {
			return e1, true
		}
		if v1 != v0 {
			return -eXDEV, true
		}
	}
	if !volPathArgsOK(&c) {
		return -eFAULT, true
	}
	if !services[SvcVolume].registered {
		return -eNODEV, true
	}
	t.svcVol = true
	t.svcVolVol = int8(v0)
	return svcForward(t, SvcVolume, -1, false), true
}

// volFinish turns a successful open into a descriptor, and a successful
// chdir check into the new working directory.
func volFinish(t *thread, r int64) int64 {
	t.svcVol = false
	if t.regs.rax == sysChdir && r == 0 {
		n := resolve(atFDCWD, uintptr(t.regs.rdi), &pathBuf)
		if n < 0 {
			return n
		}
		cwdLen = copy(cwd[:], pathBuf[:n])
		return 0
	}
	if c, ok := volNormalize(t); ok && c.nr == sysOpenat && r >= 0 && r < MaxSvcObjects {
		objMount[r] = t.svcVolVol
		return newSvcFD(SvcVolume, r, c.args[2]&oCloexec != 0, false)
	}
	return r
}

// volFDCall reports whether t's call is one on the descriptor in its first
// argument (read, write, readv and writev reach the service through
// svcFDCall).
func volFDCall(t *thread) bool {
	switch t.regs.rax {
	case sysPread64, sysPwrite64, sysPreadv, sysPwritev, sysLseek, sysFstat, sysFsync, sysFdatasync,
		sysFtruncate, sysGetdents64, sysFchmod, sysFstatfs, sysFchdir:
		return true
	case sysNewfstatat:
		_, isPath := volNormalize(t)
		return !isPath
	case sysUtimensat:
		return t.regs.rsi == 0
	}
	return false
}

// volFDArgs checks (and maps) the user memory of a descriptor call: 0,
// -EFAULT, or -EINVAL for too many iovecs.
func volFDArgs(t *thread) int64 {
	a1, a2 := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	ok := true
	switch t.regs.rax {
	case sysPread64, sysGetdents64:
		ok = userPrepare(a1, a2, true)
	case sysPwrite64:
		ok = userPrepare(a1, a2, false)
	case sysPreadv, sysPwritev:
		return iovArgs(a1, a2, t.regs.rax == sysPreadv)
	case sysFstat:
		ok = userPrepare(a1, 144, true)
	case sysNewfstatat:
		ok = userPrepare(a2, 144, true)
	case sysFstatfs:
		ok = userPrepare(a1, 120, true)
	case sysUtimensat:
		ok = a2 == 0 || userPrepare(a2, 32, false)
	}
	if !ok {
		return -eFAULT
	}
	return 0
}

// volDirPath receives the guest path of the directory a volume fchdir
// names: the service writes it there (volFill passes its address) and
// the kernel takes it as the service completes the call (volFchdirDone),
// before the service can take the next request.
var volDirPath [maxPath]byte

// volFchdirDone makes the path the volume service wrote for an fchdir
// call (n, the service's result: its length, or -errno) the working
// directory, and returns the call's result. Called from svcComplete.
func volFchdirDone(n int64) int64 {
	if n < 0 {
		return n
	}
	if n == 0 || n > maxPath || volDirPath[0] != '/' {
		return -eIO // (the service writes an absolute path that fits)
	}
	m, errno := appendClean(&pathBuf, 0, volDirPath[:n])
	if errno != 0 {
		return errno
	}
	if v, _ := volOf(pathBuf[:m]); v < 0 {
		return -eIO
	}
	cwdLen = copy(cwd[:], pathBuf[:m])
	return 0
}

// volPathArgsOK checks the user memory of a path call (normalized).
func volPathArgsOK(c *volCall) bool {
	a := &c.args
	switch c.nr {
	case sysNewfstatat:
		return userPrepare(uintptr(a[2]), 144, true)
	case sysReadlinkat:
		return userPrepare(uintptr(a[2]), uintptr(a[3]), true)
	case sysUtimensat:
		return a[2] == 0 || userPrepare(uintptr(a[2]), 32, false)
	case sysStatfs:
		return userPrepare(uintptr(a[1]), 120, true)
	case sysSymlinkat:
		return userPrepare(uintptr(a[0]), 1, false)
	}
	return true
}

// volFill completes the request at req for the volume call of thread w:
// the normalized call and its paths (service.go, SysSvcWait).
func volFill(w *thread, req uintptr) {
	store64(req+80, ^uint64(0)) // Vol
	store64(req+88, ^uint64(0)) // DirObj
	store64(req+96, ^uint64(0))
	store64(req+104, 0) // PathLen
	store64(req+112, 0)
	if w.regs.rax == sysFchdir && w.svcObj >= 0 {
		// The service writes the directory's guest path here.
		store64(req+24, uint64(addrOf(&volDirPath[0])))
		store64(req+32, maxPath)
	}
	c, ok := volNormalize(w)
	if !ok || w.svcObj >= 0 {
		return // a call on a descriptor: Obj says which
	}
	store64(req+8, c.nr)
	for i, v := range c.args {
		store64(req+16+8*uintptr(i), v)
	}
	store64(req+80, uint64(w.svcVolVol))
	for i := 0; i < 2 && c.path[i] >= 0; i++ {
		v, dirObj, n, errno := volPath(&c, i, &pathBuf)
		if errno != 0 || v != int(w.svcVolVol) {
			// The program changed the path, its directory or the
			// working directory since the call was routed: fail it
			// rather than act on the volume's root (no volume: the
			// service answers ENODEV).
			store64(req+80, ^uint64(0))
			return
		}
		store64(req+88+8*uintptr(i), uint64(int64(dirObj)))
		store64(req+104+8*uintptr(i), uint64(n))
		copy(mem(req+120+uintptr(i)*maxPath, maxPath), pathBuf[:n])
	}
}
