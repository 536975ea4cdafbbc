package p9_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	hp9 "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/p9"
	"brique.dev/brique/monitor/virtio/p9/internal/hookfs"
	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

// rerror returns the errno of an Rlerror with tag, or fails.
func rerror(t *testing.T, b []byte, tag uint16) linux.Errno {
	t.Helper()
	m := p9.Message(b)
	if len(b) != p9.RlerrorSize || m.Size() != p9.RlerrorSize || m.Type() != p9test.Rlerror {
		t.Fatalf("want an Rlerror, got % x", b)
	}
	if m.Tag() != tag {
		t.Fatalf("Rlerror tag %d, want %d", m.Tag(), tag)
	}
	return linux.Errno(m.U32(p9.HeaderSize))
}

// handshake negotiates msize and attaches fid 1 to the root.
func (r *rig) handshake(t *testing.T) {
	t.Helper()
	b := r.roundTrip(p9test.Version(testMsize), testMsize)
	if p9test.Type(b) != p9test.Tversion+1 {
		t.Fatalf("Tversion: % x", b)
	}
	b = r.roundTrip(p9test.Attach(1, 1), testMsize)
	if p9test.Type(b) != p9test.Tattach+1 {
		t.Fatalf("Tattach: % x", b)
	}
}

func TestP9ConfigSpace(t *testing.T) {
	r := newRig(t, rigOptions{})
	if got := r.drv.R(virtio.RegDeviceID); got != virtio.DeviceID9P {
		t.Errorf("device ID %d, want 9", got)
	}
	if r.drv.DeviceFeatures()&p9.FeatureMountTag == 0 {
		t.Errorf("VIRTIO_9P_MOUNT_TAG not offered")
	}
	n := r.tr.Read(virtio.RegConfig+p9.ConfigTagLen, 2)
	var tag []byte
	for i := range n {
		tag = append(tag, byte(r.tr.Read(virtio.RegConfig+p9.ConfigTag+i, 1)))
	}
	if n != 4 || string(tag) != "vol0" {
		t.Errorf("config space: tag_len %d, tag %q; want 4, \"vol0\"", n, tag)
	}
	if _, err := p9.New(p9.Config{Tag: strings.Repeat("x", 32), Backend: nopBackend{}}); err == nil {
		t.Errorf("a 32-byte tag was accepted")
	}
}

type nopBackend struct{}

func (nopBackend) WriteMessage([]byte) error       { return nil }
func (nopBackend) ReadMessage([]byte) (int, error) { return 0, os.ErrClosed }
func (nopBackend) Close() error                    { return nil }

// walk walks from f (a fid that stays usable).
func walk(t *testing.T, f hp9.File, names ...string) hp9.File {
	t.Helper()
	_, g, err := f.Walk(names)
	if err != nil {
		t.Fatalf("walk %q: %v", names, err)
	}
	return g
}

func TestP9Files(t *testing.T) {
	r := newRig(t, rigOptions{})
	root := r.attach()

	// create, write, read back
	f, _, _, err := walk(t, root).Create("hello.txt", hp9.ReadWrite, 0o640, hp9.NoUID, hp9.NoGID)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // several messages
	if n, err := f.WriteAt(data, 0); err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, len(data)+10)
	n, err := f.ReadAt(got, 0)
	if err != nil && n != len(data) {
		t.Fatalf("read: %d, %v", n, err)
	}
	if !bytes.Equal(got[:n], data) {
		t.Fatalf("read back %d bytes, not what was written", n)
	}
	if err := f.FSync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	if host, _ := os.ReadFile(filepath.Join(r.dir, "hello.txt")); !bytes.Equal(host, data) {
		t.Fatalf("the host file has %d bytes, not the data written", len(host))
	}
	st, _ := os.Stat(filepath.Join(r.dir, "hello.txt"))
	if st.Mode().Perm() != 0o640&^umask() {
		t.Errorf("created with mode %v", st.Mode())
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Errorf("created with uid %d, not the server's %d", uid, os.Getuid())
	}

	// getattr, truncate, chmod, times
	g := walk(t, root, "hello.txt")
	_, valid, attr, err := g.GetAttr(hp9.AttrMaskAll)
	if err != nil || !valid.Size || attr.Size != uint64(len(data)) || !attr.Mode.IsRegular() {
		t.Fatalf("getattr: %v %+v %v", valid, attr, err)
	}
	if err := g.SetAttr(hp9.SetAttrMask{Size: true, Permissions: true, MTime: true, MTimeNotSystemTime: true},
		hp9.SetAttr{Size: 5, Permissions: 0o600, MTimeSeconds: 1_000_000_000}); err != nil {
		t.Fatalf("setattr: %v", err)
	}
	st, _ = os.Stat(filepath.Join(r.dir, "hello.txt"))
	if st.Size() != 5 || st.Mode().Perm() != 0o600 || st.ModTime().Unix() != 1_000_000_000 {
		t.Errorf("after setattr: size %d mode %v mtime %v", st.Size(), st.Mode(), st.ModTime())
	}

	// mkdir, rename into it, readdir
	if _, err := root.Mkdir("sub", 0o755, hp9.NoUID, hp9.NoGID); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	sub := walk(t, root, "sub")
	if err := root.RenameAt("hello.txt", sub, "moved.txt"); err != nil {
		t.Fatalf("renameat: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "sub", "moved.txt")); err != nil {
		t.Errorf("after renameat: %v", err)
	}
	for i := range 300 { // more entries than one Treaddir returns
		os.WriteFile(filepath.Join(r.dir, "sub", "f"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+strconv.Itoa(i)), nil, 0o644)
	}
	want, _ := os.ReadDir(filepath.Join(r.dir, "sub"))
	names := readdir(t, walk(t, sub))
	if len(names) != len(want) {
		t.Errorf("readdir: %d entries, want %d", len(names), len(want))
	}
	for i, e := range want {
		if i < len(names) && names[i] != e.Name() {
			t.Errorf("readdir entry %d: %q, want %q", i, names[i], e.Name())
			break
		}
	}

	// symlink, readlink
	if _, err := root.Symlink("sub/moved.txt", "link", hp9.NoUID, hp9.NoGID); err != nil {
		t.Fatalf("symlink: %v", err)
	}
	l := walk(t, root, "link")
	if target, err := l.Readlink(); err != nil || target != "sub/moved.txt" {
		t.Errorf("readlink: %q, %v", target, err)
	}
	if target, _ := os.Readlink(filepath.Join(r.dir, "link")); target != "sub/moved.txt" {
		t.Errorf("host symlink: %q", target)
	}

	// hard link inside
	m := walk(t, sub, "moved.txt")
	if err := root.Link(m, "hard"); err != nil {
		t.Fatalf("link: %v", err)
	}
	if a, b := statIno(t, filepath.Join(r.dir, "hard")), statIno(t, filepath.Join(r.dir, "sub", "moved.txt")); a != b {
		t.Errorf("link: different inodes")
	}

	// statfs
	if fs, err := root.StatFS(); err != nil || fs.BlockSize == 0 || fs.NameLength == 0 {
		t.Errorf("statfs: %+v %v", fs, err)
	}

	// unlink a file, a directory
	if err := root.UnlinkAt("hard", 0); err != nil {
		t.Errorf("unlinkat: %v", err)
	}
	os.RemoveAll(filepath.Join(r.dir, "sub"))
	os.Mkdir(filepath.Join(r.dir, "empty"), 0o755)
	if err := root.UnlinkAt("empty", unix.AT_REMOVEDIR); err != nil {
		t.Errorf("unlinkat AT_REMOVEDIR: %v", err)
	}
	if err := root.UnlinkAt("absent", 0); !errors.Is(err, linux.ENOENT) {
		t.Errorf("unlinkat of a missing name: %v, want ENOENT", err)
	}
	ents, _ := os.ReadDir(r.dir)
	if len(ents) != 1 || ents[0].Name() != "link" {
		t.Errorf("left in the volume: %v", ents)
	}
	if errs := r.errorsSeen(); len(errs) > 0 {
		t.Errorf("device diagnostics on a clean run: %v", errs)
	}
}

func readdir(t *testing.T, dir hp9.File) []string {
	t.Helper()
	if _, _, err := dir.Open(hp9.ReadOnly); err != nil {
		t.Fatalf("open dir: %v", err)
	}
	var names []string
	off := uint64(0)
	for calls := 0; ; calls++ {
		ents, err := dir.Readdir(off, 4096)
		if err != nil {
			t.Fatalf("readdir: %v", err)
		}
		if len(ents) == 0 {
			if calls < 2 {
				t.Errorf("readdir needed %d calls: the count is not honoured", calls)
			}
			break
		}
		for _, e := range ents {
			if e.Name != "." && e.Name != ".." {
				names = append(names, e.Name)
			}
			off = e.Offset
		}
	}
	sort.Strings(names)
	return names
}

func statIno(t *testing.T, p string) uint64 {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func umask() os.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return os.FileMode(m)
}

func TestP9ReadOnly(t *testing.T) {
	r := newRig(t, rigOptions{readOnly: true})
	os.WriteFile(filepath.Join(r.dir, "file"), []byte("data"), 0o644)
	os.Mkdir(filepath.Join(r.dir, "dir"), 0o755)
	os.Symlink("file", filepath.Join(r.dir, "link"))
	root := r.attach()
	f := walk(t, root, "file")
	dir := walk(t, root, "dir")
	for _, c := range []struct {
		name string
		err  error
	}{
		{"create", func() error { _, _, _, err := walk(t, root).Create("new", hp9.WriteOnly, 0o644, 0, 0); return err }()},
		{"mkdir", func() error { _, err := root.Mkdir("new", 0o755, 0, 0); return err }()},
		{"symlink", func() error { _, err := root.Symlink("x", "new", 0, 0); return err }()},
		{"link", root.Link(f, "new")},
		{"mknod", func() error { _, err := root.Mknod("new", hp9.ModeNamedPipe|0o644, 0, 0, 0, 0); return err }()},
		{"renameat", root.RenameAt("file", dir, "file")},
		{"unlinkat", root.UnlinkAt("file", 0)},
		{"rmdir", root.UnlinkAt("dir", unix.AT_REMOVEDIR)},
		{"setattr", walk(t, root, "file").SetAttr(hp9.SetAttrMask{Permissions: true}, hp9.SetAttr{Permissions: 0o777})},
		{"truncate", walk(t, root, "file").SetAttr(hp9.SetAttrMask{Size: true}, hp9.SetAttr{})},
		{"open for writing", func() error { _, _, err := walk(t, root, "file").Open(hp9.WriteOnly); return err }()},
		{"open read-write", func() error { _, _, err := walk(t, root, "file").Open(hp9.ReadWrite); return err }()},
		{"open O_TRUNC", func() error { _, _, err := walk(t, root, "file").Open(hp9.ReadOnly | unix.O_TRUNC); return err }()},
	} {
		if !errors.Is(c.err, linux.EROFS) {
			t.Errorf("%s on a read-only volume: %v, want EROFS", c.name, c.err)
		}
	}
	// Reading works.
	g := walk(t, root, "file")
	if _, _, err := g.Open(hp9.ReadOnly); err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	b := make([]byte, 10)
	if n, _ := g.ReadAt(b, 0); string(b[:n]) != "data" {
		t.Errorf("read %q", b[:n])
	}
	if names := readdirOnce(t, walk(t, root)); strings.Join(names, ",") != "dir,file,link" {
		t.Errorf("readdir: %v", names)
	}
	ents, _ := os.ReadDir(r.dir)
	if len(ents) != 3 {
		t.Errorf("the read-only volume changed: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(r.dir, "file")); string(b) != "data" {
		t.Errorf("the read-only file changed: %q", b)
	}
	if st, _ := os.Stat(filepath.Join(r.dir, "file")); st.Mode().Perm() != 0o644 {
		t.Errorf("the read-only file's mode changed: %v", st.Mode())
	}
}

// readdirOnce lists a directory in one Treaddir.
func readdirOnce(t *testing.T, dir hp9.File) []string {
	t.Helper()
	if _, _, err := dir.Open(hp9.ReadOnly); err != nil {
		t.Fatalf("open dir: %v", err)
	}
	ents, err := dir.Readdir(0, 8192)
	if err != nil {
		t.Fatalf("readdir: %v", err)
	}
	var names []string
	for _, e := range ents {
		if e.Name != "." && e.Name != ".." {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	return names
}

// TestP9Escapes tries to read or change something outside the volume in
// every way 9P allows; each attempt fails and the canary outside is
// intact (checked at cleanup).
func TestP9Escapes(t *testing.T) {
	r := newRig(t, rigOptions{})
	canary := filepath.Join(r.outside, "canary")
	// Every link points into the test's own directory, never at the
	// host's real files: if confinement were broken the test must not
	// damage the machine.
	etc := filepath.Join(r.outside, "etc")
	os.Mkdir(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0\n"), 0o644)
	r.seal()
	os.Mkdir(filepath.Join(r.dir, "d"), 0o755)
	os.WriteFile(filepath.Join(r.dir, "inside"), []byte("in"), 0o644)
	// Links planted on the host side, as a host user or an earlier guest
	// could have.
	os.Symlink(etc, filepath.Join(r.dir, "etc"))
	os.Symlink(canary, filepath.Join(r.dir, "abs"))
	os.Symlink("../canary", filepath.Join(r.dir, "rel"))
	os.Symlink("../../canary", filepath.Join(r.dir, "d", "rel2"))
	os.Symlink(r.outside, filepath.Join(r.dir, "updir"))
	root := r.attach()

	// ".." and friends are refused.
	for _, names := range [][]string{{".."}, {"d", ".."}, {"d", "..", ".."}, {"."}, {"../canary"}, {etc}, {"d/../../canary"}, {""}, {"a\x00b"}} {
		if _, _, err := root.Walk(names); err == nil {
			t.Errorf("walk %q succeeded", names)
		}
	}
	// Tattach with a path outside.
	for _, aname := range []string{"..", "../vol", "/..", "d/../.."} {
		if _, err := r.client().Attach(aname); err == nil {
			t.Errorf("attach %q succeeded", aname)
		}
	}

	// Symlinks are walked to as themselves; nothing goes through them.
	for _, link := range []string{"etc", "abs", "rel", "updir"} {
		l := walk(t, root, link)
		if _, _, err := l.Open(hp9.ReadOnly); err == nil {
			t.Errorf("opening symlink %s succeeded", link)
		}
		if _, _, err := root.Walk([]string{link, "passwd"}); err == nil {
			t.Errorf("walking through symlink %s succeeded", link)
		}
		if _, _, err := root.Walk([]string{link, "canary"}); err == nil {
			t.Errorf("walking through symlink %s to the canary succeeded", link)
		}
		if _, _, _, err := walk(t, root, link).Create("x", hp9.WriteOnly, 0o644, 0, 0); err == nil {
			t.Errorf("creating in symlink %s succeeded", link)
		}
		if err := l.SetAttr(hp9.SetAttrMask{Permissions: true}, hp9.SetAttr{Permissions: 0o777}); err == nil {
			t.Errorf("chmod through symlink %s succeeded", link)
		}
		if err := walk(t, root, link).SetAttr(hp9.SetAttrMask{Size: true}, hp9.SetAttr{}); err == nil {
			t.Errorf("truncate through symlink %s succeeded", link)
		}
		_, _, attr, err := l.GetAttr(hp9.AttrMaskAll)
		if err != nil || !attr.Mode.IsSymlink() {
			t.Errorf("getattr of symlink %s: %v, %v (want the link itself)", link, attr.Mode, err)
		}
	}
	d := walk(t, root, "d")
	if _, _, err := d.Walk([]string{"rel2"}); err != nil {
		t.Errorf("walk to d/rel2: %v", err)
	}
	if _, _, err := root.Walk([]string{"d", "rel2", "x"}); err == nil {
		t.Errorf("walking through d/rel2 succeeded")
	}

	// Names with '/', "." or ".." in every call that takes one.
	bad := []string{"..", ".", "../escaped", "/tmp/escaped", "d/../../escaped", ""}
	for _, name := range bad {
		if _, _, _, err := walk(t, root).Create(name, hp9.WriteOnly, 0o644, 0, 0); err == nil {
			t.Errorf("create %q succeeded", name)
		}
		if _, err := root.Mkdir(name, 0o755, 0, 0); err == nil {
			t.Errorf("mkdir %q succeeded", name)
		}
		if _, err := root.Symlink("x", name, 0, 0); err == nil {
			t.Errorf("symlink %q succeeded", name)
		}
		if err := root.RenameAt("inside", d, name); err == nil {
			t.Errorf("renameat to %q succeeded", name)
		}
		if err := root.RenameAt(name, d, "x"); err == nil {
			t.Errorf("renameat from %q succeeded", name)
		}
		if err := root.Link(walk(t, root, "inside"), name); err == nil {
			t.Errorf("link to %q succeeded", name)
		}
		if err := root.UnlinkAt(name, 0); err == nil {
			t.Errorf("unlinkat %q succeeded", name)
		}
	}
	// Rename out: the only directories a rename can name are fids, and
	// fids are inside; renaming the root itself is refused.
	if err := walk(t, root, "inside").Rename(root, "renamed"); err != nil {
		t.Errorf("rename inside: %v", err)
	}
	if err := walk(t, root).Rename(d, "root"); err == nil {
		t.Errorf("renaming the root succeeded")
	}
	if err := root.RenameAt("rel", d, "rel"); err != nil {
		t.Errorf("renaming a symlink: %v", err)
	}
	if target, _ := os.Readlink(filepath.Join(r.dir, "d", "rel")); target != "../canary" {
		t.Errorf("the renamed symlink reads %q", target)
	}
	// A hard link of a symlink pointing out is a link to the symlink, not
	// to the canary.
	if err := root.Link(walk(t, root, "abs"), "abs2"); err != nil && !errors.Is(err, linux.EPERM) {
		t.Errorf("linking a symlink: %v", err)
	}
	if st, err := os.Lstat(filepath.Join(r.dir, "abs2")); err == nil && st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link of a symlink is a %v", st.Mode())
	}
	// Writing through a symlink at create time: O_EXCL|O_NOFOLLOW.
	if _, _, _, err := walk(t, root).Create("abs", hp9.WriteOnly, 0o644, 0, 0); err == nil {
		t.Errorf("create over a symlink succeeded")
	}
	// A new symlink pointing out can be made (it is only text) but not
	// used.
	if _, err := root.Symlink(filepath.Join(etc, "passwd"), "pw", 0, 0); err != nil {
		t.Fatalf("symlink: %v", err)
	}
	pw := walk(t, root, "pw")
	if _, _, err := pw.Open(hp9.ReadOnly); err == nil {
		t.Errorf("opening a new symlink to a file outside succeeded")
	}
	if target, _ := pw.Readlink(); target != filepath.Join(etc, "passwd") {
		t.Errorf("readlink: %q", target)
	}
	// Special files cannot be made.
	if _, err := root.Mknod("fifo", hp9.ModeNamedPipe|0o644, 0, 0, 0, 0); err == nil {
		t.Errorf("mknod succeeded")
	}
	// A FIFO planted on the host is not opened (it would block).
	unix.Mkfifo(filepath.Join(r.dir, "fifo"), 0o644)
	if _, _, err := walk(t, root, "fifo").Open(hp9.ReadOnly); err == nil {
		t.Errorf("opening a FIFO succeeded")
	}
	r.checkCanary()
}

// TestP9HostSwap: a directory the guest holds a fid for is replaced by a
// symlink to the outside on the host, between the guest's walks.
func TestP9HostSwap(t *testing.T) {
	r := newRig(t, rigOptions{})
	os.Mkdir(filepath.Join(r.dir, "d"), 0o755)
	root := r.attach()
	d := walk(t, root, "d")
	os.Rename(filepath.Join(r.dir, "d"), filepath.Join(r.dir, "old"))
	os.Symlink(r.outside, filepath.Join(r.dir, "d"))
	// The fid is still the directory (now "old").
	if _, err := d.Mkdir("made", 0o755, 0, 0); err != nil {
		t.Fatalf("mkdir in the moved directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "old", "made")); err != nil {
		t.Errorf("mkdir went elsewhere: %v", err)
	}
	// Walking "d" again finds the symlink and stops there.
	if _, _, err := root.Walk([]string{"d", "canary"}); err == nil {
		t.Errorf("walked through the swapped-in symlink")
	}
}

// TestP9Concurrent: a request the server is slow to answer (fsync) does
// not hold up the others.
func TestP9Concurrent(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	r := newRig(t, rigOptions{attacher: func(a hp9.Attacher) hp9.Attacher {
		return slowSync(a, entered, release)
	}})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the rig's cleanup
	os.WriteFile(filepath.Join(r.dir, "f"), []byte("x"), 0o644)
	root := r.attach()
	f := walk(t, root, "f")
	if _, _, err := f.Open(hp9.ReadWrite); err != nil {
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { synced <- f.FSync() }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("fsync did not reach the file system")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, _, err := walk(t, root, "f").GetAttr(hp9.AttrMaskAll); err != nil {
				t.Errorf("getattr during fsync: %v", err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("requests waited for a slow fsync")
	}
	select {
	case <-synced:
		t.Fatal("fsync answered before the file system finished it")
	default:
	}
	unblock()
	if err := <-synced; err != nil {
		t.Errorf("fsync: %v", err)
	}
}

// slowSync wraps an attacher: FSync says so on entered (if there is room)
// and blocks until release is closed.
func slowSync(a hp9.Attacher, entered chan<- struct{}, release <-chan struct{}) hp9.Attacher {
	return hookfs.OnFSync(a, func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
}

// BenchmarkP9Getattr is the cost of one small request through the
// virtqueue, the device, the socket and the server (the test driver
// polls the used ring; no KVM exits).
func BenchmarkP9Getattr(b *testing.B) {
	r := newRig(b, rigOptions{})
	r.roundTrip(p9test.Version(testMsize), testMsize)
	r.roundTrip(p9test.Attach(1, 1), testMsize)
	m := p9test.Msg(p9test.Tgetattr, 2, uint32(1), uint64(0x3fff))
	for b.Loop() {
		r.roundTrip(m, 4096)
	}
}

// BenchmarkP9Read is a 60 KiB read (bytes/s).
func BenchmarkP9Read(b *testing.B) {
	r := newRig(b, rigOptions{})
	os.WriteFile(filepath.Join(r.dir, "f"), make([]byte, 1<<20), 0o644)
	r.roundTrip(p9test.Version(testMsize), testMsize)
	r.roundTrip(p9test.Attach(1, 1), testMsize)
	r.roundTrip(p9test.Msg(p9test.Twalk, 2, uint32(1), uint32(2), uint16(1), "f"), 4096)
	r.roundTrip(p9test.Msg(p9test.Tlopen, 3, uint32(2), uint32(0)), 4096)
	const n = 60 << 10
	m := p9test.Msg(p9test.Tread, 4, uint32(2), uint64(0), uint32(n))
	b.SetBytes(n)
	for b.Loop() {
		r.roundTrip(m, testMsize)
	}
}
