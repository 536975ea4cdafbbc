// Volbench measures file I/O in a directory (-dir) that is meant to be a
// host directory: a sequential write and read of one large file and the
// creation of many small files, each synced. briquebench runs it as a
// native process on a host directory, in a runc container on a bind mount
// of one, and as a Brique unikernel on a volume (`brique run -v
// HOSTDIR:/data`), so that the lines can be compared.
//
// It prints one line per measurement, timed inside the program:
//
//	volbench op=seqwrite bytes=268435456 ns=123456789
//	volbench op=create-fsync files=500 bytes=4096 ns=123456789
//	volbench op=seqread bytes=268435456 ns=123456789
//	volbench op=seqread-warm bytes=268435456 ns=123456789
//
// seqwrite creates (or truncates) DIR/volbench-seq.bin and writes -mib MiB
// into it in 1 MiB writes, then fsyncs and closes it: the time covers the
// open, the writes, the fsync and the close. create-fsync makes the
// directory DIR/volbench-small (untimed) and then, for each of -files
// files, creates it (O_CREAT|O_EXCL), writes 4 KiB, fsyncs and closes it.
// seqread reads DIR/volbench-seq.bin back in 1 MiB reads (open to close)
// and checks that each MiB holds its own number; seqread-warm reads it a
// second time at once, with the page cache (the host's, and whatever
// cache a guest keeps) as the first read left it.
//
// -phase splits the work so that a caller can act between the writes and
// the reads (briquebench drops the file from the host's page cache):
// write prints seqwrite and create-fsync and leaves the files; read prints
// the two reads and leaves the files; all (the default) does both and
// removes the files.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

const (
	chunk     = 1 << 20 // bytes per write and read of the large file
	smallSize = 4 << 10 // bytes per small file
	seqName   = "volbench-seq.bin"
	smallName = "volbench-small"
	// magic is in the first 8 bytes of each MiB, XORed with its number.
	magic = 0x62726971_75650000 // "brique\0\0"
)

func main() {
	dir := flag.String("dir", "", "work in `DIR` (required; meant to be a host directory)")
	mib := flag.Int("mib", 256, "size of the large file in `MiB`")
	files := flag.Int("files", 500, "small files to create")
	phase := flag.String("phase", "all", "write, read or all (see the package documentation)")
	flag.Parse()
	switch {
	case *dir == "":
		fail(errors.New("-dir is required"))
	case *mib <= 0 || *files <= 0:
		fail(errors.New("-mib and -files must be positive"))
	case *phase != "write" && *phase != "read" && *phase != "all":
		fail(fmt.Errorf("-phase %q: want write, read or all", *phase))
	}
	seq := filepath.Join(*dir, seqName)
	small := filepath.Join(*dir, smallName)
	if *phase == "write" || *phase == "all" {
		ns, err := seqWrite(seq, *mib)
		check(err)
		fmt.Printf("volbench op=seqwrite bytes=%d ns=%d\n", int64(*mib)*chunk, ns)
		ns, err = createFsync(small, *files)
		check(err)
		fmt.Printf("volbench op=create-fsync files=%d bytes=%d ns=%d\n", *files, smallSize, ns)
	}
	if *phase == "read" || *phase == "all" {
		for _, op := range []string{"seqread", "seqread-warm"} {
			ns, err := seqRead(seq, *mib)
			check(err)
			fmt.Printf("volbench op=%s bytes=%d ns=%d\n", op, int64(*mib)*chunk, ns)
		}
	}
	if *phase == "all" {
		check(os.Remove(seq))
		check(os.RemoveAll(small))
	}
}

// stamp writes MiB number i into the first 8 bytes of b.
func stamp(b []byte, i int) { binary.LittleEndian.PutUint64(b, magic^uint64(i)) }

// seqWrite writes mib MiB to path in 1 MiB writes, fsyncs and closes it,
// and returns the nanoseconds from the open to the close.
func seqWrite(path string, mib int) (int64, error) {
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i*7 + i>>12)
	}
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	for i := 0; i < mib; i++ {
		stamp(buf, i)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return time.Since(start).Nanoseconds(), nil
}

// createFsync makes dir and creates n files of 4 KiB in it, each written,
// fsynced and closed; it returns the nanoseconds the files took.
func createFsync(dir string, n int) (int64, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, err
	}
	buf := make([]byte, smallSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return 0, err
		}
		stamp(buf, i)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return 0, fmt.Errorf("fsync %s: %w", p, err)
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Nanoseconds(), nil
}

// seqRead reads path in 1 MiB reads, checks that it is mib MiB long and
// that each MiB carries its number, and returns the nanoseconds from the
// open to the close.
func seqRead(path string, mib int) (int64, error) {
	buf := make([]byte, chunk)
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	i := 0
	for ; ; i++ {
		_, err := io.ReadFull(f, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("%s: MiB %d: %w", path, i, err)
		}
		if got := binary.LittleEndian.Uint64(buf) ^ magic; got != uint64(i) {
			f.Close()
			return 0, fmt.Errorf("%s: MiB %d holds the data of MiB %d", path, i, got)
		}
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	ns := time.Since(start).Nanoseconds()
	if i != mib {
		return 0, fmt.Errorf("%s: read %d MiB, want %d", path, i, mib)
	}
	return ns, nil
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "volbench:", err)
	os.Exit(1)
}
