package main_test

// End-to-end tests of vectored and positioned I/O (readv, writev, preadv,
// pwritev) and fchdir on the library OS's own descriptors: the embedded
// root file system, /tmp, pipes, devices and the console.

import (
	"os"
	"path/filepath"
	"testing"

	"brique.dev/brique/internal/kvmtest"
)

// vectorPrologue is the part of the test programs that makes raw vectored
// calls: iovec arrays are built as plain words (one may point nowhere, on
// purpose), the buffers kept alive by the caller.
const vectorPrologue = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"
)

var _ = filepath.Join

// bad is an address nothing is mapped at, natively or in the guest.
const bad = 1 << 46

// iov returns an array of struct iovec for bufs; a nil buffer of length
// n < 0 stands for -n bytes at bad.
func iov(bufs ...[]byte) []uint64 {
	v := make([]uint64, 0, 2*len(bufs))
	for _, b := range bufs {
		switch {
		case b == nil:
			v = append(v, bad, 8)
		case len(b) == 0:
			v = append(v, 0, 0)
		default:
			v = append(v, uint64(uintptr(unsafe.Pointer(&b[0]))), uint64(len(b)))
		}
	}
	return v
}

// vec makes a vectored call: nr is SYS_READV, SYS_WRITEV, SYS_PREADV or
// SYS_PWRITEV; off is ignored by the first two.
func vec(nr uintptr, fd int, off int64, bufs ...[]byte) (int, error) {
	v := iov(bufs...)
	p := uintptr(0)
	if len(v) > 0 {
		p = uintptr(unsafe.Pointer(&v[0]))
	}
	n, _, e := syscall.Syscall6(nr, uintptr(fd), p, uintptr(len(v)/2), uintptr(off), 0, 0)
	runtime.KeepAlive(v)
	runtime.KeepAlive(bufs)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func readv(fd int, bufs ...[]byte) (int, error) { return vec(syscall.SYS_READV, fd, 0, bufs...) }

func show(what string, n int, err error, bufs ...[]byte) {
	fmt.Printf("%s: %d %v", what, n, err)
	for _, b := range bufs {
		fmt.Printf(" %q", b)
	}
	fmt.Println()
}

func check(what string, err error) {
	if err != nil {
		fmt.Println("FAIL", what, err)
		os.Exit(1)
	}
}
`

const vectorProgram = vectorPrologue + `
func main() {
	// A read-only file: in the guest, one of the root file system.
	f, err := os.Open(os.Args[1])
	check("open", err)
	fd := int(f.Fd())
	a, b, c := make([]byte, 3), []byte{}, make([]byte, 4)
	n, err := readv(fd, a, b, c)
	show("rootfs readv", n, err, a, b, c)
	a, c = make([]byte, 8), make([]byte, 100)
	n, err = readv(fd, a, c)
	show("rootfs readv short", n, err, a, c[:max(n-8, 0)])
	n, err = readv(fd, a)
	show("rootfs readv at EOF", n, err)
	a, c = make([]byte, 2), make([]byte, 3)
	n, err = vec(syscall.SYS_PREADV, fd, 4, a, c)
	show("rootfs preadv", n, err, a, c)
	pos, _ := f.Seek(0, 1)
	fmt.Println("rootfs offset after preadv:", pos)
	_, err = vec(syscall.SYS_PWRITEV, fd, 0, a)
	show("rootfs pwritev", 0, err)
	f.Seek(0, 0)
	a = make([]byte, 5)
	n, err = readv(fd, a, nil, c)
	show("rootfs readv, bad second buffer", n, err, a)
	f.Close()

	// /tmp.
	dir, err := os.MkdirTemp("", "vec-")
	check("mkdirtemp", err)
	p := filepath.Join(dir, "f")
	check("write", os.WriteFile(p, []byte("hello, readv world!"), 0o644))
	f, err = os.OpenFile(p, os.O_RDWR, 0)
	check("open tmp", err)
	fd = int(f.Fd())
	a, b, c = make([]byte, 5), []byte{}, make([]byte, 7)
	n, err = readv(fd, a, b, c)
	show("tmp readv", n, err, a, b, c)
	a, c = make([]byte, 4), make([]byte, 100)
	n, err = readv(fd, a, c)
	show("tmp readv short", n, err, a, c[:max(n-4, 0)])
	n, err = readv(fd, a)
	show("tmp readv at EOF", n, err)
	n, err = readv(fd)
	show("tmp readv no iovec", n, err)
	a, c = make([]byte, 2), make([]byte, 3)
	n, err = vec(syscall.SYS_PREADV, fd, 7, a, c)
	show("tmp preadv", n, err, a, c)
	n, err = vec(syscall.SYS_PWRITEV, fd, 0, []byte("HE"), []byte("LLO"))
	show("tmp pwritev", n, err)
	pos, _ = f.Seek(0, 1)
	fmt.Println("tmp offset after preadv and pwritev:", pos)
	n, err = vec(syscall.SYS_PREADV, fd, 100, a)
	show("tmp preadv past EOF", n, err)
	n, err = vec(syscall.SYS_PREADV, fd, -1, a)
	show("tmp preadv at -1", n, err)
	n, err = vec(syscall.SYS_WRITEV, fd, 0, []byte("!"), []byte("?"))
	show("tmp writev", n, err)
	got, err := os.ReadFile(p)
	show("tmp content", len(got), err, got)
	f.Seek(0, 0)
	n, err = readv(fd, make([][]byte, 1025)...)
	show("readv 1025 iovecs", n, err)
	n, err = vec(syscall.SYS_WRITEV, fd, 0, make([][]byte, 1025)...)
	show("writev 1025 iovecs", n, err)
	_, _, e := syscall.Syscall(syscall.SYS_READV, uintptr(fd), bad, 1)
	fmt.Println("readv bad iovec array:", e)
	_, _, e = syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd), bad, 1)
	fmt.Println("writev bad iovec array:", e)
	n, err = readv(fd, nil)
	show("readv bad buffer", n, err)
	a = make([]byte, 5)
	n, err = readv(fd, a, nil)
	show("readv bad second buffer", n, err, a)
	f.Close()
	d, err := os.Open(dir)
	check("open dir", err)
	n, err = readv(int(d.Fd()), make([]byte, 4))
	show("readv on a directory", n, err)
	// fchdir there: relative paths resolve in it.
	check("fchdir", d.Chdir())
	wd, err := os.Getwd()
	fmt.Println("wd is the directory:", wd == dir, err)
	got, err = os.ReadFile("f")
	show("relative read", len(got), err)
	check("back", os.Chdir("/"))
	d.Close()
	os.RemoveAll(dir)

	// A blocking pipe: readv does not wait for more once it has data.
	var pp [2]int
	check("pipe", syscall.Pipe(pp[:]))
	syscall.Write(pp[1], []byte("abc"))
	a, c = make([]byte, 3), make([]byte, 10)
	n, err = readv(pp[0], a, c)
	show("pipe readv", n, err, a)
	syscall.Write(pp[1], []byte("xy"))
	a, c = make([]byte, 0), make([]byte, 4)
	n, err = readv(pp[0], a, c)
	show("pipe readv after an empty iovec", n, err, c[:n])
	n, err = readv(pp[1], c)
	show("readv on the write end", n, err)
	n, err = vec(syscall.SYS_PREADV, pp[0], 0, c)
	show("preadv on a pipe", n, err)
	n, err = vec(syscall.SYS_WRITEV, pp[1], 0, []byte("12"), []byte("345"))
	show("pipe writev", n, err)
	syscall.Close(pp[1])
	a, c = make([]byte, 2), make([]byte, 10)
	n, err = readv(pp[0], a, c)
	show("pipe readv after close", n, err, a, c[:max(n-2, 0)])
	n, err = readv(pp[0], a)
	show("pipe readv at EOF", n, err)
	syscall.Close(pp[0])

	// Devices and the console.
	z, err := os.Open("/dev/zero")
	check("open /dev/zero", err)
	a, c = []byte{1, 2, 3}, []byte{4, 5}
	n, err = readv(int(z.Fd()), a, c)
	show("/dev/zero readv", n, err, a, c)
	a = []byte{7, 7}
	n, err = vec(syscall.SYS_PREADV, int(z.Fd()), 1000, a)
	show("/dev/zero preadv", n, err, a)
	z.Close()
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	check("open /dev/null", err)
	n, err = readv(int(null.Fd()), a)
	show("/dev/null readv", n, err)
	n, err = vec(syscall.SYS_PWRITEV, int(null.Fd()), 5, []byte("ab"), []byte("c"))
	show("/dev/null pwritev", n, err)
	null.Close()
	n, err = readv(0, make([]byte, 8))
	show("stdin readv", n, err)
}
`

// TestVectoredIO runs a program that makes readv, writev, preadv and
// pwritev calls (and an fchdir) on the root file system, /tmp, a pipe,
// devices and standard input, natively and in the unikernel: same output.
func TestVectoredIO(t *testing.T) {
	kvmtest.RequireKVM(t)
	const content = "0123456789abc"
	dir := newModule(t, "example.com/vectored", map[string]string{"main.go": vectorProgram, "root/data.txt": content})
	hostFile := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(hostFile, []byte(content), 0o444); err != nil {
		t.Fatal(err)
	}
	compareModule(t, dir, []string{hostFile}, "--rootfs", filepath.Join(dir, "root"), ".", "--", "/data.txt")
}

// TestVectoredIOBrique checks what differs from Linux on purpose or
// depends on Brique's own files: a writev whose first iovec fills a
// blocking pipe (16 KiB in Brique, 64 KiB on Linux, where the call would
// wait) returns what it wrote, once, instead of waiting and writing it
// again; preadv on a generated /etc file reads at its offset.
func TestVectoredIOBrique(t *testing.T) {
	kvmtest.RequireKVM(t)
	dir := newModule(t, "example.com/vectoredbrique", map[string]string{"main.go": vectorPrologue + `
func main() {
	var pp [2]int
	check("pipe", syscall.Pipe(pp[:]))
	full := make([]byte, 16<<10)
	for i := range full {
		full[i] = byte(i)
	}
	n, err := vec(syscall.SYS_WRITEV, pp[1], 0, full, []byte("more"))
	show("writev filling the pipe", n, err)
	got := make([]byte, 32<<10)
	n, err = syscall.Read(pp[0], got)
	fmt.Println("read back:", n, err, string(got[:n]) == string(full))
	n, err = vec(syscall.SYS_WRITEV, pp[1], 0, []byte("more"))
	show("writev then", n, err)

	f, err := os.Open("/etc/passwd")
	check("open /etc/passwd", err)
	a, c := make([]byte, 2), make([]byte, 4)
	n, err = vec(syscall.SYS_PREADV, int(f.Fd()), 5, a, c)
	show("/etc/passwd preadv", n, err, a, c)
	n, err = readv(int(f.Fd()), a)
	show("/etc/passwd readv from 0", n, err, a)
}
`})
	r := brique(t, dir, "run", ".")
	want := "writev filling the pipe: 16384 <nil>\nread back: 16384 <nil> true\nwritev then: 4 <nil>\n" +
		"/etc/passwd preadv: 6 <nil> \"x:\" \"0:0:\"\n/etc/passwd readv from 0: 2 <nil> \"ro\"\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("want\n%s\n%s", want, r)
	}
}
