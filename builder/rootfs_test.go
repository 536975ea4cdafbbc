package builder

import (
	"os"
	"path/filepath"
	"testing"

	"brique.dev/brique/abi"
)

func TestRootFSRoundTrip(t *testing.T) {
	files := []RootFSFile{
		{Path: "/etc", Mode: abi.ModeDir | 0o755},
		{Path: "/etc/hosts", Mode: abi.ModeRegular | 0o644, Data: []byte("127.0.0.1 localhost\n")},
		{Path: "/a", Mode: abi.ModeDir | 0o755},
		{Path: "/a/b", Mode: abi.ModeDir | 0o755},
		{Path: "/a/b/c.txt", Mode: abi.ModeRegular | 0o600, Data: []byte("deep")},
		{Path: "/a.txt", Mode: abi.ModeRegular | 0o644, Data: []byte("sibling of /a")},
		{Path: "/link", Mode: abi.ModeSymlink | 0o777, Data: []byte("/etc/hosts")},
		{Path: "/empty", Mode: abi.ModeRegular | 0o644},
	}
	b, err := EncodeRootFS(files)
	if err != nil {
		t.Fatal(err)
	}
	r := abi.RootFS(b)
	if !r.Valid() {
		t.Fatal("encoded archive is not valid")
	}
	if r.Len() != len(files)+1 {
		t.Fatalf("Len = %d, want %d (with /)", r.Len(), len(files)+1)
	}
	if string(r.Name(0)) != "/" {
		t.Errorf("entry 0 is %q, want /", r.Name(0))
	}
	for _, f := range files {
		i := r.Lookup([]byte(f.Path))
		if i < 0 {
			t.Errorf("Lookup(%q) failed", f.Path)
			continue
		}
		if string(r.Data(i)) != string(f.Data) || r.Mode(i) != f.Mode {
			t.Errorf("%s: data %q mode %o, want %q %o", f.Path, r.Data(i), r.Mode(i), f.Data, f.Mode)
		}
	}
	for _, missing := range []string{"/nope", "/a/b/c", "/etc/hosts/x", "", "/A"} {
		if i := r.Lookup([]byte(missing)); i >= 0 {
			t.Errorf("Lookup(%q) = %d, want -1", missing, i)
		}
	}
	var rootChildren, aChildren []string
	for i := 0; i < r.Len(); i++ {
		if r.IsChild(i, []byte("/")) {
			rootChildren = append(rootChildren, string(r.BaseName(i)))
		}
		if r.IsChild(i, []byte("/a")) {
			aChildren = append(aChildren, string(r.BaseName(i)))
		}
	}
	if len(rootChildren) != 5 || len(aChildren) != 1 || aChildren[0] != "b" {
		t.Errorf("children of / = %v (want 5), of /a = %v (want [b])", rootChildren, aChildren)
	}
	// Corruption is detected.
	for _, cut := range []int{0, 8, 20, len(b) / 2} {
		if abi.RootFS(b[:cut]).Valid() && cut < len(b)/2 {
			t.Errorf("archive cut at %d still valid", cut)
		}
	}
	bad := append([]byte{}, b...)
	bad[abi.RootFSHeader+24] = 0xFF // a data offset far outside
	bad[abi.RootFSHeader+31] = 0x7F
	if abi.RootFS(bad).Valid() {
		t.Error("archive with an out-of-range data offset is valid")
	}
}

func TestRootFSRejects(t *testing.T) {
	for _, files := range [][]RootFSFile{
		{{Path: "relative", Mode: abi.ModeRegular}},
		{{Path: "/trailing/", Mode: abi.ModeDir}},
		{{Path: "/x", Mode: abi.ModeRegular}, {Path: "/x", Mode: abi.ModeRegular}},
		{{Path: "/orphan/file", Mode: abi.ModeRegular}},
	} {
		if _, err := EncodeRootFS(files); err == nil {
			t.Errorf("EncodeRootFS(%v) succeeded", files)
		}
	}
}

func TestReadTree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "f.txt"), []byte("x"), 0o644)
	os.Symlink("sub/f.txt", filepath.Join(dir, "ln"))
	files, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	for _, f := range files {
		got[f.Path] = f.Mode & abi.ModeType
	}
	want := map[string]uint32{"/": abi.ModeDir, "/sub": abi.ModeDir, "/sub/f.txt": abi.ModeRegular, "/ln": abi.ModeSymlink}
	for p, m := range want {
		if got[p] != m {
			t.Errorf("%s: type %o, want %o (all: %v)", p, got[p], m, got)
		}
	}
	if _, err := readTree(filepath.Join(dir, "sub", "f.txt")); err == nil {
		t.Error("readTree of a file succeeded")
	}
	if _, err := readTree(filepath.Join(dir, "missing")); err == nil {
		t.Error("readTree of a missing directory succeeded")
	}
}
