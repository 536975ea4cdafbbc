package kernel

import "brique.dev/brique/abi"

// tmpfs: a writable in-memory file system mounted at /tmp. Nodes live in
// a static table; a file's data is in 4 KiB frames listed in one index
// frame (so a file holds at most 512 pages, 2 MiB). Frames come from the
// guest's frame allocator and go back to it on truncate and on the last
// close of an unlinked file. Restricted context like the rest of the
// kernel: no allocation, nodes named by index.

const (
	maxTmpNodes  = 1024
	tmpNameMax   = 127
	tmpMaxPages  = abi.PageSize / 8
	tmpMaxSize   = tmpMaxPages * abi.PageSize
	tmpRootInode = 0 // node 0 is /tmp itself
)

type tmpNode struct {
	used    bool
	linked  bool // still has a name (unlinked files live until closed)
	parent  int
	mode    uint32
	nameLen int
	name    [tmpNameMax]byte
	size    int64
	index   uintptr // frame of page addresses, 0 = no data
	opens   int
	mtime   int64
}

var tmpNodes [maxTmpNodes]tmpNode

func tmpInit() {
	tmpNodes[0] = tmpNode{used: true, linked: true, parent: 0, mode: abi.ModeDir | 0o1777, mtime: walltime()}
}

// tmpPath reports whether path is /tmp or below, and returns the rest
// after "/tmp" ("" or "/a/b").
func tmpPath(path []byte) ([]byte, bool) {
	if len(path) < 4 || string(path[:4]) != "/tmp" {
		return nil, false
	}
	if len(path) > 4 && path[4] != '/' {
		return nil, false
	}
	return path[4:], true
}

// tmpWalk resolves rest (from tmpPath) to a node. If the last component
// is missing it returns -1 with the parent node and the last component.
func tmpWalk(rest []byte) (node, parent int, last []byte, errno int64) {
	cur := tmpRootInode
	i := 0
	for {
		for i < len(rest) && rest[i] == '/' {
			i++
		}
		if i >= len(rest) {
			return cur, tmpNodes[cur].parent, nil, 0
		}
		j := i
		for j < len(rest) && rest[j] != '/' {
			j++
		}
		comp := rest[i:j]
		if len(comp) > tmpNameMax {
			return -1, -1, nil, -eRANGE
		}
		if tmpNodes[cur].mode&abi.ModeType != abi.ModeDir {
			return -1, -1, nil, -eNOTDIR
		}
		next := tmpChild(cur, comp)
		if next < 0 {
			for k := j; k < len(rest); k++ {
				if rest[k] != '/' {
					return -1, -1, nil, -eNOENT // a middle component is missing
				}
			}
			return -1, cur, comp, 0
		}
		cur = next
		i = j
	}
}

func tmpChild(dir int, name []byte) int {
	for k := 1; k < maxTmpNodes; k++ {
		n := &tmpNodes[k]
		if n.used && n.linked && n.parent == dir && string(n.name[:n.nameLen]) == string(name) {
			return k
		}
	}
	return -1
}

func tmpCreate(parent int, name []byte, mode uint32) int {
	for k := 1; k < maxTmpNodes; k++ {
		n := &tmpNodes[k]
		if !n.used {
			*n = tmpNode{used: true, linked: true, parent: parent, mode: mode, mtime: walltime()}
			n.nameLen = copy(n.name[:], name)
			return k
		}
	}
	return -1
}

// tmpOpen opens (and maybe creates or truncates) a /tmp path.
func tmpOpen(rest []byte, flags uint64, mode uint32, ce bool) int64 {
	const (
		oCreat     = 0x40
		oExcl      = 0x80
		oTrunc     = 0x200
		oAppend    = 0x400
		oDirectory = 0x10000
		oAccmode   = 3
	)
	node, parent, last, errno := tmpWalk(rest)
	if errno != 0 {
		return errno
	}
	if node < 0 {
		if flags&oCreat == 0 {
			return -eNOENT
		}
		node = tmpCreate(parent, last, abi.ModeRegular|(mode&0o7777))
		if node < 0 {
			return -eNOSPC
		}
	} else if flags&(oCreat|oExcl) == oCreat|oExcl {
		return -eEXIST
	}
	n := &tmpNodes[node]
	if n.mode&abi.ModeType == abi.ModeDir {
		if flags&oAccmode != 0 {
			return -eISDIR
		}
		return allocFD(fdesc{kind: fdTmpDir, obj: node, cloexec: ce}, 0)
	}
	if flags&oDirectory != 0 {
		return -eNOTDIR
	}
	if flags&oTrunc != 0 && flags&oAccmode != 0 {
		tmpTruncate(node, 0)
	}
	fd := allocFD(fdesc{kind: fdTmpFile, obj: node, cloexec: ce, appendMode: flags&oAppend != 0}, 0)
	if fd >= 0 {
		n.opens++
	}
	return fd
}

// tmpPage returns the frame holding page pg of node, allocating it (and
// the index) when alloc is set; 0 if absent or out of memory.
func tmpPage(node int, pg int64, alloc bool) uintptr {
	n := &tmpNodes[node]
	if pg >= tmpMaxPages {
		return 0
	}
	if n.index == 0 {
		if !alloc {
			return 0
		}
		if n.index = allocFrame(); n.index == 0 {
			return 0
		}
	}
	slot := n.index + uintptr(pg)*8
	f := uintptr(load64(slot))
	if f == 0 && alloc {
		if f = allocFrame(); f != 0 {
			store64(slot, uint64(f))
		}
	}
	return f
}

func tmpRead(node int, p, n uintptr, off int64) int64 {
	t := &tmpNodes[node]
	if off >= t.size {
		return 0
	}
	if int64(n) > t.size-off {
		n = uintptr(t.size - off)
	}
	done := uintptr(0)
	for done < n {
		pg, po := (off+int64(done))/abi.PageSize, uintptr((off+int64(done))%abi.PageSize)
		k := abi.PageSize - po
		if k > n-done {
			k = n - done
		}
		if f := tmpPage(node, pg, false); f != 0 {
			copyMem(p+done, f+po, k)
		} else {
			memclr(p+done, k) // a hole
		}
		done += k
	}
	return int64(n)
}

func tmpWrite(node int, p, n uintptr, off int64) int64 {
	if off+int64(n) > tmpMaxSize {
		if off >= tmpMaxSize {
			return -eFBIG
		}
		n = uintptr(tmpMaxSize - off)
	}
	done := uintptr(0)
	for done < n {
		pg, po := (off+int64(done))/abi.PageSize, uintptr((off+int64(done))%abi.PageSize)
		k := abi.PageSize - po
		if k > n-done {
			k = n - done
		}
		f := tmpPage(node, pg, true)
		if f == 0 {
			if done == 0 {
				return -eNOSPC
			}
			break
		}
		copyMem(f+po, p+done, k)
		done += k
	}
	t := &tmpNodes[node]
	if off+int64(done) > t.size {
		t.size = off + int64(done)
	}
	t.mtime = walltime()
	return int64(done)
}

// tmpTruncate sets the size, freeing whole pages past it.
func tmpTruncate(node int, size int64) int64 {
	if size < 0 {
		return -eINVAL
	}
	if size > tmpMaxSize {
		return -eFBIG
	}
	t := &tmpNodes[node]
	if t.index != 0 {
		first := (size + abi.PageSize - 1) / abi.PageSize
		for pg := first; pg < tmpMaxPages; pg++ {
			slot := t.index + uintptr(pg)*8
			if f := uintptr(load64(slot)); f != 0 {
				freeFrame(f)
				store64(slot, 0)
			}
		}
		// Zero the tail of the last partial page.
		if size%abi.PageSize != 0 {
			if f := tmpPage(node, size/abi.PageSize, false); f != 0 {
				po := uintptr(size % abi.PageSize)
				memclr(f+po, abi.PageSize-po)
			}
		}
		if size == 0 {
			freeFrame(t.index)
			t.index = 0
		}
	}
	t.size = size
	t.mtime = walltime()
	return 0
}

// tmpRelease frees an unlinked node once nothing has it open.
func tmpRelease(node int) {
	t := &tmpNodes[node]
	if t.linked || t.opens > 0 {
		return
	}
	tmpTruncate(node, 0)
	*t = tmpNode{}
}

func tmpStat(st uintptr, node int) int64 {
	const statSize = 144
	if !userPrepare(st, statSize, true) {
		return -eFAULT
	}
	t := &tmpNodes[node]
	memclr(st, statSize)
	store64(st+0, 2)
	store64(st+8, uint64(100000+node))
	store64(st+16, 1)
	store32(st+24, t.mode)
	store64(st+48, uint64(t.size))
	store64(st+56, abi.PageSize)
	store64(st+64, uint64(t.size+511)/512)
	for _, o := range [...]uintptr{72, 88, 104} {
		store64(st+o, uint64(t.mtime/1e9))
		store64(st+o+8, uint64(t.mtime%1e9))
	}
	return 0
}

// tmpGetdents lists a tmpfs directory (same record format as
// sysGetdents64Impl).
func tmpGetdents(d *fdesc, p, n uintptr) int64 {
	written := uintptr(0)
	idx := int64(0)
	for k := 1; k < maxTmpNodes; k++ {
		c := &tmpNodes[k]
		if !c.used || !c.linked || c.parent != d.obj {
			continue
		}
		if idx < d.off {
			idx++
			continue
		}
		name := c.name[:c.nameLen]
		reclen := (19 + uintptr(len(name)) + 1 + 7) &^ 7
		if written+reclen > n {
			if written == 0 {
				return -eINVAL
			}
			break
		}
		putDirent(p+written, uint64(100000+k), idx+1, reclen, c.mode, name)
		written += reclen
		idx++
		d.off = idx
	}
	return int64(written)
}

// Path-based operations (unlink, mkdir, rename) on /tmp; anything else
// is on the read-only root file system (EROFS) or does not exist.

// pathOp resolves a path whose last component names the object itself
// (unlink, rename, mkdir, symlink): a symbolic link there is not followed.
func pathOp(dirfd int64, p uintptr, buf *[maxPath]byte) ([]byte, int64) {
	n := resolveLink(dirfd, p, buf, false)
	if n < 0 {
		return nil, n
	}
	return buf[:n], 0
}

func notTmp(path []byte) int64 {
	if lookup(path) >= 0 || string(path) == "/" || deviceOf(path) != 0 {
		return -eROFS
	}
	return -eNOENT
}

var pathBuf2 [maxPath]byte

// tmpFind looks up a resolved path in /tmp: isTmp reports whether the
// path is under /tmp at all, and then node is the node or errno says why
// not (ENOENT, ENOTDIR, ...).
func tmpFind(path []byte) (node int, isTmp bool, errno int64) {
	rest, ok := tmpPath(path)
	if !ok {
		return -1, false, 0
	}
	node, _, _, errno = tmpWalk(rest)
	if errno == 0 && node < 0 {
		errno = -eNOENT
	}
	return node, true, errno
}

// tmpResolve finds the existing tmpfs node a path names (EROFS or ENOENT
// for paths outside /tmp).
func tmpResolve(dirfd int64, p uintptr) (int, int64) {
	path, errno := pathOp(dirfd, p, &pathBuf)
	if errno != 0 {
		return -1, errno
	}
	node, isTmp, errno := tmpFind(path)
	if !isTmp {
		return -1, notTmp(path)
	}
	return node, errno
}

func unlinkPath(dirfd int64, p uintptr, flags uint64) int64 {
	const atRemovedir = 0x200
	node, errno := tmpResolve(dirfd, p)
	if errno != 0 {
		return errno
	}
	if node == tmpRootInode {
		return -eBUSY
	}
	t := &tmpNodes[node]
	isDir := t.mode&abi.ModeType == abi.ModeDir
	switch {
	case flags&atRemovedir != 0 && !isDir:
		return -eNOTDIR
	case flags&atRemovedir == 0 && isDir:
		return -eISDIR
	case isDir:
		for k := 1; k < maxTmpNodes; k++ {
			if tmpNodes[k].used && tmpNodes[k].linked && tmpNodes[k].parent == node {
				return -eNOTEMPTY
			}
		}
	}
	t.linked = false
	tmpRelease(node)
	return 0
}

// tmpNewPath resolves the path of an object to create in /tmp: its
// parent directory and name, EEXIST if it exists, EROFS outside /tmp.
func tmpNewPath(dirfd int64, p uintptr) (parent int, last []byte, errno int64) {
	path, errno := pathOp(dirfd, p, &pathBuf)
	if errno != 0 {
		return -1, nil, errno
	}
	rest, ok := tmpPath(path)
	if !ok {
		if lookup(path) >= 0 || string(path) == "/" {
			return -1, nil, -eEXIST
		}
		return -1, nil, -eROFS
	}
	node, parent, last, errno := tmpWalk(rest)
	if errno != 0 {
		return -1, nil, errno
	}
	if node >= 0 {
		return -1, nil, -eEXIST
	}
	return parent, last, 0
}

func mkdirPath(dirfd int64, p uintptr, mode uint32) int64 {
	parent, last, errno := tmpNewPath(dirfd, p)
	if errno != 0 {
		return errno
	}
	if tmpCreate(parent, last, abi.ModeDir|(mode&0o7777)) < 0 {
		return -eNOSPC
	}
	return 0
}

func renamePath(olddir int64, op uintptr, newdir int64, np uintptr) int64 {
	oldPath, errno := pathOp(olddir, op, &pathBuf)
	if errno != 0 {
		return errno
	}
	newPath, errno := pathOp(newdir, np, &pathBuf2)
	if errno != 0 {
		return errno
	}
	orest, ok1 := tmpPath(oldPath)
	nrest, ok2 := tmpPath(newPath)
	if !ok1 {
		return notTmp(oldPath)
	}
	if !ok2 {
		return -eXDEV
	}
	src, _, _, errno := tmpWalk(orest)
	if errno != 0 {
		return errno
	}
	if src <= tmpRootInode {
		return -eNOENT
	}
	dst, parent, last, errno := tmpWalk(nrest)
	if errno != 0 {
		return errno
	}
	// A directory cannot move below itself.
	for a := parent; a != tmpRootInode && a >= 0; a = tmpNodes[a].parent {
		if a == src {
			return -eINVAL
		}
	}
	if dst >= 0 {
		if dst == src {
			return 0
		}
		if tmpNodes[dst].mode&abi.ModeType == abi.ModeDir {
			return -eISDIR
		}
		parent = tmpNodes[dst].parent
		last = tmpNodes[dst].name[:tmpNodes[dst].nameLen]
		var keep [tmpNameMax]byte
		k := copy(keep[:], last)
		tmpNodes[dst].linked = false
		tmpRelease(dst)
		last = keep[:k]
		s := &tmpNodes[src]
		s.parent = parent
		s.nameLen = copy(s.name[:], last)
		return 0
	}
	s := &tmpNodes[src]
	s.parent = parent
	s.nameLen = copy(s.name[:], last)
	return 0
}

// chmodPath changes the permission bits of a /tmp node; the root file
// system is read-only.
func chmodPath(dirfd int64, p uintptr, mode uint32) int64 {
	node, errno := tmpResolve(dirfd, p)
	if errno != 0 {
		return errno
	}
	t := &tmpNodes[node]
	t.mode = t.mode&abi.ModeType | mode&0o7777
	return 0
}

// sysChmodImpl implements chmod(2).
func sysChmodImpl(t *thread) int64 {
	return chmodPath(atFDCWD, uintptr(t.regs.rdi), uint32(t.regs.rsi))
}

// sysFchmodatImpl implements fchmodat(2) and fchmodat2(2).
func sysFchmodatImpl(t *thread) int64 {
	return chmodPath(int64(t.regs.rdi), uintptr(t.regs.rsi), uint32(t.regs.rdx))
}

// sysFchmodImpl implements fchmod(2).
func sysFchmodImpl(t *thread) int64 {
	d := getFD(t.regs.rdi)
	if d == nil {
		return -eBADF
	}
	switch d.kind {
	case fdTmpFile, fdTmpDir:
		n := &tmpNodes[d.obj]
		n.mode = n.mode&abi.ModeType | uint32(t.regs.rsi)&0o7777
		return 0
	case fdFile, fdDir:
		return -eROFS
	}
	return -eINVAL
}

// sysUtimensatImpl implements utimensat(2) (and futimens, with a nil
// path): the modification time of /tmp nodes (atime is not kept).
func sysUtimensatImpl(t *thread) int64 {
	const utimeNow, utimeOmit = (1 << 30) - 1, (1 << 30) - 2
	node := -1
	if t.regs.rsi == 0 {
		d := getFD(t.regs.rdi)
		if d == nil {
			return -eBADF
		}
		if d.kind != fdTmpFile && d.kind != fdTmpDir {
			return -eROFS
		}
		node = d.obj
	} else {
		var errno int64
		if node, errno = tmpResolve(int64(t.regs.rdi), uintptr(t.regs.rsi)); errno != 0 {
			return errno
		}
	}
	mt := walltime()
	if ts := uintptr(t.regs.rdx); ts != 0 {
		if !userPrepare(ts, 32, false) {
			return -eFAULT
		}
		sec, nsec := int64(load64(ts+16)), int64(load64(ts+24))
		switch nsec {
		case utimeOmit:
			return 0
		case utimeNow:
		default:
			if nsec < 0 || nsec >= 1e9 {
				return -eINVAL
			}
			mt = sec*1e9 + nsec
		}
	}
	tmpNodes[node].mtime = mt
	return 0
}

// symlinkPath creates a symbolic link in /tmp.
func symlinkPath(target uintptr, dirfd int64, p uintptr) int64 {
	if !userPrepare(target, 1, false) {
		return -eFAULT
	}
	tgt := cstring(target, maxPath)
	if len(tgt) == 0 {
		return -eNOENT
	}
	if len(tgt) >= maxPath {
		return -eNAMETOOLONG
	}
	parent, last, errno := tmpNewPath(dirfd, p)
	if errno != 0 {
		return errno
	}
	node := tmpCreate(parent, last, abi.ModeSymlink|0o777)
	if node < 0 {
		return -eNOSPC
	}
	if r := tmpWrite(node, addrOf(&tgt[0]), uintptr(len(tgt)), 0); r != int64(len(tgt)) {
		tmpNodes[node].linked = false
		tmpRelease(node)
		return -eNOSPC
	}
	return 0
}

// sysSymlinkImpl implements symlink(2).
func sysSymlinkImpl(t *thread) int64 {
	return symlinkPath(uintptr(t.regs.rdi), atFDCWD, uintptr(t.regs.rsi))
}

// sysSymlinkatImpl implements symlinkat(2).
func sysSymlinkatImpl(t *thread) int64 {
	return symlinkPath(uintptr(t.regs.rdi), int64(t.regs.rsi), uintptr(t.regs.rdx))
}
