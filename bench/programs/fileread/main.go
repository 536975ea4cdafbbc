// Fileread measures how fast a program reads the files under a root
// directory, two ways: os.ReadFile (stat, one allocation, read to the end)
// and a sequential read through one reused 64 KiB buffer (open, read until
// EOF, close). It is run by briquebench as a Brique unikernel reading its
// embedded root file system, as a native process reading the same tree
// from the host's page cache, and in a runc container with the tree
// bind-mounted read-only, so that the lines can be compared.
//
// It walks -root once and lists the regular files, reads all of them once
// untimed (a warm-up that also checksums the data and warms the page
// cache natively), and prints
//
//	fileread files=1001 bytes=33554432 crc=1234abcd
//
// then -rounds timed rounds, each of which walks the tree again and reads
// every file once each way (the order of the two ways alternates), one line
// per measurement; set is "large" (files of at least -large bytes) or
// "small" (the others):
//
//	fileread op=walk round=1 entries=1003 ns=123456
//	fileread op=readfile set=large round=1 files=1 bytes=16777216 ns=123456
//	fileread op=read64k set=small round=1 files=1000 bytes=16384000 ns=123456
package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

type file struct {
	path string
	size int64
}

func main() {
	root := flag.String("root", "/", "read every regular file under `DIR`")
	rounds := flag.Int("rounds", 5, "timed rounds")
	bufSize := flag.Int("buf", 64<<10, "buffer `bytes` of the sequential read")
	large := flag.Int64("large", 1<<20, "files of at least `bytes` are in the large set")
	flag.Parse()
	if *rounds <= 0 || *bufSize <= 0 {
		fail(errors.New("-rounds and -buf must be positive"))
	}

	files, _, err := walk(*root)
	if err != nil {
		fail(err)
	}
	if len(files) == 0 {
		fail(fmt.Errorf("no regular files under %s", *root))
	}
	// Untimed pass: check that every file reads back whole, checksum the
	// data (the harness compares it with the tree it wrote), warm caches.
	crc := crc32.NewIEEE()
	var total int64
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			fail(err)
		}
		if int64(len(data)) != f.size {
			fail(fmt.Errorf("%s: read %d bytes, but its size is %d", f.path, len(data), f.size))
		}
		crc.Write(data)
		total += int64(len(data))
	}
	fmt.Printf("fileread files=%d bytes=%d crc=%08x\n", len(files), total, crc.Sum32())

	sets := map[string][]file{}
	for _, f := range files {
		set := "small"
		if f.size >= *large {
			set = "large"
		}
		sets[set] = append(sets[set], f)
	}
	buf := make([]byte, *bufSize)
	ways := []struct {
		name string
		read func(string) (int64, error)
	}{
		{"readfile", func(p string) (int64, error) {
			data, err := os.ReadFile(p)
			return int64(len(data)), err
		}},
		{"read64k", func(p string) (int64, error) { return readSeq(p, buf) }},
	}
	if *bufSize != 64<<10 {
		ways[1].name = fmt.Sprintf("read%d", *bufSize)
	}
	for r := 1; r <= *rounds; r++ {
		start := time.Now()
		_, entries, err := walk(*root)
		if err != nil {
			fail(err)
		}
		fmt.Printf("fileread op=walk round=%d entries=%d ns=%d\n", r, entries, time.Since(start).Nanoseconds())
		for i := range ways {
			w := ways[(i+r)%len(ways)]
			for _, set := range []string{"large", "small"} {
				list := sets[set]
				if len(list) == 0 {
					continue
				}
				var n int64
				start := time.Now()
				for _, f := range list {
					m, err := w.read(f.path)
					if err != nil {
						fail(err)
					}
					n += m
				}
				ns := time.Since(start).Nanoseconds()
				fmt.Printf("fileread op=%s set=%s round=%d files=%d bytes=%d ns=%d\n", w.name, set, r, len(list), n, ns)
			}
		}
	}
}

// walk lists the regular files under root and counts every entry.
func walk(root string) ([]file, int, error) {
	var files []file
	entries := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, file{p, info.Size()})
		return nil
	})
	return files, entries, err
}

// readSeq reads the file at p to its end through buf.
func readSeq(p string, buf []byte) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return n, err
		}
	}
	return n, f.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fileread:", err)
	os.Exit(1)
}
