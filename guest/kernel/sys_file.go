package kernel

import (
	"brique.dev/brique/abi"
)

// Files: a read-only root file system embedded in the image by
// `brique build --rootfs DIR` (abi.RootFS, served in place from the image's
// read-only data without copying or allocating) and the device files Go
// programs expect (/dev/null, /dev/zero, /dev/urandom, /dev/random).
// Without --rootfs there is only "/" and the devices.

var (
	rootfsAddr, rootfsLen uintptr
	cwdRoot               = [1]byte{'/'}

	// The working directory: an absolute, clean path (chdir, fchdir,
	// getcwd; "brique.cwd=" on the command line sets the first one).
	cwd    [maxPath]byte
	cwdLen int
)

func cwdInit() {
	SetFile("/etc/hosts", etcHosts)
	SetFile("/etc/passwd", etcPasswd) // the one user (os/user, tests)
	SetFile("/etc/group", etcGroup)
	cwd[0] = '/'
	cwdLen = 1
	off, n := uintptr(bootInfo(abi.BootInfoCmdlineOff)), uintptr(bootInfo(abi.BootInfoCmdlineLen))
	if off == 0 || n == 0 || off+n > abi.BootInfoSize {
		return
	}
	line := mem(abi.BootInfoAddr+off, n)
	const key = "brique.cwd="
	for i := 0; i+len(key) <= len(line); i++ {
		if (i == 0 || line[i-1] == ' ') && string(line[i:i+len(key)]) == key {
			v := line[i+len(key):]
			j := 0
			for j < len(v) && v[j] != ' ' {
				j++
			}
			if j > 0 && v[0] == '/' && j < maxPath {
				cwdLen = copy(cwd[:], v[:j])
			}
			return
		}
	}
}

// Cmdline is the guest command line the monitor passed (bricks find their
// devices and settings there: "ip=", "virtio_mmio.device="). It is
// read-only boot data.
func Cmdline() string {
	off, n := uintptr(bootInfo(abi.BootInfoCmdlineOff)), uintptr(bootInfo(abi.BootInfoCmdlineLen))
	if off == 0 || n == 0 || off+n > abi.BootInfoSize {
		return ""
	}
	b := mem(abi.BootInfoAddr+off, n)
	return bytesString(b)
}

// SetRootFS installs the embedded root file system; the generated package
// brique.dev/brique/guest/rootfs calls it from its init function. archive
// must stay alive for the life of the program (it is read-only image data).
func SetRootFS(archive string) bool {
	if !abi.RootFS(archive).Valid() {
		return false
	}
	rootfsAddr = stringAddr(archive)
	rootfsLen = uintptr(len(archive))
	return true
}

func rootfs() abi.RootFS {
	if rootfsLen == 0 {
		return nil
	}
	return abi.RootFS(mem(rootfsAddr, rootfsLen))
}

// Device files, by path.
const (
	devNull = iota + 1
	devZero
	devRandom
)

func deviceOf(path []byte) int {
	switch string(path) {
	case "/dev/null":
		return devNull
	case "/dev/zero":
		return devZero
	case "/dev/urandom", "/dev/random":
		return devRandom
	}
	for i := range etcFiles {
		if f := &etcFiles[i]; f.plen > 0 && string(f.path[:f.plen]) == string(path) && lookup(path) < 0 {
			return devEtc + i
		}
	}
	return 0
}

// Generated read-only files (/etc/hosts, /etc/passwd, /etc/group,
// /etc/resolv.conf) that Go programs expect; a file of the same name in the root file system wins.
// They are "devices" devEtc+i.
const devEtc = 16

var etcFiles [6]struct {
	path       [32]byte
	plen       int
	data, size uintptr // a string that lives as long as the program
}

// SetFile installs (or replaces) the generated file path with content,
// which must stay alive (a constant or a package-level string). Bricks
// call it at init time: the network brick writes /etc/resolv.conf.
func SetFile(path, content string) bool {
	if len(path) == 0 || len(path) > len(etcFiles[0].path) || path[0] != '/' {
		return false
	}
	free := -1
	for i := range etcFiles {
		f := &etcFiles[i]
		if f.plen == len(path) && string(f.path[:f.plen]) == path || f.plen == 0 && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return false
	}
	f := &etcFiles[free]
	f.plen = copy(f.path[:], path)
	f.data, f.size = stringAddr(content), uintptr(len(content))
	return true
}

const (
	etcHosts  = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	etcPasswd = "root:x:0:0:root:/:/sbin/nologin\n"
	etcGroup  = "root:x:0:\n"
)

const maxPath = 4096

// resolve turns a user path (relative to dirfd, which must be AT_FDCWD or
// a directory) into a clean absolute path in buf; it returns the length or
// a negated errno. Symbolic links in the archive are not followed
// (documented limitation).
func resolve(dirfd int64, p uintptr, buf *[maxPath]byte) int64 {
	return resolveLink(dirfd, p, buf, true)
}

// resolveLink is resolve that follows symbolic links in every component
// but the last, and in the last one too when followLast is set (not for
// lstat, readlink, unlink, rename, O_NOFOLLOW).
func resolveLink(dirfd int64, p uintptr, buf *[maxPath]byte, followLast bool) int64 {
	n := 0
	if !userPrepare(p, 1, false) {
		return -eFAULT
	}
	path := cstring(p, maxPath)
	if len(path) == 0 {
		return -eNOENT
	}
	if path[0] != '/' {
		base := cwd[:cwdLen]
		if dirfd != atFDCWD {
			d := getFD(uint64(dirfd))
			if d == nil {
				return -eBADF
			}
			switch {
			case d.kind == fdDir && d.obj >= 0:
				base = rootfs().Name(d.obj)
			case d.kind == fdDir:
			case d.kind == fdTmpDir:
				n = tmpDirPath(d.obj, buf)
				base = nil
			default:
				return -eNOTDIR
			}
		}
		if base != nil {
			n = copy(buf[:], base)
		}
	}
	n, errno := appendClean(buf, n, path)
	if errno != 0 {
		return errno
	}
	if path[len(path)-1] == '/' {
		followLast = true // "link/" names the directory the link points to
	}
	return followLinks(buf, n, followLast)
}

// appendClean appends path's components to buf[:n] (an absolute, clean
// path, or empty), handling "." and ".." lexically (".." stops at "/").
func appendClean(buf *[maxPath]byte, n int, path []byte) (int, int64) {
	i := 0
	for i < len(path) {
		for i < len(path) && path[i] == '/' {
			i++
		}
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		comp := path[i:j]
		i = j
		switch {
		case len(comp) == 0 || string(comp) == ".":
		case string(comp) == "..":
			for n > 1 && buf[n-1] != '/' {
				n--
			}
			if n > 1 {
				n--
			}
		default:
			if n == 0 || buf[n-1] != '/' {
				if n >= maxPath {
					return 0, -eRANGE
				}
				buf[n] = '/'
				n++
			}
			if n+len(comp) > maxPath {
				return 0, -eRANGE
			}
			n += copy(buf[n:], comp)
		}
	}
	if n == 0 {
		buf[0] = '/'
		n = 1
	}
	return n, 0
}

const maxSymlinkHops = 40 // like Linux's MAXSYMLINKS

var (
	linkBuf    [maxPath]byte
	linkTarget [maxPath]byte
)

// followLinks replaces symbolic links in buf[:n] by their targets (at
// most maxSymlinkHops times: ELOOP after that).
func followLinks(buf *[maxPath]byte, n int, followLast bool) int64 {
	for hops := 0; ; {
		spliced := false
		for end := 2; end <= n; end++ {
			if end < n && buf[end] != '/' {
				continue
			}
			if end == n && !followLast {
				break
			}
			target := symlinkTarget(buf[:end])
			if target == nil {
				continue
			}
			if hops++; hops > maxSymlinkHops {
				return -eLOOP
			}
			m := 0
			if target[0] != '/' { // relative to the link's directory
				d := end - 1
				for d > 0 && buf[d] != '/' {
					d--
				}
				m = copy(linkBuf[:], buf[:d])
			}
			var errno int64
			if m, errno = appendClean(&linkBuf, m, target); errno != 0 {
				return errno
			}
			if m, errno = appendClean(&linkBuf, m, buf[end:n]); errno != 0 {
				return errno
			}
			n = copy(buf[:], linkBuf[:m])
			spliced = true
			break
		}
		if !spliced {
			return int64(n)
		}
	}
}

// symlinkTarget returns the target if path names a symbolic link.
func symlinkTarget(path []byte) []byte {
	if rest, ok := tmpPath(path); ok {
		node, _, _, errno := tmpWalk(rest)
		if errno != 0 || node < 0 || tmpNodes[node].mode&abi.ModeType != abi.ModeSymlink {
			return nil
		}
		sz := tmpNodes[node].size
		if sz <= 0 || sz > maxPath {
			return nil
		}
		tmpRead(node, addrOf(&linkTarget[0]), uintptr(sz), 0)
		return linkTarget[:sz]
	}
	i := lookup(path)
	if i < 0 {
		return nil
	}
	r := rootfs()
	if r.Mode(i)&abi.ModeType != abi.ModeSymlink || len(r.Data(i)) == 0 {
		return nil
	}
	return r.Data(i)
}

var pathBuf [maxPath]byte

// lookup finds a path in the root file system: the entry index, or -1.
func lookup(path []byte) int {
	r := rootfs()
	if r == nil {
		return -1
	}
	return r.Lookup(path)
}

// sysOpenatImpl implements openat(2): read-only files and directories of
// the root file system, and the device files.
func sysOpenatImpl(t *thread) int64 {
	return openPath(int64(t.regs.rdi), uintptr(t.regs.rsi), t.regs.rdx, uint32(t.regs.r10))
}

// sysOpenImpl implements open(2).
func sysOpenImpl(t *thread) int64 {
	return openPath(atFDCWD, uintptr(t.regs.rdi), t.regs.rsi, uint32(t.regs.rdx))
}

const atFDCWD = -100

func openPath(dirfd int64, p uintptr, flags uint64, mode uint32) int64 {
	const (
		oAccmode   = 3
		oCreat     = 0x40
		oTrunc     = 0x200
		oDirectory = 0x10000
	)
	const oNofollow = 0x20000
	n := resolveLink(dirfd, p, &pathBuf, flags&oNofollow == 0)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	ce := flags&oCloexec != 0
	if flags&oNofollow != 0 && symlinkTarget(path) != nil {
		return -eLOOP
	}
	if dev := deviceOf(path); dev != 0 {
		if dev >= devEtc && flags&oAccmode != 0 {
			return -eROFS
		}
		return allocFD(fdesc{kind: fdDevice, obj: dev, cloexec: ce}, 0)
	}
	if rest, ok := tmpPath(path); ok {
		return tmpOpen(rest, flags, mode, ce)
	}
	i := lookup(path)
	if i < 0 {
		if string(path) == "/" {
			return allocFD(fdesc{kind: fdDir, obj: -1, cloexec: ce}, 0)
		}
		if flags&oCreat != 0 {
			return -eROFS
		}
		return -eNOENT
	}
	if flags&oAccmode != 0 || flags&(oCreat|oTrunc) == oTrunc {
		return -eROFS
	}
	typ := rootfs().Mode(i) & abi.ModeType
	switch {
	case typ == abi.ModeDir:
		return allocFD(fdesc{kind: fdDir, obj: i, cloexec: ce}, 0)
	case flags&oDirectory != 0:
		return -eNOTDIR
	case typ == abi.ModeSymlink:
		return -eLOOP // a dangling or O_NOFOLLOW link
	}
	return allocFD(fdesc{kind: fdFile, obj: i, cloexec: ce}, 0)
}

// readFile reads from an open root file system file at its offset.
func readFile(d *fdesc, p, n uintptr, off int64, advance bool) int64 {
	data := rootfs().Data(d.obj)
	if off < 0 {
		return -eINVAL
	}
	if off >= int64(len(data)) {
		return 0
	}
	k := copy(mem(p, n), data[off:])
	if advance {
		d.off += int64(k)
	}
	return int64(k)
}

// readDevice reads from /dev/null, /dev/zero or /dev/urandom, or from a
// generated file at off (advancing the descriptor's offset if advance).
func readDevice(d *fdesc, p, n uintptr, off int64, advance bool) int64 {
	switch d.obj {
	case devNull:
		return 0
	case devZero:
		memclr(p, n)
		return int64(n)
	}
	if d.obj >= devEtc {
		f := &etcFiles[d.obj-devEtc]
		if off < 0 {
			return -eINVAL
		}
		if off >= int64(f.size) {
			return 0
		}
		k := copy(mem(p, n), mem(f.data+uintptr(off), f.size-uintptr(off)))
		if advance {
			d.off += int64(k)
		}
		return int64(k)
	}
	for i := uintptr(0); i < n; i += 8 {
		v := randomU64()
		for j := uintptr(0); j < 8 && i+j < n; j++ {
			store8(p+i+j, byte(v>>(8*j)))
		}
	}
	return int64(n)
}

// sysPread64Impl implements pread64(2).
func sysPread64Impl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	return preadFD(d, uintptr(t.regs.rsi), uintptr(t.regs.rdx), int64(t.regs.r10))
}

// preadFD reads into [p, p+n) from d at off, as pread64(2).
func preadFD(d *fdesc, p, n uintptr, off int64) int64 {
	if !userPrepare(p, n, true) {
		return -eFAULT
	}
	switch d.kind {
	case fdFile:
		return readFile(d, p, n, off, false)
	case fdTmpFile:
		if off < 0 {
			return -eINVAL
		}
		return tmpRead(d.obj, p, n, off)
	case fdDevice:
		return readDevice(d, p, n, off, false)
	case fdDir, fdTmpDir:
		return -eISDIR
	}
	return -eSPIPE
}

// sysPwrite64Impl implements pwrite64(2).
func sysPwrite64Impl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	return pwriteFD(d, uintptr(t.regs.rsi), uintptr(t.regs.rdx), int64(t.regs.r10))
}

// pwriteFD writes [p, p+n) to d at off, as pwrite64(2).
func pwriteFD(d *fdesc, p, n uintptr, off int64) int64 {
	if !userPrepare(p, n, false) {
		return -eFAULT
	}
	switch d.kind {
	case fdTmpFile:
		if off < 0 {
			return -eINVAL
		}
		return tmpWrite(d.obj, p, n, off)
	case fdDevice:
		return int64(n)
	case fdFile, fdDir, fdTmpDir:
		return -eBADF
	}
	return -eSPIPE
}

// sysPreadvImpl implements preadv(2) (the offset is pos_l: x86-64 passes
// it whole) iovec by iovec through pread64's path, and sysPwritevImpl
// pwritev(2) through pwrite64's: they stop at a short transfer and return
// the bytes so far if a later iovec fails. Volume files are served by
// the volume service (volume.go); other descriptors have no offset.
func sysPreadvImpl(t *thread) int64 { return prwv(t, false) }

// sysPwritevImpl implements pwritev(2) (see sysPreadvImpl).
func sysPwritevImpl(t *thread) int64 { return prwv(t, true) }

func prwv(t *thread, write bool) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	iov, cnt, off := uintptr(t.regs.rsi), uintptr(t.regs.rdx), int64(t.regs.r10)
	if off < 0 {
		return -eINVAL
	}
	if e := iovArray(iov, cnt); e != 0 {
		return e
	}
	return iovEach(iov, cnt, func(p, n uintptr, moved int64) int64 {
		if write {
			return pwriteFD(d, p, n, off+moved)
		}
		return preadFD(d, p, n, off+moved)
	})
}

// sysLseekImpl implements lseek(2).
func sysLseekImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	off, whence := int64(t.regs.rsi), t.regs.rdx
	switch d.kind {
	case fdFile, fdDir, fdTmpFile, fdTmpDir:
	case fdDevice:
		return 0
	default:
		return -eSPIPE
	}
	var size int64
	switch d.kind {
	case fdFile:
		size = int64(len(rootfs().Data(d.obj)))
	case fdTmpFile:
		size = tmpNodes[d.obj].size
	}
	switch whence {
	case 0: // SEEK_SET
	case 1: // SEEK_CUR
		off += d.off
	case 2: // SEEK_END
		off += size
	default:
		return -eINVAL
	}
	if off < 0 {
		return -eINVAL
	}
	if (d.kind == fdDir || d.kind == fdTmpDir) && off != 0 {
		return -eINVAL
	}
	d.off = off
	return off
}

// statEntry fills a struct stat (asm/stat.h, x86-64: 144 bytes) for a root
// file system entry (i >= 0), the root (i == -1) or a device (dev != 0).
func statEntry(st uintptr, i int, dev int) int64 {
	const statSize = 144
	if !userPrepare(st, statSize, true) {
		return -eFAULT
	}
	memclr(st, statSize)
	var mode uint32
	var size uint64
	ino := uint64(i + 2)
	switch {
	case dev >= devEtc:
		mode = sIFREG | 0o444
		ino = uint64(1000 + dev)
		size = uint64(etcFiles[dev-devEtc].size)
	case dev != 0:
		mode = sIFCHR | 0o666
		ino = uint64(1000 + dev)
	case i < 0:
		mode = abi.ModeDir | 0o755
		ino = 1
	default:
		r := rootfs()
		mode = r.Mode(i)
		size = uint64(len(r.Data(i)))
	}
	store64(st+0, 1)     // st_dev
	store64(st+8, ino)   // st_ino
	store64(st+16, 1)    // st_nlink
	store32(st+24, mode) // st_mode
	store64(st+48, size) // st_size
	store64(st+56, 4096) // st_blksize
	store64(st+64, (size+511)/512)
	// Times: the boot time (the archive has none).
	sec := uint64(wall0 / 1e9)
	store64(st+72, sec)
	store64(st+88, sec)
	store64(st+104, sec)
	return 0
}

// sysNewfstatatImpl implements newfstatat(2).
func sysNewfstatatImpl(t *thread) int64 {
	const atEmptyPath = 0x1000
	if t.regs.r10&atEmptyPath != 0 {
		d := getFD(t.regs.rdi)
		if d == nil {
			return -eBADF
		}
		return statFD(d, uintptr(t.regs.rdx))
	}
	const atSymlinkNofollow = 0x100
	n := resolveLink(int64(t.regs.rdi), uintptr(t.regs.rsi), &pathBuf, t.regs.r10&atSymlinkNofollow == 0)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	if dev := deviceOf(path); dev != 0 {
		return statEntry(uintptr(t.regs.rdx), -1, dev)
	}
	if node, isTmp, errno := tmpFind(path); isTmp {
		if errno != 0 {
			return errno
		}
		return tmpStat(uintptr(t.regs.rdx), node)
	}
	i := lookup(path)
	if i < 0 {
		if string(path) == "/" {
			return statEntry(uintptr(t.regs.rdx), -1, 0)
		}
		return -eNOENT
	}
	return statEntry(uintptr(t.regs.rdx), i, 0)
}

// sysFaccessatImpl implements faccessat(2) and faccessat2(2): everything
// that exists is readable, nothing is writable.
func sysFaccessatImpl(t *thread) int64 {
	const wOK = 2
	n := resolve(int64(t.regs.rdi), uintptr(t.regs.rsi), &pathBuf)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	if _, isTmp, errno := tmpFind(path); isTmp {
		return errno
	}
	if deviceOf(path) == 0 && lookup(path) < 0 && string(path) != "/" {
		return -eNOENT
	}
	if dev := deviceOf(path); t.regs.rdx&wOK != 0 && (dev == 0 || dev >= devEtc) {
		return -eROFS
	}
	return 0
}

// sysReadlinkatImpl implements readlinkat(2) for the archive's and
// /tmp's symbolic links.
func sysReadlinkatImpl(t *thread) int64 {
	return readlinkAt(int64(t.regs.rdi), uintptr(t.regs.rsi), uintptr(t.regs.rdx), uintptr(t.regs.r10))
}

func readlinkAt(dirfd int64, pathp, p, sz uintptr) int64 {
	n := resolveLink(dirfd, pathp, &pathBuf, false)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	target := symlinkTarget(path)
	if target == nil {
		if lookup(path) < 0 && string(path) != "/" {
			if _, isTmp, errno := tmpFind(path); isTmp && errno == 0 {
				return -eINVAL
			}
			return -eNOENT
		}
		return -eINVAL
	}
	if !userPrepare(p, sz, true) {
		return -eFAULT
	}
	return int64(copy(mem(p, sz), target))
}

// sysReadlinkImpl implements readlink(2).
func sysReadlinkImpl(t *thread) int64 {
	return readlinkAt(atFDCWD, uintptr(t.regs.rdi), uintptr(t.regs.rsi), uintptr(t.regs.rdx))
}

// sysGetdents64Impl implements getdents64(2): struct linux_dirent64
// records for the directory's children; d.off counts entries returned.
func sysGetdents64Impl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	if d.kind != fdDir && d.kind != fdTmpDir {
		return -eNOTDIR
	}
	p, n := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if !userPrepare(p, n, true) {
		return -eFAULT
	}
	if d.kind == fdTmpDir {
		return tmpGetdents(d, p, n)
	}
	r := rootfs()
	dir := cwdRoot[:]
	if d.obj >= 0 {
		dir = r.Name(d.obj)
	}
	written := uintptr(0)
	idx := int64(0)
	for i := 0; r != nil && i < r.Len(); i++ {
		if !r.IsChild(i, dir) {
			continue
		}
		if idx < d.off {
			idx++
			continue
		}
		name := r.BaseName(i)
		reclen := (19 + uintptr(len(name)) + 1 + 7) &^ 7
		if written+reclen > n {
			if written == 0 {
				return -eINVAL
			}
			break
		}
		putDirent(p+written, uint64(i+2), idx+1, reclen, r.Mode(i), name)
		written += reclen
		idx++
		d.off = idx
	}
	return int64(written)
}

// sysChdirImpl implements chdir(2).
func sysChdirImpl(t *thread) int64 {
	n := resolve(atFDCWD, uintptr(t.regs.rdi), &pathBuf)
	if n < 0 {
		return n
	}
	return setCwd(pathBuf[:n])
}

// sysFchdirImpl implements fchdir(2) on the root file system's and
// /tmp's directories (a volume's directory is the volume service's:
// volume.go).
func sysFchdirImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	switch {
	case d.kind == fdDir && d.obj >= 0:
		return setCwd(rootfs().Name(d.obj))
	case d.kind == fdDir:
		return setCwd(cwdRoot[:])
	case d.kind == fdTmpDir:
		n := tmpDirPath(d.obj, &pathBuf)
		return setCwd(pathBuf[:n])
	}
	return -eNOTDIR
}

// setCwd makes path (absolute, clean) the working directory if it names
// a directory.
func setCwd(path []byte) int64 {
	isDir := string(path) == "/"
	if node, isTmp, errno := tmpFind(path); isTmp {
		if errno != 0 {
			return errno
		}
		isDir = tmpNodes[node].mode&abi.ModeType == abi.ModeDir
	} else if !isDir {
		i := lookup(path)
		if i < 0 {
			return -eNOENT
		}
		isDir = rootfs().Mode(i)&abi.ModeType == abi.ModeDir
	}
	if !isDir {
		return -eNOTDIR
	}
	if &path[0] != &cwd[0] {
		cwdLen = copy(cwd[:], path)
	}
	return 0
}

// tmpDirPath writes the absolute path of tmpfs directory node into buf.
func tmpDirPath(node int, buf *[maxPath]byte) int {
	// Collect the chain, then write it from the top.
	var chain [64]int
	k := 0
	for a := node; a != tmpRootInode && k < len(chain); a = tmpNodes[a].parent {
		chain[k] = a
		k++
	}
	n := copy(buf[:], "/tmp")
	for k--; k >= 0; k-- {
		t := &tmpNodes[chain[k]]
		if n+1+t.nameLen > maxPath {
			break
		}
		buf[n] = '/'
		n++
		n += copy(buf[n:], t.name[:t.nameLen])
	}
	return n
}

// sysUnlinkImpl implements unlink(2).
func sysUnlinkImpl(t *thread) int64 { return unlinkPath(atFDCWD, uintptr(t.regs.rdi), 0) }

// sysRmdirImpl implements rmdir(2).
func sysRmdirImpl(t *thread) int64 { return unlinkPath(atFDCWD, uintptr(t.regs.rdi), 0x200) }

// sysUnlinkatImpl implements unlinkat(2).
func sysUnlinkatImpl(t *thread) int64 {
	return unlinkPath(int64(t.regs.rdi), uintptr(t.regs.rsi), t.regs.rdx)
}

// sysMkdirImpl implements mkdir(2).
func sysMkdirImpl(t *thread) int64 {
	return mkdirPath(atFDCWD, uintptr(t.regs.rdi), uint32(t.regs.rsi))
}

// sysMkdiratImpl implements mkdirat(2).
func sysMkdiratImpl(t *thread) int64 {
	return mkdirPath(int64(t.regs.rdi), uintptr(t.regs.rsi), uint32(t.regs.rdx))
}

// sysRenameImpl implements rename(2).
func sysRenameImpl(t *thread) int64 {
	return renamePath(atFDCWD, uintptr(t.regs.rdi), atFDCWD, uintptr(t.regs.rsi))
}

// sysRenameatImpl implements renameat(2) and renameat2(2) without flags.
func sysRenameatImpl(t *thread) int64 {
	if t.regs.rax == sysRenameat2 && t.regs.r8 != 0 {
		return -eINVAL
	}
	return renamePath(int64(t.regs.rdi), uintptr(t.regs.rsi), int64(t.regs.rdx), uintptr(t.regs.r10))
}

// sysFtruncateImpl implements ftruncate(2).
func sysFtruncateImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	if d.kind != fdTmpFile {
		return -eINVAL
	}
	return tmpTruncate(d.obj, int64(t.regs.rsi))
}

// sysTruncateImpl implements truncate(2).
func sysTruncateImpl(t *thread) int64 {
	node, errno := tmpResolve(atFDCWD, uintptr(t.regs.rdi))
	if errno != 0 {
		return errno
	}
	if tmpNodes[node].mode&abi.ModeType == abi.ModeDir {
		return -eISDIR
	}
	return tmpTruncate(node, int64(t.regs.rsi))
}

// sysFsyncImpl implements fsync(2) and fdatasync(2): memory is the
// storage of the root file system and /tmp.
func sysFsyncImpl(t *thread) int64 {
	if getFD(t.regs.rdi) == nil {
		return -eBADF
	}
	return 0
}

// putDirent writes one struct linux_dirent64 (d_ino, d_off, d_reclen,
// d_type, NUL-terminated name, zero padding) at e.
func putDirent(e uintptr, ino uint64, off int64, reclen uintptr, mode uint32, name []byte) {
	store64(e, ino)
	store64(e+8, uint64(off))
	store16(e+16, uint16(reclen))
	typ := uint8(8) // DT_REG
	switch mode & abi.ModeType {
	case abi.ModeDir:
		typ = 4
	case abi.ModeSymlink:
		typ = 10
	}
	store8(e+18, typ)
	copy(mem(e+19, reclen-19), name)
	for k := e + 19 + uintptr(len(name)); k < e+reclen; k++ {
		store8(k, 0)
	}
}
