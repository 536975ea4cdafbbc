// Package localfs is a hugelgupf/p9 file system (p9.Attacher, p9.File)
// confined to one host directory, for brique-9pd. Linux only (openat2,
// Linux 5.6 or later, and /proc).
//
// # Confinement
//
// The guest must never read or change anything outside the directory. So:
//
//   - Every fid is a file descriptor, O_PATH for files not opened (the
//     root is the directory the monitor opened). Nothing is ever looked
//     up by a path from the host's root.
//   - A walk resolves one name relative to its directory's descriptor with
//     openat2(2), RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS
//     and O_NOFOLLOW: ".." and absolute names cannot leave the directory,
//     and no symbolic link is followed on the host, not even one that an
//     outside process swaps in between a check and a use. A symlink is
//     walked to as itself: the guest reads it (Treadlink) and resolves it
//     in its own namespace.
//   - Names are single components: empty, ".", "..", and names with '/'
//     or NUL are refused (EINVAL), here and in the library.
//   - The *at system calls that take a name (mkdirat, unlinkat,
//     renameat2, symlinkat, linkat, fstatat) get such a name and a
//     directory descriptor, so they touch an entry of that directory and
//     follow nothing.
//   - A file is opened for I/O by reopening its own descriptor through
//     /proc/self/fd (the same inode, whatever its path became), and only
//     regular files and directories are opened, truncated or chmod-ed
//     that way: a FIFO or device in the directory cannot block or reach
//     the host, and a symlink's descriptor is never reopened (that could
//     follow it).
//   - Hard links link a fid's own inode; renames and links take
//     directory fids, which are inside too.
//
// Files are created with the server's uid and gid (the guest's are
// ignored, as are requests to change them) and the server's umask.
// Special files cannot be created (Tmknod: EPERM). A read-only attacher
// answers every change with EROFS. Tfsync runs fsync(2) before the reply
// is sent. Extended attributes and locks are not supported (ENOSYS).
package localfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/fsimpl/templatefs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// resolve is how every name is resolved (openat2(2)).
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// Attacher serves one host directory.
type Attacher struct {
	root     int // the directory (O_PATH), owned
	readOnly bool
	dev      uint64 // the root's device, for QID paths
}

// New serves the directory dir (any descriptor of it; O_PATH is enough).
// New duplicates the descriptor: the caller may close dir.
func New(dir *os.File, readOnly bool) (*Attacher, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return nil, fmt.Errorf("localfs: %s: %w", dir.Name(), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("localfs: %s is not a directory", dir.Name())
	}
	fd, err := unix.FcntlInt(dir.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("localfs: %s: %w", dir.Name(), err)
	}
	// The kernel must have openat2 and /proc must be there.
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_DIRECTORY, Resolve: resolve}
	probe, err := unix.Openat2(fd, ".", &how)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOSYS) {
			return nil, errors.New("localfs: openat2 is missing: host directory volumes need Linux 5.6 or later")
		}
		return nil, fmt.Errorf("localfs: %s: openat2: %w", dir.Name(), err)
	}
	defer unix.Close(probe)
	if _, err := os.Stat(procPath(probe)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("localfs: /proc/self/fd is needed to reopen files: %w", err)
	}
	return &Attacher{root: fd, readOnly: readOnly, dev: st.Dev}, nil
}

// Open serves the directory at path (for tests and tools).
func Open(path string, readOnly bool) (*Attacher, error) {
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	defer f.Close()
	return New(f, readOnly)
}

// Close releases the root descriptor (fids already attached keep theirs).
func (a *Attacher) Close() error { return unix.Close(a.root) }

// Attach implements p9.Attacher.
func (a *Attacher) Attach() (p9.File, error) {
	fd, err := dup(a.root)
	if err != nil {
		return nil, err
	}
	return a.newFile(fd, unix.S_IFDIR), nil
}

func (a *Attacher) newFile(fd int, typ uint32) *file {
	return &file{fs: a, fd: fd, typ: typ, open: -1}
}

// file is a fid.
type file struct {
	p9.DefaultWalkGetAttr // ENOSYS: the library does Walk then GetAttr
	templatefs.NotLockable
	templatefs.XattrUnimplemented
	templatefs.NoopRenamed // descriptors do not care about names

	fs  *Attacher
	fd  int    // the file (O_PATH, or open for created files)
	typ uint32 // S_IFMT bits: an inode never changes type

	mu   sync.Mutex // open, readdir's seek-and-read
	open int        // opened for I/O (Open, Create), or -1
}

// errno turns a system call error into the library's errno type as is
// (hugelgupf/p9 maps syscall.Errno through os.ErrPermission and
// os.ErrExist, which turns EPERM into EACCES and ENOTEMPTY into EEXIST).
func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return linux.Errno(e)
	}
	return err
}

// checkName refuses names that are not one path component.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
		return linux.EINVAL
	}
	return nil
}

func dup(fd int) (int, error) {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	return n, errno(err)
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func (f *file) ro() bool { return f.fs.readOnly }

// openat opens name in directory f, confined (see the package comment).
func (f *file) openat(name string, flags int, mode uint32) (int, error) {
	if err := checkName(name); err != nil {
		return -1, err
	}
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY // (openat2 refuses it with O_PATH)
	}
	how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolve}
	for {
		fd, err := unix.Openat2(f.fd, name, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, errno(err)
	}
}

// reopenable reports whether f may be reopened or changed through
// /proc/self/fd: regular files and directories only.
func (f *file) reopenable() bool { return f.typ == unix.S_IFREG || f.typ == unix.S_IFDIR }

func (f *file) qid(st *unix.Stat_t) p9.QID {
	path := st.Ino
	if st.Dev != f.fs.dev {
		path ^= st.Dev << 48 // another file system mounted inside: keep paths apart
	}
	return p9.QID{Type: p9.FileMode(st.Mode).QIDType(), Path: path}
}

func (f *file) stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(f.fd, &st)
	return st, errno(err)
}

// Walk implements p9.File: zero names clone the fid, one name opens it
// (the library walks one name at a time).
func (f *file) Walk(names []string) ([]p9.QID, p9.File, error) {
	switch len(names) {
	case 0:
		fd, err := dup(f.fd)
		if err != nil {
			return nil, nil, err
		}
		return nil, f.fs.newFile(fd, f.typ), nil
	case 1:
	default:
		return nil, nil, linux.EINVAL
	}
	if f.typ != unix.S_IFDIR {
		return nil, nil, linux.ENOTDIR
	}
	fd, err := f.openat(names[0], unix.O_PATH, 0)
	if err != nil {
		return nil, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, errno(err)
	}
	return []p9.QID{f.qid(&st)}, f.fs.newFile(fd, st.Mode&unix.S_IFMT), nil
}

// GetAttr implements p9.File.
func (f *file) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	st, err := f.stat()
	if err != nil {
		return p9.QID{}, p9.AttrMask{}, p9.Attr{}, err
	}
	attr, valid := p9.StatToAttr(&st, req)
	if req.RDev {
		attr.RDev = p9.Dev(st.Rdev) // StatToAttr gives st_dev
	}
	return f.qid(&st), valid, attr, nil
}

// SetAttr implements p9.File: permissions, size and times. Owners are
// the server's: a change of uid or gid is ignored.
func (f *file) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	if f.ro() {
		return linux.EROFS
	}
	if !valid.Permissions && !valid.Size && !valid.ATime && !valid.MTime {
		return nil
	}
	if !f.reopenable() {
		return linux.EPERM // a symlink's mode and times, a device's size
	}
	p := procPath(f.fd)
	if valid.Permissions {
		// Permissions() keeps the sticky bit and rwx, never setuid or
		// setgid: a guest cannot make a set-id file on the host.
		if err := unix.Chmod(p, uint32(attr.Permissions.Permissions())); err != nil {
			return errno(err)
		}
	}
	if valid.Size {
		if f.typ == unix.S_IFDIR {
			return linux.EISDIR
		}
		if err := unix.Truncate(p, int64(attr.Size)); err != nil {
			return errno(err)
		}
	}
	if valid.ATime || valid.MTime {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		set := func(i int, on, given bool, sec, nsec uint64) {
			switch {
			case !on:
			case given:
				ts[i] = unix.Timespec{Sec: int64(sec), Nsec: int64(nsec)}
			default:
				ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
			}
		}
		set(0, valid.ATime, valid.ATimeNotSystemTime, attr.ATimeSeconds, attr.ATimeNanoSeconds)
		set(1, valid.MTime, valid.MTimeNotSystemTime, attr.MTimeSeconds, attr.MTimeNanoSeconds)
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
			return errno(err)
		}
	}
	return nil
}

// Open implements p9.File: regular files and directories only. The
// access mode and O_TRUNC are honoured; other flags (O_APPEND, O_SYNC,
// ...) are the guest kernel's business.
func (f *file) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	if !f.reopenable() {
		return p9.QID{}, 0, linux.EPERM
	}
	flags := mode.OSFlags() | unix.O_CLOEXEC | unix.O_NOCTTY
	trunc := uint32(mode)&unix.O_TRUNC != 0
	if f.ro() && (mode.Mode() != p9.ReadOnly || trunc) {
		return p9.QID{}, 0, linux.EROFS
	}
	if f.typ == unix.S_IFDIR {
		flags |= unix.O_DIRECTORY
	} else if trunc {
		flags |= unix.O_TRUNC
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open >= 0 {
		return p9.QID{}, 0, linux.EBUSY
	}
	fd, err := unix.Open(procPath(f.fd), flags, 0)
	if err != nil {
		return p9.QID{}, 0, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != f.typ {
		unix.Close(fd)
		return p9.QID{}, 0, linux.EIO
	}
	f.open = fd
	return f.qid(&st), 0, nil
}

func (f *file) opened() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open < 0 {
		return -1, linux.EBADF
	}
	return f.open, nil
}

// ReadAt implements p9.File.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	fd, err := f.opened()
	if err != nil {
		return 0, err
	}
	for {
		n, err := unix.Pread(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, errno(err)
		}
		return n, nil
	}
}

// WriteAt implements p9.File.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.ro() {
		return 0, linux.EROFS
	}
	fd, err := f.opened()
	if err != nil {
		return 0, err
	}
	done := 0
	for done < len(p) {
		n, err := unix.Pwrite(fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, errno(err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// FSync implements p9.File: fsync(2) on the open file, before the reply.
func (f *file) FSync() error {
	fd, err := f.opened()
	if err != nil {
		return err
	}
	return errno(unix.Fsync(fd))
}

// StatFS implements p9.File.
func (f *file) StatFS() (p9.FSStat, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(f.fd, &s); err != nil {
		return p9.FSStat{}, errno(err)
	}
	return p9.FSStat{
		Type:            uint32(s.Type),
		BlockSize:       uint32(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		FSID:            uint64(uint32(s.Fsid.Val[0])) | uint64(uint32(s.Fsid.Val[1]))<<32,
		NameLength:      uint32(s.Namelen),
	}, nil
}

// Close implements p9.File.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open >= 0 && f.open != f.fd {
		unix.Close(f.open)
	}
	f.open = -1
	return errno(unix.Close(f.fd))
}

// Create implements p9.File: a new regular file, opened.
func (f *file) Create(name string, flags p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	if f.ro() {
		return nil, p9.QID{}, 0, linux.EROFS
	}
	oflags := flags.OSFlags() | unix.O_CREAT | unix.O_EXCL
	fd, err := f.openat(name, oflags, uint32(perm.Permissions()))
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, p9.QID{}, 0, errno(err)
	}
	id, err := dup(fd)
	if err != nil {
		unix.Close(fd)
		return nil, p9.QID{}, 0, err
	}
	nf := f.fs.newFile(id, unix.S_IFREG)
	nf.open = fd
	return nf, f.qid(&st), 0, nil
}

// lstatAt is the QID of the entry name of directory f (not followed).
func (f *file) lstatAt(name string) (p9.QID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.qid(&st), nil
}

// Mkdir implements p9.File.
func (f *file) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if f.ro() {
		return p9.QID{}, linux.EROFS
	}
	if err := checkName(name); err != nil {
		return p9.QID{}, err
	}
	if err := unix.Mkdirat(f.fd, name, uint32(perm.Permissions())); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.lstatAt(name)
}

// Symlink implements p9.File: the link is stored as the guest wrote it;
// the host never follows it.
func (f *file) Symlink(target, name string, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if f.ro() {
		return p9.QID{}, linux.EROFS
	}
	if err := checkName(name); err != nil {
		return p9.QID{}, err
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return p9.QID{}, linux.EINVAL
	}
	if err := unix.Symlinkat(target, f.fd, name); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.lstatAt(name)
}

// sameFS returns other as a file of this attacher.
func (f *file) sameFS(other p9.File) (*file, error) {
	o, ok := other.(*file)
	if !ok || o.fs != f.fs {
		return nil, linux.EXDEV
	}
	return o, nil
}

// Link implements p9.File: a new name in directory f for target's inode.
func (f *file) Link(target p9.File, name string) error {
	if f.ro() {
		return linux.EROFS
	}
	if err := checkName(name); err != nil {
		return err
	}
	t, err := f.sameFS(target)
	if err != nil {
		return err
	}
	switch t.typ {
	case unix.S_IFDIR:
		return linux.EPERM
	case unix.S_IFREG:
		// The magic link of t's descriptor is t's inode (linkat with
		// AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
		return errno(unix.Linkat(unix.AT_FDCWD, procPath(t.fd), f.fd, name, unix.AT_SYMLINK_FOLLOW))
	default:
		// A symlink, FIFO or device: never through /proc (that could
		// follow a symlink); this needs CAP_DAC_READ_SEARCH.
		return errno(unix.Linkat(t.fd, "", f.fd, name, unix.AT_EMPTY_PATH))
	}
}

// Mknod implements p9.File: special files are not created.
func (f *file) Mknod(string, p9.FileMode, uint32, uint32, p9.UID, p9.GID) (p9.QID, error) {
	if f.ro() {
		return p9.QID{}, linux.EROFS
	}
	return p9.QID{}, linux.EPERM
}

// Rename implements p9.File. The library renames through the parent
// (RenameAt) and never calls it.
func (f *file) Rename(p9.File, string) error { return linux.ENOSYS }

// RenameAt implements p9.File.
func (f *file) RenameAt(oldName string, newDir p9.File, newName string) error {
	if f.ro() {
		return linux.EROFS
	}
	if err := checkName(oldName); err != nil {
		return err
	}
	if err := checkName(newName); err != nil {
		return err
	}
	nd, err := f.sameFS(newDir)
	if err != nil {
		return err
	}
	return errno(unix.Renameat2(f.fd, oldName, nd.fd, newName, 0))
}

// UnlinkAt implements p9.File. flags is AT_REMOVEDIR or 0; Tremove (0)
// of a directory removes it too.
func (f *file) UnlinkAt(name string, flags uint32) error {
	if f.ro() {
		return linux.EROFS
	}
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Unlinkat(f.fd, name, int(flags&unix.AT_REMOVEDIR))
	if err == unix.EISDIR && flags == 0 {
		err = unix.Unlinkat(f.fd, name, unix.AT_REMOVEDIR)
	}
	return errno(err)
}

// Readlink implements p9.File.
func (f *file) Readlink() (string, error) {
	if f.typ != unix.S_IFLNK {
		return "", linux.EINVAL
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(f.fd, "", buf)
	if err != nil {
		return "", errno(err)
	}
	return string(buf[:n]), nil
}

// direntSize is the encoded size of a 9P2000.L directory entry with an
// n-byte name: qid[13] offset[8] type[1] name[s].
func direntSize(n int) int { return 13 + 8 + 1 + 2 + n }

// Readdir implements p9.File: the entries after offset (a previous
// entry's Offset, 0 for the first) that fit in count bytes. Offsets are
// the host's getdents64 d_off cookies; Type is the d_type (DT_DIR, ...),
// as Linux's 9P client expects.
func (f *file) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open < 0 || f.typ != unix.S_IFDIR {
		return nil, linux.EBADF
	}
	if _, err := unix.Seek(f.open, int64(offset), 0); err != nil {
		return nil, errno(err)
	}
	buf := make([]byte, min(max(int(count), 512), 64<<10))
	var out p9.Dirents
	room := int(count)
	for {
		n, err := unix.Getdents(f.open, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, errno(err)
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: d_ino[8] d_off[8] d_reclen[2] d_type[1] d_name
			reclen := int(binary.LittleEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return out, nil
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if direntSize(len(name)) > room {
				return out, nil
			}
			room -= direntSize(len(name))
			typ := b[18]
			out = append(out, p9.Dirent{
				QID:    p9.QID{Type: dtypeQID(typ), Path: binary.LittleEndian.Uint64(b[0:])},
				Offset: binary.LittleEndian.Uint64(b[8:]),
				Type:   p9.QIDType(typ),
				Name:   string(name),
			})
			b = b[reclen:]
		}
	}
}

func dtypeQID(t uint8) p9.QIDType {
	switch t {
	case unix.DT_DIR:
		return p9.TypeDir
	case unix.DT_LNK:
		return p9.TypeSymlink
	}
	return p9.TypeRegular
}
