// Files reads a tree of files the way a service reads its configuration
// and assets: os.ReadDir, os.Stat, os.ReadFile, filepath.WalkDir, plus the
// device files every Go program may touch. Inside Brique the tree is the
// image's embedded root file system:
//
//	brique run --rootfs examples/files/site ./examples/files
//
// and natively it is the same directory: go run ./examples/files -root examples/files/site
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", "/", "directory to read")
	flag.Parse()

	// The application's own files.
	err := filepath.WalkDir(filepath.Join(*root, "static"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(*root, p)
		if d.IsDir() {
			fmt.Printf("dir  %s\n", rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Printf("file %s %d bytes sha256:%x\n", rel, len(b), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		fmt.Println("walk:", err)
		os.Exit(1)
	}
	cfg, err := os.ReadFile(filepath.Join(*root, "config.txt"))
	if err != nil {
		fmt.Println("config:", err)
		os.Exit(1)
	}
	fmt.Printf("config: %s", cfg)
	entries, _ := os.ReadDir(filepath.Join(*root, "notes"))
	for _, e := range entries {
		info, _ := e.Info()
		fmt.Printf("note %s (%d bytes)\n", e.Name(), info.Size())
	}
	if _, err := os.Stat(filepath.Join(*root, "missing.txt")); !os.IsNotExist(err) {
		fmt.Println("missing.txt: want a not-exist error, got", err)
		os.Exit(1)
	}

	// Device files.
	null, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("/dev/null:", err)
		os.Exit(1)
	}
	n, _ := null.WriteString("discarded")
	null.Close()
	rnd := make([]byte, 16)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		fmt.Println("/dev/urandom:", err)
		os.Exit(1)
	}
	f.Read(rnd)
	f.Close()
	fmt.Println("devices:", n, "bytes to /dev/null,", strings.Count(fmt.Sprintf("%x", rnd), "")-1, "hex digits from /dev/urandom")
}
