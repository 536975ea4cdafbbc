package vol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/hugelgupf/p9/p9"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/svc"
)

// server performs the file system calls the kernel forwards to the volume
// service. Its methods run on the service thread only.
type server struct {
	vols  []*volume
	objs  [kernel.MaxSvcObjects]*object
	mem   func(addr, n uint64) []byte   // the program's memory
	alloc func() (int64, syscall.Errno) // a new object number
}

// object is what a descriptor opened on a volume refers to: one fid,
// opened (Tlopen, Tlcreate) unless O_PATH.
type object struct {
	vol    *volume
	file   p9.File
	path   []string // real names from the volume's root
	dir    bool
	flags  uint64 // open(2) flags: access mode, O_APPEND, O_PATH
	off    int64  // the file offset, shared by dup'ed descriptors
	dirOff uint64 // the next directory entry (a 9P readdir offset)
}

func (o *object) readable() bool {
	return o.flags&oPath == 0 && o.flags&oAccMode != oWronly
}

func (o *object) writable() bool {
	return o.flags&oPath == 0 && o.flags&oAccMode != oRdonly
}

// request is a forwarded call (kernel.SvcRequest, paths as strings).
type request struct {
	nr     uint64
	args   [6]uint64
	obj    int64 // the object of a call on a descriptor, or -1
	vol    int64 // the volume of a path call
	dirObj [2]int64
	path   [2]string
}

func newServer(mem func(addr, n uint64) []byte, alloc func() (int64, syscall.Errno)) *server {
	return &server{mem: mem, alloc: alloc}
}

// serve runs the service loop on a thread of its own. Like the network's
// (guest/net/server.go), it waits in a raw system call, keeping its P, so
// that a request is served as soon as the kernel switches to it; the
// kernel interrupts the wait for Go's preemption signal and the loop then
// yields.
func (s *server) serve() {
	runtime.LockOSThread()
	req := new(kernel.SvcRequest)
	var handle uint64
	var result int64
	for {
		e := svc.Wait(kernel.SvcVolume, req, handle, result, 0, 0)
		handle, result = 0, 0
		if e != 0 {
			runtime.Gosched()
			continue
		}
		handle = req.Handle
		r := request{nr: req.NR, args: req.Args, obj: req.Obj, vol: req.Vol, dirObj: req.DirObj}
		result = 0
		if r.obj < 0 {
			for i := range r.path {
				n := req.PathLen[i]
				if n > uint64(len(req.Path[i])) {
					// (The kernel never sends one: not the root.)
					result = errno(syscall.ENAMETOOLONG)
					break
				}
				r.path[i] = string(req.Path[i][:n])
			}
		}
		if result == 0 {
			result = s.safeDo(&r)
		}
	}
}

// safeDo is do, with a bug in the service answered EIO rather than ending
// the program.
func (s *server) safeDo(r *request) (ret int64) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "brique: volume service: call %d: %v\n", r.nr, p)
			ret = errno(syscall.EIO)
		}
	}()
	return s.do(r)
}

// do performs one call and returns its result (-errno on failure).
func (s *server) do(r *request) int64 {
	if r.obj >= 0 {
		if r.obj >= int64(len(s.objs)) || s.objs[r.obj] == nil {
			return errno(syscall.EBADF)
		}
		return s.objCall(s.objs[r.obj], r)
	}
	if r.vol < 0 || r.vol >= int64(len(s.vols)) {
		return errno(syscall.ENODEV)
	}
	return s.pathCall(r)
}

// base is where path i of r starts: its volume and directory.
func (s *server) base(r *request, i int) (*volume, []string, syscall.Errno) {
	if d := r.dirObj[i]; d >= 0 {
		if d >= int64(len(s.objs)) || s.objs[d] == nil {
			return nil, nil, syscall.EBADF
		}
		o := s.objs[d]
		if !o.dir {
			return nil, nil, syscall.ENOTDIR
		}
		if r.path[i] == "" {
			return nil, nil, syscall.ENOENT
		}
		return o.vol, o.path, 0
	}
	v := s.vols[r.vol]
	if v.err != nil {
		return nil, nil, syscall.EIO
	}
	return v, nil, 0
}

// find resolves path i of r (see lookup).
func (s *server) find(r *request, i int, follow bool) (*node, string, syscall.Errno) {
	v, dir, e := s.base(r, i)
	if e != 0 {
		return nil, "", e
	}
	return s.lookup(v, dir, r.path[i], follow)
}

// findParent resolves the directory of path i of r (see lookupParent).
func (s *server) findParent(r *request, i int) (*node, string, syscall.Errno) {
	v, dir, e := s.base(r, i)
	if e != 0 {
		return nil, "", e
	}
	return s.lookupParent(v, dir, r.path[i])
}

// pathCall performs a call on a path (normalized to its *at form).
func (s *server) pathCall(r *request) int64 {
	a := &r.args
	switch r.nr {
	case sysOpenat:
		return s.openat(r, a[2], uint32(a[3]))
	case sysNewfstatat:
		n, _, e := s.find(r, 0, a[3]&atSymlinkNofollow == 0)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		statBuf(s.mem(a[2], statSize)).fill(n.vol.dev, n.qid, &n.attr)
		return 0
	case sysMkdirat:
		return s.mkdirat(r, uint32(a[2]))
	case sysUnlinkat:
		return s.unlinkat(r, a[2])
	case sysRenameat2:
		return s.renameat2(r, a[4])
	case sysLinkat:
		return s.linkat(r, a[4])
	case sysSymlinkat:
		return s.symlinkat(r, a[0])
	case sysReadlinkat:
		n, _, e := s.find(r, 0, false)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		if !n.isSymlink() {
			return errno(syscall.EINVAL)
		}
		if int64(a[3]) <= 0 {
			return errno(syscall.EINVAL)
		}
		target, err := n.file.Readlink()
		if err != nil {
			return errno(toErrno(err))
		}
		return int64(copy(s.mem(a[2], a[3]), target))
	case sysFchmodat:
		n, _, e := s.find(r, 0, true)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		return setattr(n.file, p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: p9.FileMode(a[2] & 0o7777)})
	case sysFaccessat:
		return s.faccessat(r, a[2])
	case sysUtimensat:
		n, _, e := s.find(r, 0, a[3]&atSymlinkNofollow == 0)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		return s.utimens(n.file, a[2])
	case sysTruncate:
		if int64(a[1]) < 0 {
			return errno(syscall.EINVAL)
		}
		n, _, e := s.find(r, 0, true)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		if n.isDir() {
			return errno(syscall.EISDIR)
		}
		return setattr(n.file, p9.SetAttrMask{Size: true}, p9.SetAttr{Size: a[1]})
	case sysStatfs:
		n, _, e := s.find(r, 0, true)
		if e != 0 {
			return errno(e)
		}
		defer n.close()
		return s.statfs(n.vol, n.file, a[1])
	}
	return errno(syscall.ENOSYS)
}

// openat implements openat(2): it returns a new object number.
func (s *server) openat(r *request, flags uint64, mode uint32) int64 {
	return s.open(r, flags, mode, false)
}

// open is openat; retried says that the file was found missing, then
// existing when created (by the host meanwhile): then it is opened.
func (s *server) open(r *request, flags uint64, mode uint32, retried bool) int64 {
	acc := flags & oAccMode
	if acc == 3 {
		return errno(syscall.EINVAL)
	}
	create, excl := flags&oCreat != 0, flags&(oCreat|oExcl) == oCreat|oExcl
	n, missing, e := s.find(r, 0, flags&oNofollow == 0 && !excl)
	var f p9.File
	var path []string
	var dir bool
	switch {
	case e == syscall.ENOENT && missing != "" && create:
		if strings.HasSuffix(r.path[0], "/") || flags&oDirectory != 0 {
			return errno(syscall.EISDIR)
		}
		_, pf, _, err := n.vol.walk(n.path)
		if err != nil {
			return errno(toErrno(err))
		}
		// Tlcreate turns the directory's fid into the new file's.
		of := p9.OpenFlags(acc)
		if _, _, _, err := pf.Create(missing, of, p9.FileMode(mode&0o7777), p9.NoUID, p9.NoGID); err != nil {
			pf.Close()
			if e := toErrno(err); e != syscall.EEXIST || excl || retried {
				return errno(e)
			}
			return s.open(r, flags, mode, true)
		}
		f, path = pf, append(n.path[:len(n.path):len(n.path)], missing)
	case e != 0:
		return errno(e)
	default:
		switch {
		case excl:
			e = syscall.EEXIST
		case n.isSymlink() && flags&oPath == 0:
			e = syscall.ELOOP // O_NOFOLLOW
		case flags&oDirectory != 0 && !n.isDir():
			e = syscall.ENOTDIR
		case n.isDir() && acc != oRdonly:
			e = syscall.EISDIR
		}
		if e != 0 {
			n.close()
			return errno(e)
		}
		if flags&oPath == 0 {
			of := p9.OpenFlags(acc)
			if !n.isDir() && flags&oTrunc != 0 {
				of |= p9.OpenFlags(oTrunc) // brique-9pd's localfs truncates
			}
			if _, _, err := n.file.Open(of); err != nil {
				n.close()
				return errno(toErrno(err))
			}
		}
		f, path, dir = n.file, n.path, n.isDir()
	}
	id, err := s.alloc()
	if err != 0 {
		f.Close()
		return errno(err)
	}
	if id < 0 || id >= int64(len(s.objs)) {
		f.Close()
		return errno(syscall.ENFILE)
	}
	s.objs[id] = &object{vol: n.vol, file: f, path: path, dir: dir, flags: flags}
	return id
}

// mkdirat implements mkdirat(2).
func (s *server) mkdirat(r *request, mode uint32) int64 {
	p, name, e := s.findParent(r, 0)
	if e != 0 {
		return errno(e)
	}
	defer p.close()
	if name == "" || name == "." || name == ".." {
		return errno(syscall.EEXIST)
	}
	_, err := p.file.Mkdir(name, p9.FileMode(mode&0o7777), p9.NoUID, p9.NoGID)
	return errno(toErrno(err))
}

// unlinkat implements unlinkat(2).
func (s *server) unlinkat(r *request, flags uint64) int64 {
	if flags&^atRemovedir != 0 {
		return errno(syscall.EINVAL)
	}
	p, name, e := s.findParent(r, 0)
	if e != 0 {
		return errno(e)
	}
	defer p.close()
	switch {
	case name == "" && flags == 0:
		return errno(syscall.EISDIR) // the volume's root (os.RemoveAll then empties it)
	case name == "":
		return errno(syscall.EBUSY)
	case name == ".":
		return errno(syscall.EINVAL)
	case name == "..":
		return errno(syscall.ENOTEMPTY)
	}
	if p.vol.readOnly {
		return errno(syscall.EROFS)
	}
	if flags == 0 {
		// unlink(2) of a directory fails (the server would remove an
		// empty one).
		qids, f, err := p.file.Walk([]string{name})
		if err != nil {
			return errno(toErrno(err))
		}
		f.Close()
		if len(qids) == 1 && qids[0].Type&p9.TypeDir != 0 {
			return errno(syscall.EISDIR)
		}
	}
	if err := p.file.UnlinkAt(name, uint32(flags)); err != nil {
		return errno(toErrno(err))
	}
	return 0
}

// renameat2 implements renameat2(2) with flags 0 or RENAME_NOREPLACE.
func (s *server) renameat2(r *request, flags uint64) int64 {
	if flags&^renameNoreplace != 0 {
		return errno(syscall.EINVAL)
	}
	op, oname, e := s.findParent(r, 0)
	if e != 0 {
		return errno(e)
	}
	defer op.close()
	np, nname, e := s.findParent(r, 1)
	if e != 0 {
		return errno(e)
	}
	defer np.close()
	for _, n := range []string{oname, nname} {
		switch n {
		case "":
			return errno(syscall.EBUSY)
		case ".", "..":
			return errno(syscall.EINVAL)
		}
	}
	if op.vol != np.vol {
		return errno(syscall.EXDEV)
	}
	if flags&renameNoreplace != 0 {
		_, f, err := np.file.Walk([]string{nname})
		if err == nil {
			f.Close()
			return errno(syscall.EEXIST)
		}
		if e := toErrno(err); e != syscall.ENOENT {
			return errno(e)
		}
	}
	if err := op.file.RenameAt(oname, np.file, nname); err != nil {
		return errno(toErrno(err))
	}
	s.renamed(op.vol, append(op.path[:len(op.path):len(op.path)], oname), append(np.path[:len(np.path):len(np.path)], nname))
	return 0
}

// renamed updates the paths of the objects at or under from.
func (s *server) renamed(v *volume, from, to []string) {
	for _, o := range s.objs {
		if o == nil || o.vol != v || len(o.path) < len(from) {
			continue
		}
		same := true
		for i := range from {
			if o.path[i] != from[i] {
				same = false
				break
			}
		}
		if same {
			o.path = append(append([]string(nil), to...), o.path[len(from):]...)
		}
	}
}

// linkat implements linkat(2).
func (s *server) linkat(r *request, flags uint64) int64 {
	if flags&^(atSymlinkFollow|atEmptyPath) != 0 {
		return errno(syscall.EINVAL)
	}
	old, _, e := s.find(r, 0, flags&atSymlinkFollow != 0)
	if e != 0 {
		return errno(e)
	}
	defer old.close()
	if old.isDir() {
		return errno(syscall.EPERM)
	}
	np, name, e := s.findParent(r, 1)
	if e != 0 {
		return errno(e)
	}
	defer np.close()
	switch {
	case name == "" || name == "." || name == "..":
		return errno(syscall.EEXIST)
	case old.vol != np.vol:
		return errno(syscall.EXDEV)
	}
	return errno(toErrno(np.file.Link(old.file, name)))
}

// symlinkat implements symlinkat(2); target points at the NUL-terminated
// target in the program's memory.
func (s *server) symlinkat(r *request, target uint64) int64 {
	t, ok := s.cstring(target)
	if !ok {
		return errno(syscall.ENAMETOOLONG)
	}
	if t == "" {
		return errno(syscall.ENOENT)
	}
	p, name, e := s.findParent(r, 0)
	if e != 0 {
		return errno(e)
	}
	defer p.close()
	if name == "" || name == "." || name == ".." {
		return errno(syscall.EEXIST)
	}
	_, err := p.file.Symlink(t, name, p9.NoUID, p9.NoGID)
	return errno(toErrno(err))
}

// cstring reads a NUL-terminated string of at most PATH_MAX bytes from
// the program's memory (the kernel checked its first byte; the page
// holding each next byte is checked as the kernel maps the program: a
// string is readable until its NUL).
func (s *server) cstring(p uint64) (string, bool) {
	var b []byte
	for len(b) < pathMax {
		// Up to the end of p's page, so as not to touch the next one
		// before the NUL says it is needed.
		n := 4096 - p%4096
		chunk := s.mem(p, n)
		if i := bytes.IndexByte(chunk, 0); i >= 0 {
			return string(append(b, chunk[:i]...)), true
		}
		b = append(b, chunk...)
		p += n
	}
	return "", false
}

// faccessat implements faccessat(2) for the guest's root user.
func (s *server) faccessat(r *request, mode uint64) int64 {
	if mode&^(rOK|wOK|xOK) != 0 {
		return errno(syscall.EINVAL)
	}
	n, _, e := s.find(r, 0, true)
	if e != 0 {
		return errno(e)
	}
	defer n.close()
	switch {
	case mode&wOK != 0 && n.vol.readOnly:
		return errno(syscall.EROFS)
	case mode&xOK != 0 && !n.isDir() && n.attr.Mode&0o111 == 0:
		return errno(syscall.EACCES)
	}
	return 0
}

// utimens sets the times of f from the two timespecs at p (0: now).
func (s *server) utimens(f p9.File, p uint64) int64 {
	mask := p9.SetAttrMask{ATime: true, MTime: true}
	var attr p9.SetAttr
	if p != 0 {
		b := s.mem(p, 32)
		le := binary.LittleEndian
		set := func(sec, nsec uint64, on, given *bool, s, ns *uint64) bool {
			switch nsec {
			case utimeOmit:
				*on = false
			case utimeNow:
			default:
				if nsec >= 1e9 {
					return false
				}
				*given, *s, *ns = true, sec, nsec
			}
			return true
		}
		if !set(le.Uint64(b[0:]), le.Uint64(b[8:]), &mask.ATime, &mask.ATimeNotSystemTime, &attr.ATimeSeconds, &attr.ATimeNanoSeconds) ||
			!set(le.Uint64(b[16:]), le.Uint64(b[24:]), &mask.MTime, &mask.MTimeNotSystemTime, &attr.MTimeSeconds, &attr.MTimeNanoSeconds) {
			return errno(syscall.EINVAL)
		}
		if !mask.ATime && !mask.MTime {
			return 0
		}
	}
	return setattr(f, mask, attr)
}

func setattr(f p9.File, mask p9.SetAttrMask, attr p9.SetAttr) int64 {
	return errno(toErrno(f.SetAttr(mask, attr)))
}

// statfs fills the struct statfs at p.
func (s *server) statfs(v *volume, f p9.File, p uint64) int64 {
	st, err := f.StatFS()
	if err != nil {
		return errno(toErrno(err))
	}
	statfsBuf(s.mem(p, statfsSize)).fill(&st, v.readOnly)
	return 0
}

// objCall performs a call on descriptor of object o.
func (s *server) objCall(o *object, r *request) int64 {
	a := &r.args
	switch r.nr {
	case sysClose:
		o.file.Close()
		s.objs[r.obj] = nil
		return 0
	case sysRead:
		n, e := s.read(o, []iov{{a[1], a[2]}}, o.off)
		o.off += n
		return ret(n, e)
	case sysReadv:
		n, e := s.read(o, s.iovecs(a[1], a[2]), o.off)
		o.off += n
		return ret(n, e)
	case sysPread64, sysPreadv:
		if int64(a[3]) < 0 {
			return errno(syscall.EINVAL)
		}
		bufs := []iov{{a[1], a[2]}}
		if r.nr == sysPreadv {
			bufs = s.iovecs(a[1], a[2])
		}
		return ret(s.read(o, bufs, int64(a[3])))
	case sysWrite, sysWritev, sysPwrite64, sysPwritev:
		return s.write(o, r)
	case sysFchdir:
		return s.fchdir(o, a[1], a[2])
	case sysLseek:
		return s.lseek(o, int64(a[1]), a[2])
	case sysFstat:
		return s.fstat(o, a[1])
	case sysNewfstatat: // AT_EMPTY_PATH
		return s.fstat(o, a[2])
	case sysFsync, sysFdatasync:
		return errno(toErrno(o.file.FSync()))
	case sysFtruncate:
		switch {
		case int64(a[1]) < 0:
			return errno(syscall.EINVAL)
		case o.dir:
			return errno(syscall.EISDIR)
		case !o.writable():
			return errno(syscall.EINVAL)
		}
		return setattr(o.file, p9.SetAttrMask{Size: true}, p9.SetAttr{Size: a[1]})
	case sysGetdents64:
		return s.getdents(o, a[1], a[2])
	case sysFchmod:
		return setattr(o.file, p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: p9.FileMode(a[1] & 0o7777)})
	case sysUtimensat: // futimens
		return s.utimens(o.file, a[2])
	case sysFstatfs:
		return s.statfs(o.vol, o.file, a[1])
	}
	return errno(syscall.ENOSYS)
}

func ret(n int64, e syscall.Errno) int64 {
	if e != 0 && n == 0 {
		return errno(e)
	}
	return n
}

// iov is a buffer in the program's memory.
type iov struct{ p, n uint64 }

// iovecs reads an array of struct iovec (the kernel checked them).
func (s *server) iovecs(p, cnt uint64) []iov {
	if cnt > 1024 {
		cnt = 0 // UIO_MAXIOV; the kernel refuses more
	}
	v := make([]iov, cnt)
	b := s.mem(p, 16*cnt)
	for i := range v {
		v[i] = iov{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
	}
	return v
}

// read reads into bufs from off (the library splits big buffers into
// Treads of at most msize).
func (s *server) read(o *object, bufs []iov, off int64) (int64, syscall.Errno) {
	switch {
	case o.dir:
		return 0, syscall.EISDIR
	case !o.readable():
		return 0, syscall.EBADF
	}
	var total int64
	for _, b := range bufs {
		if b.n == 0 {
			continue
		}
		n, err := o.file.ReadAt(s.mem(b.p, b.n), off+total)
		total += int64(n)
		if err != nil && err != io.EOF {
			return total, toErrno(err)
		}
		if uint64(n) < b.n {
			break
		}
	}
	return total, 0
}

// write implements write, writev, pwrite64 and pwritev. With O_APPEND
// every write goes to the end of the file (pwrite too, as on Linux).
func (s *server) write(o *object, r *request) int64 {
	a := &r.args
	positioned := r.nr == sysPwrite64 || r.nr == sysPwritev
	bufs := []iov{{a[1], a[2]}}
	if r.nr == sysWritev || r.nr == sysPwritev {
		bufs = s.iovecs(a[1], a[2])
	}
	if !o.writable() {
		return errno(syscall.EBADF)
	}
	off := o.off
	if positioned {
		if int64(a[3]) < 0 {
			return errno(syscall.EINVAL)
		}
		off = int64(a[3])
	}
	if o.flags&oAppend != 0 {
		_, _, attr, err := o.file.GetAttr(p9.AttrMask{Size: true})
		if err != nil {
			return errno(toErrno(err))
		}
		off = int64(attr.Size)
	}
	var total int64
	var e syscall.Errno
	for _, b := range bufs {
		if b.n == 0 {
			continue
		}
		n, err := o.file.WriteAt(s.mem(b.p, b.n), off+total)
		total += int64(n)
		if err != nil {
			e = toErrno(err)
			break
		}
		if uint64(n) < b.n {
			break
		}
	}
	if !positioned {
		o.off = off + total
	}
	return ret(total, e)
}

// fchdir answers fchdir(2) on o: it writes the directory's guest path
// (the volume's directory and o's real names from its root, so a
// directory renamed through the service is found at its new name) into
// the kernel's buffer [p, p+size), which becomes the working directory,
// and returns its length.
func (s *server) fchdir(o *object, p, size uint64) int64 {
	if !o.dir {
		return errno(syscall.ENOTDIR)
	}
	dir := o.vol.dir
	if len(o.path) > 0 {
		dir += "/" + strings.Join(o.path, "/")
	}
	if uint64(len(dir)) > size {
		return errno(syscall.ENAMETOOLONG)
	}
	return int64(copy(s.mem(p, uint64(len(dir))), dir))
}

// lseek implements lseek(2). On a directory only offsets that getdents
// returned (and 0) make sense.
func (s *server) lseek(o *object, off int64, whence uint64) int64 {
	if o.dir {
		switch {
		case whence == seekSet && off >= 0:
			o.dirOff = uint64(off)
			return off
		case whence == seekCur && off == 0:
			return int64(o.dirOff)
		}
		return errno(syscall.EINVAL)
	}
	var size int64
	if whence == seekEnd || whence == seekData || whence == seekHole {
		_, _, attr, err := o.file.GetAttr(p9.AttrMask{Size: true})
		if err != nil {
			return errno(toErrno(err))
		}
		size = int64(attr.Size)
	}
	var n int64
	switch whence {
	case seekSet:
		n = off
	case seekCur:
		n = o.off + off
	case seekEnd:
		n = size + off
	case seekData, seekHole:
		if off < 0 || off >= size {
			return errno(syscall.ENXIO)
		}
		n = off
		if whence == seekHole {
			n = size // no holes are reported
		}
	default:
		return errno(syscall.EINVAL)
	}
	if n < 0 {
		return errno(syscall.EINVAL)
	}
	o.off = n
	return n
}

// fstat fills the struct stat at p with o's attributes.
func (s *server) fstat(o *object, p uint64) int64 {
	qid, _, attr, err := o.file.GetAttr(p9.AttrMaskAll)
	if err != nil {
		return errno(toErrno(err))
	}
	statBuf(s.mem(p, statSize)).fill(o.vol.dev, qid, &attr)
	return 0
}

// getdents implements getdents64(2): the entries of a Treaddir from the
// object's directory offset, as struct linux_dirent64 records.
func (s *server) getdents(o *object, p, size uint64) int64 {
	if !o.dir {
		return errno(syscall.ENOTDIR)
	}
	if o.flags&oPath != 0 {
		return errno(syscall.EBADF)
	}
	buf := s.mem(p, size)
	// A Linux record is at most 3 bytes longer than the 9P entry
	// (qid[13] offset[8] type[1] name[s]); ask for room for at least one
	// entry of the longest name, so that "nothing" means the end.
	count := min(max(len(buf), 24+255), msize-64)
	ents, err := o.file.Readdir(o.dirOff, uint32(count))
	if err != nil {
		return errno(toErrno(err))
	}
	n := 0
	for _, d := range ents {
		if n+direntLen(d.Name) > len(buf) {
			if n == 0 {
				return errno(syscall.EINVAL)
			}
			break
		}
		n += putDirent(buf[n:], d.QID.Path, d.Offset, uint8(d.Type), d.Name)
		o.dirOff = d.Offset
	}
	return int64(n)
}
