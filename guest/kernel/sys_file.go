package kernel

import (
	"unsafe"

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
)

// SetRootFS installs the embedded root file system; the generated package
// brique.dev/brique/guest/rootfs calls it from its init function. archive
// must stay alive for the life of the program (it is read-only image data).
func SetRootFS(archive string) bool {
	if !abi.RootFS(archive).Valid() {
		return false
	}
	rootfsAddr = uintptr(unsafe.Pointer(unsafe.StringData(archive)))
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
	return 0
}

const maxPath = 4096

// resolve turns a user path (relative to dirfd, which must be AT_FDCWD or
// a directory) into a clean absolute path in buf; it returns the length or
// a negated errno. Symbolic links in the archive are not followed
// (documented limitation).
func resolve(dirfd int64, p uintptr, buf *[maxPath]byte) int64 {
	const atFDCWD = -100
	n := 0
	if !userPrepare(p, 1, false) {
		return -eFAULT
	}
	path := cstring(p, maxPath)
	if len(path) == 0 {
		return -eNOENT
	}
	if path[0] != '/' {
		base := cwdRoot[:]
		if dirfd != atFDCWD {
			d := getFD(uint64(dirfd))
			if d == nil {
				return -eBADF
			}
			if d.kind != fdDir {
				return -eNOTDIR
			}
			base = rootfs().Name(d.obj)
		}
		n = copy(buf[:], base)
	}
	// Append the components, handling "." and "..".
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
					return -eRANGE
				}
				buf[n] = '/'
				n++
			}
			if n+len(comp) > maxPath {
				return -eRANGE
			}
			n += copy(buf[n:], comp)
		}
	}
	if n == 0 {
		buf[0] = '/'
		n = 1
	}
	return int64(n)
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
	return openPath(int64(t.regs.rdi), uintptr(t.regs.rsi), t.regs.rdx)
}

func openPath(dirfd int64, p uintptr, flags uint64) int64 {
	const (
		oAccmode   = 3
		oCreat     = 0x40
		oTrunc     = 0x200
		oDirectory = 0x10000
	)
	n := resolve(dirfd, p, &pathBuf)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	ce := flags&oCloexec != 0
	if dev := deviceOf(path); dev != 0 {
		return allocFD(fdesc{kind: fdDevice, obj: dev, cloexec: ce}, 0)
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
	mode := rootfs().Mode(i) & abi.ModeType
	switch {
	case mode == abi.ModeDir:
		return allocFD(fdesc{kind: fdDir, obj: i, cloexec: ce}, 0)
	case flags&oDirectory != 0:
		return -eNOTDIR
	case mode == abi.ModeSymlink:
		return -eNOENT // symbolic links are not followed
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

// readDevice reads from /dev/null, /dev/zero or /dev/urandom.
func readDevice(d *fdesc, p, n uintptr) int64 {
	switch d.obj {
	case devNull:
		return 0
	case devZero:
		memclr(p, n)
		return int64(n)
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
	p, n := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if !userPrepare(p, n, true) {
		return -eFAULT
	}
	switch d.kind {
	case fdFile:
		return readFile(d, p, n, int64(t.regs.r10), false)
	case fdDevice:
		return readDevice(d, p, n)
	case fdDir:
		return -eISDIR
	}
	return -eSPIPE
}

// sysLseekImpl implements lseek(2).
func sysLseekImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	off, whence := int64(t.regs.rsi), t.regs.rdx
	switch d.kind {
	case fdFile, fdDir:
	case fdDevice:
		return 0
	default:
		return -eSPIPE
	}
	var size int64
	if d.kind == fdFile {
		size = int64(len(rootfs().Data(d.obj)))
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
	if d.kind == fdDir && off != 0 {
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
	n := resolve(int64(t.regs.rdi), uintptr(t.regs.rsi), &pathBuf)
	if n < 0 {
		return n
	}
	path := pathBuf[:n]
	if dev := deviceOf(path); dev != 0 {
		return statEntry(uintptr(t.regs.rdx), -1, dev)
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
	if deviceOf(path) == 0 && lookup(path) < 0 && string(path) != "/" {
		return -eNOENT
	}
	if t.regs.rdx&wOK != 0 && deviceOf(path) == 0 {
		return -eROFS
	}
	return 0
}

// sysReadlinkatImpl implements readlinkat(2) for the archive's symbolic
// links.
func sysReadlinkatImpl(t *thread) int64 {
	n := resolve(int64(t.regs.rdi), uintptr(t.regs.rsi), &pathBuf)
	if n < 0 {
		return n
	}
	i := lookup(pathBuf[:n])
	if i < 0 {
		return -eNOENT
	}
	r := rootfs()
	if r.Mode(i)&abi.ModeType != abi.ModeSymlink {
		return -eINVAL
	}
	p, sz := uintptr(t.regs.rdx), uintptr(t.regs.r10)
	if !userPrepare(p, sz, true) {
		return -eFAULT
	}
	return int64(copy(mem(p, sz), r.Data(i)))
}

// sysGetdents64Impl implements getdents64(2): struct linux_dirent64
// records for the directory's children; d.off counts entries returned.
func sysGetdents64Impl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	if d.kind != fdDir {
		return -eNOTDIR
	}
	p, n := uintptr(t.regs.rsi), uintptr(t.regs.rdx)
	if !userPrepare(p, n, true) {
		return -eFAULT
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
		e := p + written
		store64(e, uint64(i+2))       // d_ino
		store64(e+8, uint64(idx+1))   // d_off
		store16(e+16, uint16(reclen)) // d_reclen
		typ := uint8(8)               // DT_REG
		switch r.Mode(i) & abi.ModeType {
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
		written += reclen
		idx++
		d.off = idx
	}
	return int64(written)
}

// sysChdirImpl implements chdir(2): only "/" (the program runs there).
func sysChdirImpl(t *thread) int64 {
	n := resolve(-100, uintptr(t.regs.rdi), &pathBuf)
	if n < 0 {
		return n
	}
	if string(pathBuf[:n]) != "/" {
		if i := lookup(pathBuf[:n]); i >= 0 && rootfs().Mode(i)&abi.ModeType == abi.ModeDir {
			return -eNOTSUP
		}
		return -eNOENT
	}
	return 0
}
