package localfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio/p9/localfs"
)

// setup serves a fresh directory inside a scratch one (where "outside"
// holds a canary) and returns the root fid.
func setup(t *testing.T, readOnly bool) (dir, outside string, root p9.File) {
	t.Helper()
	outside = t.TempDir()
	dir = filepath.Join(outside, "vol")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(outside, "canary"), []byte("canary"), 0o644)
	a, err := localfs.Open(dir, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	root, err = a.Attach()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, outside, root
}

func walk(t *testing.T, f p9.File, name string) p9.File {
	t.Helper()
	_, g, err := f.Walk([]string{name})
	if err != nil {
		t.Fatalf("walk %q: %v", name, err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// TestP9Names: the file system refuses names that are not one component,
// whatever the library lets through.
func TestP9Names(t *testing.T) {
	dir, _, root := setup(t, false)
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	f := walk(t, root, "f")
	for _, name := range []string{"", ".", "..", "a/b", "/abs", "../x", "a\x00b", string(make([]byte, 256))} {
		if _, _, err := root.Walk([]string{name}); !errors.Is(err, linux.EINVAL) {
			t.Errorf("walk %q: %v", name, err)
		}
		if _, _, _, err := root.Create(name, p9.WriteOnly, 0o644, 0, 0); !errors.Is(err, linux.EINVAL) {
			t.Errorf("create %q: %v", name, err)
		}
		if _, err := root.Mkdir(name, 0o755, 0, 0); !errors.Is(err, linux.EINVAL) {
			t.Errorf("mkdir %q: %v", name, err)
		}
		if _, err := root.Symlink("t", name, 0, 0); !errors.Is(err, linux.EINVAL) {
			t.Errorf("symlink %q: %v", name, err)
		}
		if err := root.Link(f, name); !errors.Is(err, linux.EINVAL) {
			t.Errorf("link %q: %v", name, err)
		}
		if err := root.RenameAt("f", root, name); !errors.Is(err, linux.EINVAL) {
			t.Errorf("renameat to %q: %v", name, err)
		}
		if err := root.UnlinkAt(name, 0); !errors.Is(err, linux.EINVAL) {
			t.Errorf("unlinkat %q: %v", name, err)
		}
	}
	if _, _, err := root.Walk([]string{"f", "g"}); err == nil {
		t.Errorf("a two-name walk succeeded (the library walks one at a time)")
	}
}

// TestP9NoFollow: symlinks are never followed on the host.
func TestP9NoFollow(t *testing.T) {
	dir, outside, root := setup(t, false)
	canary := filepath.Join(outside, "canary")
	os.Symlink(canary, filepath.Join(dir, "abs"))
	os.Symlink(outside, filepath.Join(dir, "up"))
	abs := walk(t, root, "abs")
	if _, _, attr, err := abs.GetAttr(p9.AttrMaskAll); err != nil || !attr.Mode.IsSymlink() {
		t.Errorf("getattr of a symlink: %v %v", attr.Mode, err)
	}
	if _, _, err := abs.Open(p9.ReadOnly); !errors.Is(err, linux.EPERM) {
		t.Errorf("open of a symlink: %v", err)
	}
	if err := abs.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{}); !errors.Is(err, linux.EPERM) {
		t.Errorf("truncate of a symlink: %v", err)
	}
	if _, _, err := walk(t, root, "up").Walk([]string{"canary"}); !errors.Is(err, linux.ENOTDIR) {
		t.Errorf("walk from a symlink: %v", err)
	}
	if _, _, _, err := root.Create("abs", p9.WriteOnly, 0o644, 0, 0); err == nil {
		t.Errorf("create over a symlink succeeded")
	}
	if _, err := root.Mkdir("abs", 0o755, 0, 0); !errors.Is(err, linux.EEXIST) {
		t.Errorf("mkdir over a symlink: %v", err)
	}
	if b, _ := os.ReadFile(canary); string(b) != "canary" {
		t.Errorf("the canary changed: %q", b)
	}
}

// TestP9Errno: errors keep their number (the library would turn EPERM into
// EACCES and ENOTEMPTY into EEXIST).
func TestP9Errno(t *testing.T) {
	dir, _, root := setup(t, false)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "x"), nil, 0o644)
	if err := root.UnlinkAt("d", unix.AT_REMOVEDIR); err != linux.ENOTEMPTY {
		t.Errorf("rmdir of a full directory: %#v, want ENOTEMPTY", err)
	}
	if _, err := root.Mknod("n", p9.ModeNamedPipe|0o644, 0, 0, 0, 0); err != linux.EPERM {
		t.Errorf("mknod: %#v, want EPERM", err)
	}
	if err := root.UnlinkAt("missing", 0); err != linux.ENOENT {
		t.Errorf("unlink of a missing file: %#v, want ENOENT", err)
	}
	// Tremove (flags 0) of a directory removes it.
	os.Remove(filepath.Join(dir, "d", "x"))
	if err := root.UnlinkAt("d", 0); err != nil {
		t.Errorf("unlinkat(0) of an empty directory: %v", err)
	}
}

func TestP9LocalReadOnly(t *testing.T) {
	dir, _, root := setup(t, true)
	os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644)
	f := walk(t, root, "f")
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err != linux.EROFS {
		t.Errorf("write: %v", err)
	}
	if err := f.FSync(); err != nil {
		t.Errorf("fsync of a read-only file: %v", err)
	}
	if _, err := root.Mknod("n", p9.ModeNamedPipe|0o644, 0, 0, 0, 0); err != linux.EROFS {
		t.Errorf("mknod: %v", err)
	}
}
