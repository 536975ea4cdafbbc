package vol

// Host tests (tier 1): the service's calls on a volume served by the real
// monitor side, in-process: this package's virtio-9p driver drives the
// monitor's device model (monitor/virtio/p9) through its registers, over
// fake guest memory, and the device talks to brique-9pd's server (package
// server + localfs) over a socket pair. Only the kernel is faked: the
// program's memory is an arena and object numbers a counter.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hugelgupf/p9/p9"

	"brique.dev/brique/guest/virtio"
	mvirtio "brique.dev/brique/monitor/virtio"
	mp9 "brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/localfs"
	p9server "brique.dev/brique/monitor/virtio/p9/server"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// hostRegs reaches a device model's registers directly.
type hostRegs struct{ t *mvirtio.Transport }

func (r hostRegs) Read32(off uint32) uint32     { return uint32(r.t.Read(uint64(off), 4)) }
func (r hostRegs) Write32(off uint32, v uint32) { r.t.Write(uint64(off), 4, uint64(v)) }

// pollWait is a waitFunc for tests: the device model completes requests
// from its own goroutine. Like SysWaitDevice, it returns only once the
// used index moved: a driver that waits for an index it already saw
// (a lost wake-up) panics after 10 s.
func pollWait(q *virtio.Queue, idx uint16) {
	deadline := time.Now().Add(10 * time.Second)
	for q.UsedIdx() == idx {
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("waited 10 s for the used index to leave %d: a lost wake-up", idx))
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// arena is the fake program memory: addresses from arenaBase.
const arenaBase = 0x10000

type env struct {
	t     *testing.T
	s     *server
	arena []byte
	next  uint64
	dirs  []string // host directory of each volume
	outer string   // holds the volumes and a canary
}

const canary = "the host's secret\n"

// newEnv mounts one volume per guest directory (":ro" suffix: read-only),
// each a fresh host directory next to a canary file.
func newEnv(t *testing.T, guestDirs ...string) *env {
	t.Helper()
	e := &env{t: t, arena: make([]byte, 4<<20), next: arenaBase, outer: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.outer, "canary"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := int64(0)
	e.s = newServer(func(addr, n uint64) []byte {
		if addr < arenaBase || addr-arenaBase+n > uint64(len(e.arena)) {
			t.Fatalf("program memory access [%#x, +%d) outside the arena", addr, n)
		}
		return e.arena[addr-arenaBase : addr-arenaBase+n]
	}, func() (int64, syscall.Errno) {
		objs++
		return objs, 0
	})
	for i, g := range guestDirs {
		g, ro := strings.CutSuffix(g, ":ro")
		dir := filepath.Join(e.outer, "vol"+string(rune('0'+i)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		e.dirs = append(e.dirs, dir)
		v := &volume{index: i, tag: "vol" + string(rune('0'+i)), dir: g, readOnly: ro, dev: volumeDev(i)}
		mountTest(t, v, dir)
		e.s.vols = append(e.s.vols, v)
	}
	return e
}

// mountTest serves dir over a virtio-9p device model and mounts it as v.
func mountTest(t *testing.T, v *volume, dir string) {
	t.Helper()
	mem := virtiotest.NewMemory(t, 4<<20)
	mine, theirs, err := mp9.SocketPair(mp9.DefaultMaxMessage)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := localfs.Open(dir, v.readOnly)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		defer fs.Close()
		served <- p9server.Serve(theirs, fs, p9server.Options{})
	}()
	dev, err := mp9.New(mp9.Config{Tag: v.tag, Backend: mine, OnError: func(err error) { t.Errorf("device: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	bus := mvirtio.NewBus(mem.Memory, nil)
	tr, err := bus.Add(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bus.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Errorf("the 9P server did not stop")
		}
	})
	if got := mountTag(hostRegs{tr}); got != v.tag {
		t.Fatalf("mount tag %q, want %q", got, v.tag)
	}
	base := mem.Alloc(dmaPages*4096, 4096)
	dma := &virtio.DMA{Mem: mem.B(base, dmaPages*4096), Phys: base}
	if err := v.mount(hostRegs{tr}, dma, pollWait); err != nil {
		t.Fatalf("mount: %v", err)
	}
	// Before the device and its memory go: fids the garbage collector
	// finalizes later (the root's) find the transport closed.
	t.Cleanup(func() { v.client.Close() })
}

// put copies b into the arena and returns its address.
func (e *env) put(b []byte) uint64 {
	a := (e.next + 7) &^ 7
	copy(e.arena[a-arenaBase:], b)
	e.next = a + uint64(len(b))
	return a
}

func (e *env) buf(n int) uint64 { return e.put(make([]byte, n)) }

func (e *env) bytes(a uint64, n int) []byte { return e.arena[a-arenaBase : a-arenaBase+uint64(n)] }

// path builds a path call on volume vol (paths relative to its root).
func (e *env) path(nr uint64, vol int, p string, args ...uint64) int64 {
	r := &request{nr: nr, obj: -1, vol: int64(vol), dirObj: [2]int64{-1, -1}, path: [2]string{p}}
	copy(r.args[:], args)
	return e.s.do(r)
}

// at builds a path call relative to directory object dir.
func (e *env) at(nr uint64, dir int64, p string, args ...uint64) int64 {
	r := &request{nr: nr, obj: -1, vol: 0, dirObj: [2]int64{dir, -1}, path: [2]string{p}}
	copy(r.args[:], args)
	return e.s.do(r)
}

// two builds a two-path call (rename, link).
func (e *env) two(nr uint64, vol int, p0, p1 string, args ...uint64) int64 {
	r := &request{nr: nr, obj: -1, vol: int64(vol), dirObj: [2]int64{-1, -1}, path: [2]string{p0, p1}}
	copy(r.args[:], args)
	return e.s.do(r)
}

// obj builds a call on object o.
func (e *env) obj(nr uint64, o int64, args ...uint64) int64 {
	r := &request{nr: nr, obj: o, vol: -1, dirObj: [2]int64{-1, -1}}
	r.args[0] = 100 // the descriptor: ignored
	copy(r.args[1:], args)
	return e.s.do(r)
}

func (e *env) open(vol int, p string, flags uint64, mode uint32) int64 {
	return e.path(sysOpenat, vol, p, 0, 0, flags, uint64(mode))
}

func (e *env) write(o int64, b []byte) int64 {
	return e.obj(sysWrite, o, e.put(b), uint64(len(b)))
}

func (e *env) read(o int64, n int) (int64, []byte) {
	a := e.buf(n)
	r := e.obj(sysRead, o, a, uint64(n))
	if r < 0 {
		return r, nil
	}
	return r, append([]byte(nil), e.bytes(a, int(r))...)
}

func (e *env) stat(vol int, p string, flags uint64) (int64, syscall.Stat_t) {
	a := e.buf(statSize)
	r := e.path(sysNewfstatat, vol, p, 0, 0, a, flags)
	var st syscall.Stat_t
	binary.Read(bytes.NewReader(e.bytes(a, statSize)), binary.LittleEndian, &st)
	return r, st
}

func want(t *testing.T, what string, got int64, want int64) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d (%v), want %d (%v)", what, got, errOf(got), want, errOf(want))
	}
}

func errOf(r int64) error {
	if r < 0 {
		return syscall.Errno(-r)
	}
	return nil
}

func neg(e syscall.Errno) int64 { return -int64(e) }

func TestFiles(t *testing.T) {
	e := newEnv(t, "/data")
	host := e.dirs[0]

	o := e.open(0, "a.txt", oCreat|oWronly|oTrunc, 0o640)
	if o < 0 {
		t.Fatalf("create: %v", errOf(o))
	}
	want(t, "write", e.write(o, []byte("hello, ")), 7)
	want(t, "write", e.write(o, []byte("volume\n")), 7)
	want(t, "fsync", e.obj(sysFsync, o), 0)
	want(t, "close", e.obj(sysClose, o), 0)
	if b, _ := os.ReadFile(filepath.Join(host, "a.txt")); string(b) != "hello, volume\n" {
		t.Fatalf("host sees %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(host, "a.txt")); fi.Mode().Perm()&0o700 != 0o600 {
		t.Errorf("host mode %v", fi.Mode())
	}

	// Read back, seek, pread, fstat.
	o = e.open(0, "a.txt", oRdonly, 0)
	want(t, "open", min(o, 0), 0)
	n, b := e.read(o, 5)
	if n != 5 || string(b) != "hello" {
		t.Fatalf("read %d %q", n, b)
	}
	want(t, "lseek cur", e.obj(sysLseek, o, 2, seekCur), 7)
	n, b = e.read(o, 100)
	if string(b) != "volume\n" {
		t.Fatalf("read after seek %d %q", n, b)
	}
	n, _ = e.read(o, 100)
	want(t, "read at EOF", n, 0)
	a := e.buf(4)
	want(t, "pread", e.obj(sysPread64, o, a, 4, 7), 4)
	if string(e.bytes(a, 4)) != "volu" {
		t.Fatalf("pread %q", e.bytes(a, 4))
	}
	want(t, "lseek end", e.obj(sysLseek, o, 0, seekEnd), 14)
	sa := e.buf(statSize)
	want(t, "fstat", e.obj(sysFstat, o, sa), 0)
	var st syscall.Stat_t
	binary.Read(bytes.NewReader(e.bytes(sa, statSize)), binary.LittleEndian, &st)
	hst, _ := os.Stat(filepath.Join(host, "a.txt"))
	if st.Size != 14 || st.Mode&sIFMT != sIFREG || st.Ino != hst.Sys().(*syscall.Stat_t).Ino || st.Dev != volumeDev(0) {
		t.Fatalf("fstat: %+v", st)
	}
	want(t, "write on O_RDONLY", e.write(o, []byte("x")), neg(syscall.EBADF))
	want(t, "close", e.obj(sysClose, o), 0)
	want(t, "call on a closed object", e.obj(sysRead, o, e.buf(1), 1), neg(syscall.EBADF))

	// O_APPEND, O_EXCL, O_TRUNC, truncate, ftruncate.
	o = e.open(0, "a.txt", oWronly|oAppend, 0)
	want(t, "append", e.write(o, []byte("more\n")), 5)
	e.obj(sysClose, o)
	if b, _ := os.ReadFile(filepath.Join(host, "a.txt")); string(b) != "hello, volume\nmore\n" {
		t.Fatalf("after append: %q", b)
	}
	want(t, "O_EXCL on existing", e.open(0, "a.txt", oCreat|oExcl|oWronly, 0o644), neg(syscall.EEXIST))
	want(t, "truncate", e.path(sysTruncate, 0, "a.txt", 0, 5), 0)
	if b, _ := os.ReadFile(filepath.Join(host, "a.txt")); string(b) != "hello" {
		t.Fatalf("after truncate: %q", b)
	}
	o = e.open(0, "a.txt", oRdwr, 0)
	want(t, "ftruncate", e.obj(sysFtruncate, o, 2), 0)
	e.obj(sysClose, o)
	o = e.open(0, "a.txt", oWronly|oTrunc, 0)
	e.obj(sysClose, o)
	if fi, _ := os.Stat(filepath.Join(host, "a.txt")); fi.Size() != 0 {
		t.Fatalf("O_TRUNC left %d bytes", fi.Size())
	}

	// Bigger than a message: split both ways.
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB
	o = e.open(0, "big", oCreat|oRdwr, 0o644)
	want(t, "big write", e.write(o, big), int64(len(big)))
	want(t, "rewind", e.obj(sysLseek, o, 0, seekSet), 0)
	n, b = e.read(o, len(big)+10)
	if n != int64(len(big)) || !bytes.Equal(b, big) {
		t.Fatalf("big read: %d bytes, equal %v", n, bytes.Equal(b, big))
	}
	// writev and readv.
	iov := func(parts ...[]byte) (uint64, uint64) {
		var v []byte
		for _, p := range parts {
			v = binary.LittleEndian.AppendUint64(v, e.put(p))
			v = binary.LittleEndian.AppendUint64(v, uint64(len(p)))
		}
		return e.put(v), uint64(len(parts))
	}
	e.obj(sysFtruncate, o, 0)
	e.obj(sysLseek, o, 0, seekSet)
	p, c := iov([]byte("ab"), []byte("cde"))
	want(t, "writev", e.obj(sysWritev, o, p, c), 5)
	e.obj(sysLseek, o, 1, seekSet)
	x, y := make([]byte, 2), make([]byte, 10)
	p, c = iov(x, y)
	want(t, "readv", e.obj(sysReadv, o, p, c), 4)
	e.obj(sysClose, o)
	if b, _ := os.ReadFile(filepath.Join(host, "big")); string(b) != "abcde" {
		t.Fatalf("after writev: %q", b)
	}

	// pwritev and preadv: at their offset, the file offset unchanged.
	o = e.open(0, "big", oRdwr, 0)
	want(t, "lseek", e.obj(sysLseek, o, 1, seekSet), 1)
	p, c = iov([]byte("XY"), []byte("Z"))
	want(t, "pwritev", e.obj(sysPwritev, o, p, c, 3), 3)
	x, y = make([]byte, 2), make([]byte, 10)
	p, c = iov(x, y)
	want(t, "preadv", e.obj(sysPreadv, o, p, c, 2), 4)
	xa, ya := binary.LittleEndian.Uint64(e.bytes(p, 16)), binary.LittleEndian.Uint64(e.bytes(p+16, 16))
	if got := string(e.bytes(xa, 2)) + string(e.bytes(ya, 2)); got != "cXYZ" {
		t.Fatalf("preadv read %q, want cXYZ", got)
	}
	want(t, "preadv at a negative offset", e.obj(sysPreadv, o, p, c, ^uint64(0)), neg(syscall.EINVAL))
	want(t, "pwritev at a negative offset", e.obj(sysPwritev, o, p, c, ^uint64(0)), neg(syscall.EINVAL))
	want(t, "offset kept", e.obj(sysLseek, o, 0, seekCur), 1)
	e.obj(sysClose, o)
	if b, _ := os.ReadFile(filepath.Join(host, "big")); string(b) != "abcXYZ" {
		t.Fatalf("after pwritev: %q", b)
	}
	o = e.open(0, "big", oRdonly, 0)
	want(t, "pwritev on O_RDONLY", e.obj(sysPwritev, o, p, c, 0), neg(syscall.EBADF))
	e.obj(sysClose, o)

	// Errors pass through.
	want(t, "open missing", e.open(0, "nope", oRdonly, 0), neg(syscall.ENOENT))
	want(t, "open in missing dir", e.open(0, "nodir/x", oCreat|oWronly, 0o644), neg(syscall.ENOENT))
	want(t, "file as a directory", e.open(0, "big/x", oRdonly, 0), neg(syscall.ENOTDIR))
	want(t, "O_DIRECTORY on a file", e.open(0, "big", oRdonly|oDirectory, 0), neg(syscall.ENOTDIR))
	want(t, "dir for writing", e.open(0, "", oWronly, 0), neg(syscall.EISDIR))
}

func TestDirectories(t *testing.T) {
	e := newEnv(t, "/data")
	host := e.dirs[0]
	want(t, "mkdir", e.path(sysMkdirat, 0, "d", 0, 0, 0o755), 0)
	want(t, "mkdir again", e.path(sysMkdirat, 0, "d", 0, 0, 0o755), neg(syscall.EEXIST))
	want(t, "mkdir nested", e.path(sysMkdirat, 0, "d/e", 0, 0, 0o700), 0)
	for _, n := range []string{"d/f1", "d/f2", "d/e/g"} {
		o := e.open(0, n, oCreat|oWronly, 0o644)
		want(t, "create "+n, min(o, 0), 0)
		e.obj(sysClose, o)
	}
	// A long name: its record does not fit beside the others.
	long := strings.Repeat("n", 200)
	o := e.open(0, "d/"+long, oCreat|oWronly, 0o644)
	e.obj(sysClose, o)

	d := e.open(0, "d", oRdonly|oDirectory, 0)
	want(t, "open dir", min(d, 0), 0)
	var names []string
	types := map[string]uint8{}
	for {
		a := e.buf(256)
		n := e.obj(sysGetdents64, d, a, 256)
		if n < 0 {
			t.Fatalf("getdents: %v", errOf(n))
		}
		if n == 0 {
			break
		}
		b := e.bytes(a, int(n))
		for len(b) > 0 {
			reclen := binary.LittleEndian.Uint16(b[16:])
			name := string(bytes.TrimRight(b[19:reclen], "\x00"))
			names = append(names, name)
			types[name] = b[18]
			b = b[reclen:]
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != ".,..,e,f1,f2,"+long {
		t.Fatalf("entries %q", names)
	}
	if types["e"] != dtDir || types["f1"] != syscall.DT_REG {
		t.Fatalf("d_type: %v", types)
	}
	want(t, "getdents buffer too small", e.obj(sysGetdents64, d, e.buf(8), 8), 0) // at the end: nothing to return
	want(t, "rewind dir", e.obj(sysLseek, d, 0, seekSet), 0)
	want(t, "getdents tiny buffer", e.obj(sysGetdents64, d, e.buf(8), 8), neg(syscall.EINVAL))

	// Calls relative to the directory object.
	want(t, "fstatat relative", min(e.at(sysNewfstatat, d, "e/g", 0, 0, e.buf(statSize), 0), 0), 0)
	want(t, "openat relative", min(e.at(sysOpenat, d, "f1", 0, 0, oRdonly, 0), 0), 0)
	want(t, "unlinkat relative", e.at(sysUnlinkat, d, "f2", 0, 0, 0), 0)
	want(t, "empty relative path", e.at(sysNewfstatat, d, "", 0, 0, e.buf(statSize), 0), neg(syscall.ENOENT))
	// ".." from the directory climbs to the volume root, then out of it:
	// "../../data/d" comes back in, "../../etc" does not exist.
	want(t, "dotdot inside", min(e.at(sysNewfstatat, d, "../d/f1", 0, 0, e.buf(statSize), 0), 0), 0)
	want(t, "dotdot out and back", min(e.at(sysNewfstatat, d, "../../data/d/f1", 0, 0, e.buf(statSize), 0), 0), 0)
	want(t, "dotdot out", e.at(sysNewfstatat, d, "../../canary", 0, 0, e.buf(statSize), 0), neg(syscall.ENOENT))

	// Rename keeps the object's path right.
	want(t, "rename dir", e.two(sysRenameat2, 0, "d", "d2", 0, 0, 0, 0, 0), 0)
	want(t, "relative after rename", min(e.at(sysNewfstatat, d, "e/g", 0, 0, e.buf(statSize), 0), 0), 0)
	want(t, "rename noreplace", e.two(sysRenameat2, 0, "d2/f1", "d2/e/g", 0, 0, 0, 0, renameNoreplace), neg(syscall.EEXIST))
	want(t, "rename bad flags", e.two(sysRenameat2, 0, "d2/f1", "x", 0, 0, 0, 0, 4), neg(syscall.EINVAL))
	want(t, "rename file", e.two(sysRenameat2, 0, "d2/f1", "top", 0, 0, 0, 0, 0), 0)
	if _, err := os.Stat(filepath.Join(host, "top")); err != nil {
		t.Fatal(err)
	}
	want(t, "rmdir non-empty", e.path(sysUnlinkat, 0, "d2", 0, 0, atRemovedir), neg(syscall.ENOTEMPTY))
	want(t, "unlink a dir", e.path(sysUnlinkat, 0, "d2/e", 0, 0, 0), neg(syscall.EISDIR))
	want(t, "unlink", e.path(sysUnlinkat, 0, "d2/e/g", 0, 0, 0), 0)
	want(t, "rmdir", e.path(sysUnlinkat, 0, "d2/e", 0, 0, atRemovedir), 0)
	want(t, "rmdir root", e.path(sysUnlinkat, 0, "", 0, 0, atRemovedir), neg(syscall.EBUSY))
	want(t, "unlink root", e.path(sysUnlinkat, 0, "", 0, 0, 0), neg(syscall.EISDIR))
	want(t, "link", e.two(sysLinkat, 0, "top", "d2/hard", 0, 0, 0, 0, 0), 0)
	var s1, s2 syscall.Stat_t
	syscall.Stat(filepath.Join(host, "top"), &s1)
	syscall.Stat(filepath.Join(host, "d2", "hard"), &s2)
	if s1.Ino != s2.Ino || s1.Nlink != 2 {
		t.Fatalf("hard link: inodes %d %d, nlink %d", s1.Ino, s2.Ino, s1.Nlink)
	}

	// Attributes.
	want(t, "chmod", e.path(sysFchmodat, 0, "top", 0, 0, 0o600), 0)
	if fi, _ := os.Stat(filepath.Join(host, "top")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ts := make([]byte, 32)
	binary.LittleEndian.PutUint64(ts[0:], 1000)
	binary.LittleEndian.PutUint64(ts[8:], 0)
	binary.LittleEndian.PutUint64(ts[16:], 2000)
	binary.LittleEndian.PutUint64(ts[24:], 5)
	want(t, "utimensat", e.path(sysUtimensat, 0, "top", 0, 0, e.put(ts), 0), 0)
	if fi, _ := os.Stat(filepath.Join(host, "top")); fi.ModTime().UnixNano() != 2000e9+5 {
		t.Fatalf("mtime %v", fi.ModTime())
	}
	want(t, "access W", e.path(sysFaccessat, 0, "top", 0, 0, wOK), 0)
	want(t, "access X", e.path(sysFaccessat, 0, "top", 0, 0, xOK), neg(syscall.EACCES))
	want(t, "access missing", e.path(sysFaccessat, 0, "missing", 0, 0, 0), neg(syscall.ENOENT))
	sfs := e.buf(statfsSize)
	want(t, "statfs", e.path(sysStatfs, 0, "", 0, sfs), 0)
	var fs syscall.Statfs_t
	binary.Read(bytes.NewReader(e.bytes(sfs, statfsSize)), binary.LittleEndian, &fs)
	var hfs syscall.Statfs_t
	syscall.Statfs(host, &hfs)
	if fs.Type != hfs.Type || fs.Bsize != hfs.Bsize || fs.Flags&stRdonly != 0 {
		t.Fatalf("statfs %+v, host %+v", fs, hfs)
	}
	r, st := e.stat(0, "", 0)
	want(t, "stat root", r, 0)
	var hst syscall.Stat_t
	syscall.Stat(host, &hst)
	if st.Ino != hst.Ino || st.Mode&sIFMT != sIFDIR {
		t.Fatalf("stat root %+v", st)
	}
}

// TestFchdir: fchdir on a directory object answers the directory's guest
// path (its real names, after renames), for the kernel's buffer.
func TestFchdir(t *testing.T) {
	e := newEnv(t, "/data", "/other/vol")
	want(t, "mkdir", e.path(sysMkdirat, 0, "d", 0, 0, 0o755), 0)
	want(t, "mkdir nested", e.path(sysMkdirat, 0, "d/e", 0, 0, 0o755), 0)
	want(t, "symlink", e.path(sysSymlinkat, 0, "l", e.put([]byte("d/e\x00"))), 0)
	o := e.open(0, "d/f", oCreat|oWronly, 0o644)
	want(t, "create", min(o, 0), 0)
	fchdir := func(what string, o int64, size int) string {
		t.Helper()
		a := e.buf(size)
		n := e.obj(sysFchdir, o, a, uint64(size))
		if n < 0 {
			return errOf(n).Error()
		}
		return string(e.bytes(a, int(n)))
	}
	for _, c := range []struct {
		vol   int
		path  string
		flags uint64
		want  string
	}{
		{0, "", oRdonly | oDirectory, "/data"},
		{0, "d", oRdonly | oDirectory, "/data/d"},
		{0, "d/e", oPath, "/data/d/e"},
		{0, "l", oRdonly, "/data/d/e"}, // the real path
		{0, "d/f", oRdonly, syscall.ENOTDIR.Error()},
		{0, "l", oPath | oNofollow, syscall.ENOTDIR.Error()},
		{1, "", oRdonly, "/other/vol"},
	} {
		d := e.open(c.vol, c.path, c.flags, 0)
		want(t, "open "+c.path, min(d, 0), 0)
		if got := fchdir(c.path, d, 4096); got != c.want {
			t.Errorf("fchdir on %d:%q (flags %#x): %q, want %q", c.vol, c.path, c.flags, got, c.want)
		}
		e.obj(sysClose, d)
	}
	d := e.open(0, "d/e", oRdonly, 0)
	if got := fchdir("short buffer", d, 5); got != syscall.ENAMETOOLONG.Error() {
		t.Errorf("fchdir with a 5-byte buffer: %q", got)
	}
	want(t, "rename", e.two(sysRenameat2, 0, "d", "moved", 0, 0, 0, 0, 0), 0)
	if got := fchdir("after rename", d, 4096); got != "/data/moved/e" {
		t.Errorf("fchdir after the rename: %q, want /data/moved/e", got)
	}
}

func TestSymlinks(t *testing.T) {
	e := newEnv(t, "/data", "/other")
	host := e.dirs[0]
	os.MkdirAll(filepath.Join(host, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(host, "dir", "sub", "f"), []byte("inner"), 0o644)
	os.WriteFile(filepath.Join(e.dirs[1], "o"), []byte("other volume"), 0o644)
	links := map[string]string{
		"rel":       "dir/sub/f",
		"reldir":    "dir/sub",
		"abs":       "/data/dir/sub/f",
		"absdir":    "/data/dir",
		"toother":   "/other/o",
		"etc":       "/etc",
		"up":        "../../../etc/passwd",
		"upcanary":  "../canary",
		"canaryabs": e.outer + "/canary",
		"loop":      "loop",
		"dangling":  "newfile",
		"dir/back":  "../rel",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(host, l)); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func(p string) (int64, string) {
		o := e.open(0, p, oRdonly, 0)
		if o < 0 {
			return o, ""
		}
		defer e.obj(sysClose, o)
		n, b := e.read(o, 100)
		return n, string(b)
	}
	for _, c := range []struct {
		path string
		want string
		err  syscall.Errno
	}{
		{"rel", "inner", 0},
		{"reldir/f", "inner", 0},
		{"abs", "inner", 0},
		{"absdir/sub/f", "inner", 0},
		{"dir/back", "inner", 0},
		{"toother", "other volume", 0},
		{"etc/passwd", "", syscall.ENOENT},
		{"up", "", syscall.ENOENT},
		{"upcanary", "", syscall.ENOENT},
		{"canaryabs", "", syscall.ENOENT},
		{"loop", "", syscall.ELOOP},
	} {
		r, got := readAll(c.path)
		if c.err != 0 {
			if r != neg(c.err) {
				t.Errorf("open %s: %d (%v), want %v", c.path, r, errOf(r), c.err)
			}
			continue
		}
		if r < 0 || got != c.want {
			t.Errorf("read %s: %d (%v) %q, want %q", c.path, r, errOf(r), got, c.want)
		}
	}
	// lstat and stat, readlink.
	r, st := e.stat(0, "rel", atSymlinkNofollow)
	if r != 0 || st.Mode&sIFMT != sIFLNK {
		t.Fatalf("lstat rel: %d %o", r, st.Mode)
	}
	r, st = e.stat(0, "rel", 0)
	if r != 0 || st.Mode&sIFMT != sIFREG || st.Size != 5 {
		t.Fatalf("stat rel: %d %o %d", r, st.Mode, st.Size)
	}
	a := e.buf(64)
	want(t, "readlink", e.path(sysReadlinkat, 0, "up", 0, 0, a, 64), int64(len(links["up"])))
	if got := string(e.bytes(a, len(links["up"]))); got != links["up"] {
		t.Fatalf("readlink %q", got)
	}
	want(t, "readlink of a file", e.path(sysReadlinkat, 0, "dir/sub/f", 0, 0, a, 64), neg(syscall.EINVAL))
	want(t, "O_NOFOLLOW", e.open(0, "rel", oRdonly|oNofollow, 0), neg(syscall.ELOOP))
	// O_CREAT through a dangling link creates its target; O_EXCL does not
	// follow it.
	want(t, "O_EXCL on a link", e.open(0, "dangling", oCreat|oExcl|oWronly, 0o644), neg(syscall.EEXIST))
	o := e.open(0, "dangling", oCreat|oWronly, 0o644)
	want(t, "create through a link", min(o, 0), 0)
	e.obj(sysClose, o)
	if _, err := os.Lstat(filepath.Join(host, "newfile")); err != nil {
		t.Fatalf("the link's target was not created: %v", err)
	}
	// Creating through a link that leaves the volume fails.
	want(t, "create out", e.open(0, "etc/x", oCreat|oWronly, 0o644), neg(syscall.ENOENT))
	// symlinkat stores the target as given; unlink removes the link.
	want(t, "symlink", e.path(sysSymlinkat, 0, "mine", e.put([]byte("/etc/shadow\x00"))), 0)
	if got, _ := os.Readlink(filepath.Join(host, "mine")); got != "/etc/shadow" {
		t.Fatalf("host link %q", got)
	}
	want(t, "unlink a link", e.path(sysUnlinkat, 0, "rel", 0, 0, 0), 0)
	if _, err := os.Stat(filepath.Join(host, "dir", "sub", "f")); err != nil {
		t.Fatalf("target removed with its link")
	}
	// Hard link to a link (not followed), rename of a link.
	want(t, "link a link", e.two(sysLinkat, 0, "abs", "abs2", 0, 0, 0, 0, 0), 0)
	want(t, "rename a link", e.two(sysRenameat2, 0, "abs2", "abs3", 0, 0, 0, 0, 0), 0)
	if got, _ := os.Readlink(filepath.Join(host, "abs3")); got != links["abs"] {
		t.Fatalf("renamed link %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(e.outer, "canary")); string(b) != canary {
		t.Fatalf("canary changed: %q", b)
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, "/ro:ro")
	os.WriteFile(filepath.Join(e.dirs[0], "f"), []byte("data"), 0o644)
	rofs := neg(syscall.EROFS)
	want(t, "create", e.open(0, "new", oCreat|oWronly, 0o644), rofs)
	want(t, "open for writing", e.open(0, "f", oWronly, 0), rofs)
	want(t, "O_TRUNC", e.open(0, "f", oRdonly|oTrunc, 0), rofs)
	want(t, "mkdir", e.path(sysMkdirat, 0, "d", 0, 0, 0o755), rofs)
	want(t, "unlink", e.path(sysUnlinkat, 0, "f", 0, 0, 0), rofs)
	want(t, "rename", e.two(sysRenameat2, 0, "f", "g", 0, 0, 0, 0, 0), rofs)
	want(t, "chmod", e.path(sysFchmodat, 0, "f", 0, 0, 0o600), rofs)
	want(t, "truncate", e.path(sysTruncate, 0, "f", 0, 0), rofs)
	want(t, "symlink", e.path(sysSymlinkat, 0, "l", e.put([]byte("f\x00"))), rofs)
	want(t, "access W", e.path(sysFaccessat, 0, "f", 0, 0, wOK), rofs)
	o := e.open(0, "f", oRdonly, 0)
	n, b := e.read(o, 10)
	if n != 4 || string(b) != "data" {
		t.Fatalf("read %d %q", n, b)
	}
	sfs := e.buf(statfsSize)
	want(t, "statfs", e.obj(sysFstatfs, o, sfs), 0)
	if binary.LittleEndian.Uint64(e.bytes(sfs+80, 8))&stRdonly == 0 {
		t.Fatalf("statfs of a read-only volume lacks ST_RDONLY")
	}
	if b, _ := os.ReadFile(filepath.Join(e.dirs[0], "f")); string(b) != "data" {
		t.Fatalf("changed: %q", b)
	}
}

func TestCmdline(t *testing.T) {
	got := parseCmdline("console=x virtio_mmio.device=0x200@0xd0000000:5 brique.vol=vol0:/data brique.vol=vol1:/srv/www:ro brique.vol=bad brique.vol=vol3:/")
	if len(got) != 2 || got[0] != (spec{"vol0", "/data", false}) || got[1] != (spec{"vol1", "/srv/www", true}) {
		t.Fatalf("parseCmdline: %+v", got)
	}
}

// TestStatLayout checks statBuf against syscall.Stat_t (struct stat).
func TestStatLayout(t *testing.T) {
	if n := binary.Size(syscall.Stat_t{}); n != statSize {
		t.Fatalf("sizeof(struct stat) = %d, statSize %d", n, statSize)
	}
	b := make([]byte, statSize)
	a := p9.Attr{Mode: 0o100644, UID: 1, GID: 2, NLink: 3, RDev: 4, Size: 5, BlockSize: 6, Blocks: 7,
		ATimeSeconds: 8, ATimeNanoSeconds: 9, MTimeSeconds: 10, MTimeNanoSeconds: 11, CTimeSeconds: 12, CTimeNanoSeconds: 13}
	statBuf(b).fill(14, p9.QID{Path: 15}, &a)
	var st syscall.Stat_t
	binary.Read(bytes.NewReader(b), binary.LittleEndian, &st)
	w := syscall.Stat_t{Dev: 14, Ino: 15, Nlink: 3, Mode: 0o100644, Uid: 1, Gid: 2, Rdev: 4, Size: 5, Blksize: 6, Blocks: 7,
		Atim: syscall.Timespec{Sec: 8, Nsec: 9}, Mtim: syscall.Timespec{Sec: 10, Nsec: 11}, Ctim: syscall.Timespec{Sec: 12, Nsec: 13}}
	if st != w {
		t.Fatalf("decoded %+v\nwant    %+v", st, w)
	}
}

// TestStatfsLayout checks statfsBuf against syscall.Statfs_t.
func TestStatfsLayout(t *testing.T) {
	if n := binary.Size(syscall.Statfs_t{}); n != statfsSize {
		t.Fatalf("sizeof(struct statfs) = %d, statfsSize %d", n, statfsSize)
	}
	b := make([]byte, statfsSize)
	statfsBuf(b).fill(&p9.FSStat{Type: 1, BlockSize: 2, Blocks: 3, BlocksFree: 4, BlocksAvailable: 5, Files: 6, FilesFree: 7, FSID: 8<<32 | 9, NameLength: 10}, true)
	var s syscall.Statfs_t
	binary.Read(bytes.NewReader(b), binary.LittleEndian, &s)
	w := syscall.Statfs_t{Type: 1, Bsize: 2, Blocks: 3, Bfree: 4, Bavail: 5, Files: 6, Ffree: 7, Fsid: syscall.Fsid{X__val: [2]int32{9, 8}}, Namelen: 10, Frsize: 2, Flags: stRdonly}
	if s != w {
		t.Fatalf("decoded %+v\nwant    %+v", s, w)
	}
}

// TestDirentLayout parses putDirent's records with the syscall package.
func TestDirentLayout(t *testing.T) {
	b := make([]byte, 256)
	n := putDirent(b, 7, 1, syscall.DT_REG, "a")
	n += putDirent(b[n:], 8, 2, dtDir, "longer-name")
	if n%8 != 0 || n != direntLen("a")+direntLen("longer-name") {
		t.Fatalf("records of %d bytes", n)
	}
	_, _, names := syscall.ParseDirent(b[:n], -1, nil)
	if strings.Join(names, ",") != "a,longer-name" {
		t.Fatalf("parsed %q", names)
	}
}

// TestTransportConcurrent uses one volume's 9P client from many
// goroutines at once (the library allows it, and its finalizers do it):
// more requests than slots, replies completed out of order, big reads.
func TestTransportConcurrent(t *testing.T) {
	e := newEnv(t, "/data")
	v := e.s.vols[0]
	big := bytes.Repeat([]byte("concurrent"), 30000) // 300 KB: 3 reads each
	if err := os.WriteFile(filepath.Join(e.dirs[0], "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		go func() {
			errs <- func() error {
				for i := 0; i < 20; i++ {
					_, f, _, err := v.walk([]string{"big"})
					if err != nil {
						return err
					}
					if _, _, err := f.Open(p9.ReadOnly); err != nil {
						f.Close()
						return err
					}
					got := make([]byte, len(big)+1)
					n, err := f.ReadAt(got, 0)
					f.Close()
					if n != len(big) || !bytes.Equal(got[:n], big) {
						return fmt.Errorf("read %d bytes (%v), equal %v", n, err, bytes.Equal(got[:n], big))
					}
				}
				return nil
			}()
		}()
	}
	for g := 0; g < 16; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
