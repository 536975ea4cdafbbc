// Tmpfs measures small-file creation and sequential write and read
// throughput in a writable directory (-dir, default /tmp). It is run by
// briquebench as a Brique unikernel (whose /tmp is the library OS's
// in-memory file system), as a native process (in /tmp and in /dev/shm) and
// in a runc container with a tmpfs on /tmp, so that the lines can be
// compared.
//
// It works in a new directory under -dir, removed at the end. First an
// untimed probe creates up to -probe empty files at once and reports how
// many it could (a file system with a fixed node table stops early):
//
//	tmpfs probe files=1000 of=1000 err=""
//
// Then -rounds timed rounds, one line per measurement:
//
//	tmpfs op=create round=1 files=1000 bytes=4096 ns=123456
//	tmpfs op=unlink round=1 files=1000 ns=123456
//	tmpfs op=write round=1 reps=20 bytes=2097152 ns=123456
//	tmpfs op=read round=1 reps=20 bytes=2097152 ns=123456
//
// create is -files files of -size bytes, each opened with O_CREAT|O_TRUNC,
// written with one write and closed, in batches of -batch files; unlink
// removes them, batch by batch (the batches alternate: create a batch,
// unlink it). write truncates and rewrites one file of -big bytes -reps
// times in -chunk writes (no fsync); read reads it back -reps times in
// -chunk reads; after the timed reads, an untimed one checks the data.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", "/tmp", "work in a new directory under `DIR`")
	files := flag.Int("files", 1000, "small files per round")
	batch := flag.Int("batch", 200, "small files that exist at once")
	size := flag.Int("size", 4096, "bytes per small file")
	big := flag.Int("big", 2<<20, "bytes of the large file")
	reps := flag.Int("reps", 20, "writes and reads of the large file per round")
	chunk := flag.Int("chunk", 64<<10, "bytes per write and read of the large file")
	rounds := flag.Int("rounds", 5, "timed rounds")
	probe := flag.Int("probe", 1000, "try to create this many empty files at once (0: no probe)")
	flag.Parse()
	if *files <= 0 || *batch <= 0 || *size < 0 || *big <= 0 || *reps <= 0 || *chunk <= 0 || *rounds <= 0 {
		fail(errors.New("every count and size must be positive"))
	}

	work, err := os.MkdirTemp(*dir, "tmpfsbench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)

	if *probe > 0 {
		n, perr := probeFiles(work, *probe)
		msg := ""
		if perr != nil {
			msg = perr.Error()
		}
		fmt.Printf("tmpfs probe files=%d of=%d err=%q\n", n, *probe, msg)
	}

	names := make([]string, *files)
	for i := range names {
		names[i] = filepath.Join(work, fmt.Sprintf("f%05d", i))
	}
	small := pattern(*size, 1)
	large := pattern(*big, 7)
	bigPath := filepath.Join(work, "large")
	rbuf := make([]byte, *chunk)

	for r := 1; r <= *rounds; r++ {
		var create, unlink time.Duration
		for lo := 0; lo < len(names); lo += *batch {
			b := names[lo:min(lo+*batch, len(names))]
			start := time.Now()
			for _, p := range b {
				if err := writeFile(p, small); err != nil {
					fail(err)
				}
			}
			create += time.Since(start)
			start = time.Now()
			for _, p := range b {
				if err := os.Remove(p); err != nil {
					fail(err)
				}
			}
			unlink += time.Since(start)
		}
		fmt.Printf("tmpfs op=create round=%d files=%d bytes=%d ns=%d\n", r, len(names), *size, create.Nanoseconds())
		fmt.Printf("tmpfs op=unlink round=%d files=%d ns=%d\n", r, len(names), unlink.Nanoseconds())

		start := time.Now()
		for i := 0; i < *reps; i++ {
			if err := writeChunks(bigPath, large, *chunk); err != nil {
				fail(err)
			}
		}
		fmt.Printf("tmpfs op=write round=%d reps=%d bytes=%d ns=%d\n", r, *reps, *big, time.Since(start).Nanoseconds())

		start = time.Now()
		for i := 0; i < *reps; i++ {
			n, _, err := readChunks(bigPath, rbuf, nil)
			if err != nil {
				fail(err)
			}
			if n != int64(*big) {
				fail(fmt.Errorf("%s: read %d bytes, wrote %d", bigPath, n, *big))
			}
		}
		fmt.Printf("tmpfs op=read round=%d reps=%d bytes=%d ns=%d\n", r, *reps, *big, time.Since(start).Nanoseconds())
		// Untimed: the data must read back as written.
		if _, got, err := readChunks(bigPath, rbuf, make([]byte, 0, *big)); err != nil {
			fail(err)
		} else if !bytes.Equal(got, large) {
			fail(fmt.Errorf("%s: the data read back differs from the data written", bigPath))
		}
		if err := os.Remove(bigPath); err != nil {
			fail(err)
		}
	}
	if err := os.RemoveAll(work); err != nil {
		fail(err)
	}
}

// probeFiles creates up to n empty files in a subdirectory of dir, stops at
// the first error, and removes them.
func probeFiles(dir string, n int) (int, error) {
	sub := filepath.Join(dir, "probe")
	if err := os.Mkdir(sub, 0o755); err != nil {
		return 0, err
	}
	made := 0
	var err error
	for ; made < n; made++ {
		var f *os.File
		if f, err = os.Create(filepath.Join(sub, fmt.Sprintf("p%05d", made))); err != nil {
			break
		}
		if err = f.Close(); err != nil {
			made++
			break
		}
	}
	if rerr := os.RemoveAll(sub); rerr != nil {
		fail(fmt.Errorf("removing the probe's files: %w", rerr))
	}
	return made, err
}

// pattern is n bytes that differ from file to file and from page to page.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/4096) + byte(i) + seed
	}
	return b
}

func writeFile(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeChunks(p string, data []byte, chunk int) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += chunk {
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// readChunks reads the file at p to its end through buf; with keep != nil
// it also returns the data, appended to keep.
func readChunks(p string, buf, keep []byte) (int64, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if keep != nil {
			keep = append(keep, buf[:m]...)
		}
		if err == io.EOF {
			return n, keep, nil
		}
		if err != nil {
			return n, nil, err
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tmpfs:", err)
	os.Exit(1)
}
