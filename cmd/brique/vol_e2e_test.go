package main_test

// End-to-end tests of host volumes (brique run -v HOSTDIR:GUESTDIR[:ro]):
// guest programs that use guest/vol (the volume service) on directories
// of the host, served by brique-9pd; the tests check the host's side.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"brique.dev/brique/internal/kvmtest"
	"brique.dev/brique/internal/testutil"
)

// need9pd builds brique-9pd next to the brique binary, where brique run
// looks for it.
func need9pd(t *testing.T) {
	t.Helper()
	a := getArtifact("bin:brique-9pd")
	a.once.Do(func() {
		a.res = testutil.Cmd{Dir: repoRoot}.Run(t, "go", "build", "-o", workDir, "./cmd/brique-9pd")
		a.ok = a.res.Code == 0
	})
	if !a.ok {
		t.Fatalf("go build ./cmd/brique-9pd failed:\n%s", a.res)
	}
}

// volImage builds program (one file of package main) into an image once
// per key.
func volImage(t *testing.T, key, program string) string {
	t.Helper()
	need9pd(t)
	a := getArtifact("volimage:" + key)
	a.once.Do(func() {
		dir := newModule(t, "example.com/"+key, map[string]string{"main.go": program})
		a.path = filepath.Join(workDir, key+".img")
		a.res = brique(t, dir, "build", "-o", a.path, ".")
		a.ok = a.res.Code == 0
	})
	if !a.ok {
		t.Fatalf("brique build of %s failed:\n%s", key, a.res)
	}
	return a.path
}

// volRun runs image with brique run, without a network, and the given
// flags (volumes) and program arguments.
func volRun(t *testing.T, image string, flags []string, args ...string) testutil.Result {
	t.Helper()
	all := append([]string{"run", "--net", "none"}, flags...)
	all = append(all, image)
	return brique(t, "", append(all, args...)...)
}

// The programs import guest/vol themselves: the builder does not link it
// yet.
const volPrologue = `package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

var (
	_ = errors.Is
	_ = io.EOF
	_ = sort.Strings
	_ = strings.Join
	_ = syscall.EROFS
	_ = time.Now
	_ = sha256.Sum256
	_ = filepath.Join
	_ = unsafe.Sizeof(0)
)

func check(what string, err error) {
	if err != nil {
		fmt.Println("FAIL", what, err)
		os.Exit(1)
	}
}
`

const volFilesProgram = volPrologue + `
func main() {
	b, err := os.ReadFile("/data/from-host.txt")
	check("read a host file", err)
	fmt.Printf("host file: %q\n", b)

	check("write", os.WriteFile("/data/a.txt", []byte("hello "), 0o644))
	f, err := os.OpenFile("/data/a.txt", os.O_WRONLY|os.O_APPEND, 0)
	check("open append", err)
	_, err = f.WriteString("volume\n")
	check("append", err)
	check("fsync", f.Sync())
	check("close", f.Close())
	b, err = os.ReadFile("/data/a.txt")
	check("read back", err)
	fmt.Printf("a.txt: %q\n", b)

	big := make([]byte, 3<<20+12345) // several 9P messages each way
	for i := range big {
		big[i] = byte(i * 7)
	}
	check("big write", os.WriteFile("/data/big.bin", big, 0o600))
	got, err := os.ReadFile("/data/big.bin")
	check("big read", err)
	fmt.Println("big roundtrip:", len(got) == len(big) && sha256.Sum256(got) == sha256.Sum256(big))
	f, err = os.Open("/data/big.bin")
	check("open big", err)
	_, err = f.Seek(1<<20+3, io.SeekStart)
	check("seek", err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(f, buf)
	check("read at offset", err)
	fmt.Println("seek read ok:", string(buf) == string(big[1<<20+3:1<<20+7]))
	f.Close()
	check("truncate", os.Truncate("/data/big.bin", 1000))
	st, err := os.Stat("/data/big.bin")
	check("stat", err)
	fmt.Println("truncated:", st.Size(), st.Mode())

	check("mkdir", os.Mkdir("/data/dir", 0o755))
	check("mkdirall", os.MkdirAll("/data/dir/sub/deep", 0o755))
	err = os.Mkdir("/data/dir", 0o755)
	fmt.Println("mkdir again exists:", errors.Is(err, os.ErrExist))
	check("rename", os.Rename("/data/a.txt", "/data/dir/b.txt"))
	_, err = os.Stat("/data/a.txt")
	fmt.Println("old name gone:", errors.Is(err, os.ErrNotExist))
	check("chmod", os.Chmod("/data/dir/b.txt", 0o600))
	st, err = os.Stat("/data/dir/b.txt")
	check("stat b", err)
	fmt.Println("b.txt:", st.Size(), st.Mode(), st.IsDir())
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	check("chtimes", os.Chtimes("/data/dir/b.txt", mt, mt))

	check("symlink", os.Symlink("b.txt", "/data/dir/link"))
	target, err := os.Readlink("/data/dir/link")
	check("readlink", err)
	b, err = os.ReadFile("/data/dir/link")
	check("read through the link", err)
	lst, err := os.Lstat("/data/dir/link")
	check("lstat", err)
	fmt.Printf("link -> %s: %q symlink=%v\n", target, b, lst.Mode()&os.ModeSymlink != 0)
	check("absolute symlink", os.Symlink("/data/dir/sub", "/data/abs"))
	check("write through a directory link", os.WriteFile("/data/abs/x.txt", []byte("x"), 0o644))

	ents, err := os.ReadDir("/data/dir")
	check("readdir", err)
	var names []string
	for _, e := range ents {
		names = append(names, fmt.Sprintf("%s:%v", e.Name(), e.Type()))
	}
	fmt.Println("dir:", strings.Join(names, " "))
	var walk []string
	check("walk", filepath.WalkDir("/data", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		walk = append(walk, p)
		return nil
	}))
	fmt.Println("walk:", strings.Join(walk, " "))

	tf, err := os.CreateTemp("/data", "tmp-*")
	check("createtemp", err)
	tf.WriteString("temporary")
	tf.Close()
	check("remove temp", os.Remove(tf.Name()))
	check("remove link", os.Remove("/data/dir/link"))
	check("removeall", os.RemoveAll("/data/dir/sub"))
	err = os.Remove("/data/dir")
	fmt.Println("rmdir non-empty fails:", err != nil)

	// Out of the volume: the kernel refuses to cross.
	err = os.Rename("/data/dir/b.txt", "/tmp/b.txt")
	fmt.Println("rename to /tmp:", errors.Is(err, syscall.EXDEV))
	check("tmp file", os.WriteFile("/tmp/t.txt", []byte("t"), 0o644))
	err = os.Rename("/tmp/t.txt", "/data/t.txt")
	fmt.Println("rename from /tmp:", errors.Is(err, syscall.EXDEV))
	err = os.Link("/tmp/t.txt", "/data/t.txt")
	fmt.Println("link from /tmp:", errors.Is(err, syscall.EXDEV))
	check("hard link inside", os.Link("/data/dir/b.txt", "/data/hard.txt"))

	var sfs syscall.Statfs_t
	check("statfs", syscall.Statfs("/data", &sfs))
	fmt.Println("statfs ok:", sfs.Bsize > 0)
	fmt.Println("done")
}
`

// TestVolumeFiles runs a program that uses a volume the way programs use
// files (create, append, fsync, big files, seek, truncate, mkdir, rename,
// chmod, chtimes, symlinks, readdir, walk, remove, hard links, statfs)
// and checks the result on the host.
func TestVolumeFiles(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volfiles", volFilesProgram)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "from-host.txt"), []byte("written on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := volRun(t, img, []string{"-v", dir + ":/data"})
	want := strings.Join([]string{
		`host file: "written on the host\n"`,
		`a.txt: "hello volume\n"`,
		`big roundtrip: true`,
		`seek read ok: true`,
		`truncated: 1000 -rw-------`,
		`mkdir again exists: true`,
		`old name gone: true`,
		`b.txt: 13 -rw------- false`,
		`link -> b.txt: "hello volume\n" symlink=true`,
		`dir: b.txt:---------- link:L--------- sub:d---------`,
		`walk: /data /data/abs /data/big.bin /data/dir /data/dir/b.txt /data/dir/link /data/dir/sub /data/dir/sub/deep /data/dir/sub/x.txt /data/from-host.txt`,
		`rmdir non-empty fails: true`,
		`rename to /tmp: true`,
		`rename from /tmp: true`,
		`link from /tmp: true`,
		`statfs ok: true`,
		`done`,
	}, "\n") + "\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("want\n%s\n%s", want, r)
	}
	// The host sees it all.
	b, err := os.ReadFile(filepath.Join(dir, "dir", "b.txt"))
	if err != nil || string(b) != "hello volume\n" {
		t.Errorf("dir/b.txt on the host: %q %v", b, err)
	}
	st, err := os.Stat(filepath.Join(dir, "dir", "b.txt"))
	if err != nil || st.Mode().Perm() != 0o600 || !st.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("dir/b.txt mode and time on the host: %v", st)
	}
	if st, err := os.Stat(filepath.Join(dir, "big.bin")); err != nil || st.Size() != 1000 {
		t.Errorf("big.bin on the host: %v %v", st, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "abs")); err != nil || target != "/data/dir/sub" {
		t.Errorf("abs on the host: %q %v (the link is stored as the guest wrote it)", target, err)
	}
	for _, gone := range []string{"a.txt", "dir/link", "dir/sub"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still exists on the host: %v", gone, err)
		}
	}
	var s1, s2 os.FileInfo
	s1, _ = os.Stat(filepath.Join(dir, "dir", "b.txt"))
	s2, _ = os.Stat(filepath.Join(dir, "hard.txt"))
	if s1 == nil || s2 == nil || !os.SameFile(s1, s2) {
		t.Errorf("hard.txt is not a hard link of dir/b.txt")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 5 {
		t.Errorf("host directory holds %d entries, want 5 (abs big.bin dir from-host.txt hard.txt)", len(ents))
	}
}

const volReadOnlyProgram = volPrologue + `
func main() {
	b, err := os.ReadFile("/ro/file.txt")
	check("read", err)
	fmt.Printf("read: %q\n", b)
	ents, err := os.ReadDir("/ro")
	check("readdir", err)
	fmt.Println("entries:", len(ents))
	rofs := func(what string, err error) {
		fmt.Printf("%s: EROFS=%v\n", what, errors.Is(err, syscall.EROFS))
	}
	rofs("create", os.WriteFile("/ro/new.txt", []byte("x"), 0o644))
	_, err = os.OpenFile("/ro/file.txt", os.O_WRONLY, 0)
	rofs("open for writing", err)
	_, err = os.OpenFile("/ro/file.txt", os.O_RDONLY|os.O_TRUNC, 0)
	rofs("O_TRUNC", err)
	rofs("mkdir", os.Mkdir("/ro/d", 0o755))
	rofs("remove", os.Remove("/ro/file.txt"))
	rofs("rename", os.Rename("/ro/file.txt", "/ro/other.txt"))
	rofs("chmod", os.Chmod("/ro/file.txt", 0o600))
	rofs("truncate", os.Truncate("/ro/file.txt", 0))
	rofs("symlink", os.Symlink("file.txt", "/ro/link"))
	rofs("chtimes", os.Chtimes("/ro/file.txt", time.Now(), time.Now()))
	var sfs syscall.Statfs_t
	check("statfs", syscall.Statfs("/ro", &sfs))
	fmt.Println("ST_RDONLY:", sfs.Flags&1 != 0)
	b, err = os.ReadFile("/rw/ok.txt")
	check("other volume", err)
	fmt.Printf("rw volume: %q\n", b)
	check("write rw", os.WriteFile("/rw/ok.txt", []byte("changed"), 0o644))
}
`

// TestVolumeReadOnly: every change to a read-only volume fails with EROFS
// (errors.Is in the guest) and the host directory stays as it was; a
// read-write volume next to it works.
func TestVolumeReadOnly(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volro", volReadOnlyProgram)
	ro, rw := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "file.txt"), []byte("read only"), 0o644)
	os.WriteFile(filepath.Join(rw, "ok.txt"), []byte("rw"), 0o644)
	before := testutil.TakeSnapshot(t, ro)
	r := volRun(t, img, []string{"-v", ro + ":/ro:ro", "-v", rw + ":/rw"})
	var want strings.Builder
	want.WriteString("read: \"read only\"\nentries: 1\n")
	for _, w := range []string{"create", "open for writing", "O_TRUNC", "mkdir", "remove", "rename", "chmod", "truncate", "symlink", "chtimes"} {
		want.WriteString(w + ": EROFS=true\n")
	}
	want.WriteString("ST_RDONLY: true\nrw volume: \"rw\"\n")
	if r.Code != 0 || r.Stdout != want.String() {
		t.Fatalf("want\n%s\n%s", want.String(), r)
	}
	if d := testutil.TakeSnapshot(t, ro).Diff(before); d != "" {
		t.Errorf("the read-only volume changed on the host:\n%s", d)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "ok.txt")); string(b) != "changed" {
		t.Errorf("rw/ok.txt: %q", b)
	}
}

// canaryText is in a file outside the volume: the guest must never read
// or change it.
const canaryText = "CANARY-3f9a1c-outside-the-volume"

const volEscapeProgram = volPrologue + `
func main() {
	show := func(what string, b []byte, err error) {
		if err == nil {
			fmt.Printf("%s: READ %q\n", what, b)
			return
		}
		fmt.Printf("%s: refused (%v)\n", what, errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT))
	}
	// Cleaned by the kernel: the guest's own /etc/passwd, if any.
	b, err := os.ReadFile("/data/../../etc/passwd")
	fmt.Printf("cleaned: %q %v\n", b, err)
	for _, p := range []string{
		"/data/etc/passwd",       // a link to /etc
		"/data/up",               // ../../../etc/passwd
		"/data/canary",           // ../canary: next to the volume
		"/data/abscanary",        // the canary's absolute host path
		"/data/dir/deep",         // ../../canary
		"/data/dir/../../canary", // cleaned: /canary in the guest
	} {
		b, err := os.ReadFile(p)
		show(p, b, err)
	}
	_, err = os.ReadDir("/data/etc")
	show("readdir /data/etc", nil, err)
	// Writes through the links.
	err = os.WriteFile("/data/canary", []byte("overwritten"), 0o644)
	show("write /data/canary", nil, err)
	err = os.WriteFile("/data/dir/deep", []byte("overwritten"), 0o644)
	show("write /data/dir/deep", nil, err)
	err = os.Truncate("/data/abscanary", 0)
	show("truncate /data/abscanary", nil, err)
	err = os.Chmod("/data/canary", 0o777)
	show("chmod /data/canary", nil, err)
	err = os.Chtimes("/data/canary", time.Now(), time.Now())
	show("chtimes /data/canary", nil, err)
	// A link the guest makes itself.
	check("symlink", os.Symlink("../canary", "/data/mine"))
	b, err = os.ReadFile("/data/mine")
	show("read /data/mine", b, err)
	check("symlink abs", os.Symlink("/etc/passwd", "/data/mine2"))
	b, err = os.ReadFile("/data/mine2")
	show("read /data/mine2", b, err)
	// Renames and links out of the volume.
	check("file", os.WriteFile("/data/f", []byte("f"), 0o644))
	err = os.Rename("/data/f", "/tmp/f")
	fmt.Println("rename to /tmp: EXDEV", errors.Is(err, syscall.EXDEV))
	err = os.Rename("/data/f", "/data/../f")
	fmt.Println("rename to /data/../f: EXDEV", errors.Is(err, syscall.EXDEV))
	err = os.Link("/data/f", "/tmp/f")
	fmt.Println("link to /tmp: EXDEV", errors.Is(err, syscall.EXDEV))
	// link(2) makes a new name for the link itself (not followed) ...
	check("hard link of a link", os.Link("/data/canary", "/data/hard"))
	// ... and with AT_SYMLINK_FOLLOW it would link the canary.
	old, _ := syscall.BytePtrFromString("/data/canary")
	nw, _ := syscall.BytePtrFromString("/data/hard2")
	const atFDCWD, atSymlinkFollow = -100, 0x400
	fd := atFDCWD
	_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(fd), uintptr(unsafe.Pointer(old)), uintptr(fd), uintptr(unsafe.Pointer(nw)), atSymlinkFollow, 0)
	if e != 0 {
		err = e
	} else {
		err = nil
	}
	show("hard link of the canary (AT_SYMLINK_FOLLOW)", nil, err)
	// Renaming the link moves the link, not the canary.
	check("rename the link", os.Rename("/data/canary", "/data/canary2"))
	// A directory opened in the volume, and ".." from it.
	d, err := os.Open("/data/dir")
	check("open dir", err)
	fi, err := d.Stat()
	check("stat dir", err)
	fmt.Println("dir:", fi.IsDir())
	d.Close()
	fmt.Println("done")
}
`

// TestVolumeEscapes tries to reach the host outside the volume: "..",
// symbolic links made on the host (absolute, relative climbing out, into
// /etc), links the guest makes, renames and hard links out of the volume.
// Each attempt fails, the canary next to the volume is neither read (its
// text never appears in the guest's output) nor changed.
func TestVolumeEscapes(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volescape", volEscapeProgram)
	outer := t.TempDir()
	vol := filepath.Join(outer, "vol")
	canary := filepath.Join(outer, "canary")
	if err := os.MkdirAll(filepath.Join(vol, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(canary, []byte(canaryText), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"etc":       "/etc",
		"up":        "../../../etc/passwd",
		"canary":    "../canary",
		"abscanary": canary,
		"dir/deep":  "../../canary",
	} {
		if err := os.Symlink(target, filepath.Join(vol, link)); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(canary, old, old)
	r := volRun(t, img, []string{"-v", vol + ":/data"})
	want := `/data/etc/passwd: refused (true)
/data/up: refused (true)
/data/canary: refused (true)
/data/abscanary: refused (true)
/data/dir/deep: refused (true)
/data/dir/../../canary: refused (true)
readdir /data/etc: refused (true)
write /data/canary: refused (true)
write /data/dir/deep: refused (true)
truncate /data/abscanary: refused (true)
chmod /data/canary: refused (true)
chtimes /data/canary: refused (true)
read /data/mine: refused (true)
read /data/mine2: refused (true)
rename to /tmp: EXDEV true
rename to /data/../f: EXDEV true
link to /tmp: EXDEV true
hard link of the canary (AT_SYMLINK_FOLLOW): refused (true)
dir: true
done
`
	cleaned, rest, _ := strings.Cut(r.Stdout, "\n")
	if r.Code != 0 || rest != want {
		t.Errorf("want\n%s\n%s", want, r)
	}
	// "/data/../../etc/passwd" is "/etc/passwd" in the guest: its own
	// file (or none), never the host's.
	passwd, _ := os.ReadFile("/etc/passwd")
	if host := fmt.Sprintf("cleaned: %q <nil>", passwd); cleaned == host {
		t.Errorf("the guest read the host's /etc/passwd: %s", cleaned)
	}
	for _, secret := range []string{canaryText, string(passwd)} {
		if secret != "" && (strings.Contains(r.Stdout, secret) || strings.Contains(r.Stderr, secret)) {
			t.Errorf("the guest's output holds %q from outside the volume\n%s", secret, r)
		}
	}
	// Outside the volume nothing changed: the canary (content, mode,
	// times) ...
	b, err := os.ReadFile(canary)
	st, _ := os.Stat(canary)
	if err != nil || string(b) != canaryText || st.Mode().Perm() != 0o644 || !st.ModTime().Equal(old) {
		t.Errorf("the canary changed: %q %v %v", b, err, st)
	}
	// ... and nothing appeared next to it.
	if ents, _ := os.ReadDir(outer); len(ents) != 2 {
		t.Errorf("%d entries next to the volume, want 2 (canary, vol)", len(ents))
	}
	for _, l := range []string{"canary2", "hard"} {
		if target, err := os.Readlink(filepath.Join(vol, l)); err != nil || target != "../canary" {
			t.Errorf("%s: %q %v, want a link to ../canary", l, target, err)
		}
	}
}

const volDurabilityProgram = volPrologue + `
func main() {
	f, err := os.OpenFile("/data/log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	check("open", err)
	for i := 1; ; i++ {
		_, err := fmt.Fprintf(f, "record %06d %s\n", i, strings.Repeat("x", i%97))
		check("write", err)
		check("fsync", f.Sync())
		fmt.Printf("ack %d\n", i)
	}
}
`

// TestVolumeDurability kills brique run (SIGKILL) right after the guest
// acknowledged a record it wrote and fsynced: every acknowledged record is
// in the host file.
func TestVolumeDurability(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "voldurable", volDurabilityProgram)
	for _, killAt := range []int{1, 5, 20, 100} {
		t.Run(fmt.Sprintf("ack%d", killAt), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(briqueBin, "run", "--net", "none", "-v", dir+":/data", img)
			cmd.Env = briqueEnv()
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var waitErr error
			go func() {
				waitErr = cmd.Wait()
				close(done)
			}()
			timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			defer timer.Stop()
			acked := 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
				if err != nil || !strings.HasPrefix(sc.Text(), "ack ") {
					t.Fatalf("unexpected output %q\nstderr:\n%s", sc.Text(), stderr.String())
				}
				acked = n
				if n >= killAt {
					cmd.Process.Kill() // SIGKILL: nothing is flushed on the way out
					break
				}
			}
			go io.Copy(io.Discard, out)
			<-done
			if acked < killAt {
				t.Fatalf("the guest acknowledged %d records, then stopped: %v\nstderr:\n%s", acked, waitErr, stderr.String())
			}
			b, err := os.ReadFile(filepath.Join(dir, "log"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			for i := 1; i <= acked; i++ {
				want := fmt.Sprintf("record %06d %s", i, strings.Repeat("x", i%97))
				if i > len(lines) || lines[i-1] != want {
					t.Fatalf("acknowledged record %d is missing from the host file (%d bytes, %d lines)", i, len(b), len(lines))
				}
			}
			t.Logf("killed after ack %d: %d records acknowledged, %d bytes on the host", killAt, acked, len(b))
		})
	}
}

// TestVolumeFileServerExample runs examples/fileserver with its site in
// the root file system and a volume for the access log, fetches pages and
// checks the log on the host.
func TestVolumeFileServerExample(t *testing.T) {
	kvmtest.RequireKVM(t)
	need9pd(t)
	site := filepath.Join(repoRoot, "examples", "fileserver", "site")
	a := getArtifact("image:fileserver")
	a.once.Do(func() {
		a.path = filepath.Join(workDir, "fileserver.img")
		a.res = brique(t, repoRoot, "build", "--rootfs", site, "-o", a.path, "./examples/fileserver")
		a.ok = a.res.Code == 0
	})
	if !a.ok {
		t.Fatalf("brique build of examples/fileserver failed:\n%s", a.res)
	}
	logs := t.TempDir()
	port := freePort(t)
	s := startBrique(t, nil, "serving", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "-v", logs+":/data", a.path)
	index, _ := os.ReadFile(filepath.Join(site, "index.html"))
	css, _ := os.ReadFile(filepath.Join(site, "static", "style.css"))
	for _, c := range []struct{ path, want string }{{"/", string(index)}, {"/static/style.css", string(css)}} {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d%s", port, c.path))
		if err != nil || body != c.want {
			t.Fatalf("GET %s: %v\n%q\nbrique output:\n%s", c.path, err, body, s.out)
		}
	}
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/missing", port)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("GET /missing: %v", err)
	}
	// Each line is written before the handler returns, hence before the
	// response ends.
	b, err := os.ReadFile(filepath.Join(logs, "access.log"))
	lines := testutil.Lines(string(b))
	if err != nil || len(lines) != 3 {
		t.Fatalf("access.log: %v\n%s", err, b)
	}
	for i, w := range []string{`GET "/" 200`, `GET "/static/style.css" 200`, `GET "/missing" 404`} {
		if !strings.Contains(lines[i], w) {
			t.Errorf("access.log line %d: %q, want %q in it", i+1, lines[i], w)
		}
	}
}

const volConcurrentProgram = volPrologue + `
func main() {
	const goroutines, files = 8, 60
	done := make(chan error)
	for g := 0; g < goroutines; g++ {
		go func() {
			done <- func() error {
				dir := fmt.Sprintf("/data/g%d", g)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				for i := 0; i < files; i++ {
					p := fmt.Sprintf("%s/f%03d", dir, i)
					want := strings.Repeat(fmt.Sprintf("%d/%d ", g, i), 100+i)
					if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
						return err
					}
					got, err := os.ReadFile(p)
					if err != nil || string(got) != want {
						return fmt.Errorf("%s: %v (%d bytes)", p, err, len(got))
					}
					if _, err := os.Stat(p); err != nil {
						return err
					}
				}
				ents, err := os.ReadDir(dir)
				if err != nil || len(ents) != files {
					return fmt.Errorf("readdir %s: %d entries, %v", dir, len(ents), err)
				}
				return nil
			}()
		}()
	}
	for g := 0; g < goroutines; g++ {
		select {
		case err := <-done:
			check("goroutine", err)
		case <-time.After(time.Minute):
			fmt.Println("FAIL stuck")
			os.Exit(1)
		}
	}
	// Emptying the volume: its root itself stays (EBUSY).
	err := os.RemoveAll("/data")
	fmt.Println("RemoveAll of the volume's root: EBUSY", errors.Is(err, syscall.EBUSY))
	ents, err := os.ReadDir("/data")
	check("readdir", err)
	fmt.Println("left:", len(ents))
}
`

// TestVolumeConcurrent: goroutines use a volume at once (the service
// thread serves one call at a time; callers queue in the kernel).
func TestVolumeConcurrent(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volconcurrent", volConcurrentProgram)
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		r := volRun(t, img, []string{"-v", dir + ":/data"})
		if want := "RemoveAll of the volume's root: EBUSY true\nleft: 0\n"; r.Code != 0 || r.Stdout != want {
			t.Fatalf("run %d: want\n%s\n%s", i, want, r)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Fatalf("run %d: %d entries left on the host: %v", i, len(ents), err)
		}
	}
}

// TestVolumeChdir: the working directory can be inside a volume, and
// relative paths then resolve there.
func TestVolumeChdir(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volchdir", `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("chdir:", os.Chdir("/data/sub"))
	wd, _ := os.Getwd()
	b, err := os.ReadFile("f.txt")
	fmt.Printf("wd %s read %q %v\n", wd, b, err)
	fmt.Println("chdir to a missing directory fails:", os.Chdir("/data/nope") != nil)
	fmt.Println("write:", os.WriteFile("g.txt", []byte("relative\n"), 0o644))
}
`)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "f.txt"), []byte("inside\n"), 0o644)
	r := volRun(t, img, []string{"-v", dir + ":/data"})
	want := "chdir: <nil>\nwd /data/sub read \"inside\\n\" <nil>\nchdir to a missing directory fails: true\nwrite: <nil>\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("want\n%s\n%s", want, r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub", "g.txt")); string(b) != "relative\n" {
		t.Errorf("g.txt on the host: %q", b)
	}
}

const volVectorFchdirProgram = vectorPrologue + `
func wd() string {
	w, err := os.Getwd()
	if err != nil {
		return err.Error()
	}
	return w
}

func main() {
	f, err := os.OpenFile("/data/f.txt", os.O_RDWR, 0)
	check("open", err)
	fd := int(f.Fd())
	a, b, c := make([]byte, 3), []byte{}, make([]byte, 4)
	n, err := readv(fd, a, b, c)
	show("readv", n, err, a, b, c)
	a, c = make([]byte, 4), make([]byte, 100)
	n, err = readv(fd, a, c)
	show("readv short", n, err, a, c[:max(n-4, 0)])
	n, err = readv(fd, a)
	show("readv at EOF", n, err)
	a, c = make([]byte, 2), make([]byte, 3)
	n, err = vec(syscall.SYS_PREADV, fd, 4, a, c)
	show("preadv", n, err, a, c)
	n, err = vec(syscall.SYS_PWRITEV, fd, 0, []byte("AB"), []byte("C"))
	show("pwritev", n, err)
	pos, _ := f.Seek(0, 1)
	fmt.Println("offset after preadv and pwritev:", pos)
	n, err = vec(syscall.SYS_WRITEV, fd, 0, []byte("!"), []byte("?"))
	show("writev", n, err)
	n, err = vec(syscall.SYS_PREADV, fd, -1, a)
	show("preadv at -1", n, err)
	n, err = readv(fd, make([][]byte, 1025)...)
	show("readv 1025 iovecs", n, err)
	n, err = vec(syscall.SYS_PREADV, fd, 0, make([][]byte, 1025)...)
	show("preadv 1025 iovecs", n, err)
	_, _, e := syscall.Syscall(syscall.SYS_READV, uintptr(fd), bad, 1)
	fmt.Println("readv bad iovec array:", e)
	n, err = vec(syscall.SYS_PWRITEV, fd, 0, nil)
	show("pwritev bad buffer", n, err)
	check("close", f.Close())
	got, err := os.ReadFile("/data/f.txt")
	show("content", len(got), err, got)

	d, err := os.Open("/data/sub")
	check("open sub", err)
	_, err = syscall.Read(int(d.Fd()), nil)
	fmt.Println("read of nothing from a directory:", err)
	w, err := os.OpenFile("/data/wo.txt", os.O_WRONLY|os.O_CREATE, 0o644)
	check("open write-only", err)
	_, err = syscall.Read(int(w.Fd()), nil)
	fmt.Println("read of nothing from a write-only file:", err)
	w.Close()
	fmt.Println("fchdir sub:", d.Chdir(), wd())
	got, err = os.ReadFile("in.txt")
	show("relative read", len(got), err, got)
	check("relative write", os.WriteFile("new.txt", []byte("relative\n"), 0o644))
	check("relative mkdir", os.Mkdir("deeper", 0o755))
	d.Close()
	d, err = os.Open("deeper")
	check("open deeper", err)
	fmt.Println("fchdir deeper:", d.Chdir(), wd())
	got, err = os.ReadFile("../in.txt")
	show("dotdot read", len(got), err, got)
	d.Close()
	d, err = os.Open("/data/link")
	check("open link", err)
	fmt.Println("fchdir through a link:", d.Chdir(), wd())
	d.Close()
	d, err = os.Open("/data/old")
	check("open old", err)
	check("rename", os.Rename("/data/old", "/data/renamed"))
	fmt.Println("fchdir after a rename:", d.Chdir(), wd())
	_, err = os.Stat("here.txt")
	fmt.Println("stat in the renamed directory:", err)
	d.Close()
	d, err = os.Open("/data/f.txt")
	check("open file", err)
	fmt.Println("fchdir on a file:", d.Chdir(), wd())
	d.Close()
	d, err = os.Open("/")
	check("open /", err)
	fmt.Println("fchdir out of the volume:", d.Chdir(), wd())
	d.Close()
	d, err = os.Open("/data")
	check("open /data", err)
	fmt.Println("fchdir to the volume's root:", d.Chdir(), wd())
	got, err = os.ReadFile("sub/new.txt")
	show("read from the root", len(got), err, got)
	d.Close()
}
`

// TestVolumeVectoredFchdir: readv, preadv, pwritev and writev on a volume
// file, and fchdir to a volume's directories (also through a symbolic
// link and after a rename), after which relative paths resolve there.
func TestVolumeVectoredFchdir(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := volImage(t, "volvecfchdir", volVectorFchdirProgram)
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{"f.txt": "0123456789abc", "sub/in.txt": "inside\n", "old/here.txt": ""})
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	r := volRun(t, img, []string{"-v", dir + ":/data"})
	want := `readv: 7 <nil> "012" "" "3456"
readv short: 6 <nil> "789a" "bc"
readv at EOF: 0 <nil>
preadv: 5 <nil> "45" "678"
pwritev: 3 <nil>
offset after preadv and pwritev: 13
writev: 2 <nil>
preadv at -1: -1 invalid argument
readv 1025 iovecs: -1 invalid argument
preadv 1025 iovecs: -1 invalid argument
readv bad iovec array: bad address
pwritev bad buffer: -1 bad address
content: 15 <nil> "ABC3456789abc!?"
read of nothing from a directory: is a directory
read of nothing from a write-only file: bad file descriptor
fchdir sub: <nil> /data/sub
relative read: 7 <nil> "inside\n"
fchdir deeper: <nil> /data/sub/deeper
dotdot read: 7 <nil> "inside\n"
fchdir through a link: <nil> /data/sub
fchdir after a rename: <nil> /data/renamed
stat in the renamed directory: <nil>
fchdir on a file: chdir /data/f.txt: not a directory /data/renamed
fchdir out of the volume: <nil> /
fchdir to the volume's root: <nil> /data
read from the root: 9 <nil> "relative\n"
`
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("want\n%s\n%s", want, r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub", "new.txt")); string(b) != "relative\n" {
		t.Errorf("sub/new.txt on the host: %q", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sub", "deeper")); err != nil || !fi.IsDir() {
		t.Errorf("sub/deeper on the host: %v", err)
	}
}
