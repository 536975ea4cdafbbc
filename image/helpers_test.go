package image_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Test programs, built once per test run (the go build cache makes
// repeated runs fast).
var programs = map[string]string{
	"hello": `package main

import "fmt"

func main() {
	fmt.Println("hello, brique")
	crash(nil)
}

//go:noinline
func crash(p *int) int {
	if p == nil {
		return 0
	}
	return *p // crashLine
}
`,
	// net/http + crypto pull in AVX2/AVX-512 assembly (memmove, crypto,
	// bytealg) that exercises the undecodable-instruction path.
	"web": `package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Printf("%x %x\n", sha256.Sum256([]byte("x")), sha512.Sum512([]byte("y")))
	b, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(b)
	fmt.Println(len(g.Seal(nil, make([]byte, 12), []byte("z"), nil)))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	if len(os.Args) > 1 {
		http.ListenAndServe(":8080", nil)
	}
}
`,
}

var (
	buildDir  string
	buildMu   sync.Mutex
	built     = map[string]string{}
	buildErrs = map[string]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "brique-image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildProg builds programs[name] with the flags `brique build` uses and
// returns the executable's bytes. It skips the test if no go command is
// available.
func buildProg(tb testing.TB, name string) []byte {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if err, ok := buildErrs[name]; ok {
		tb.Fatalf("building %s: %v", name, err)
	}
	if path, ok := built[name]; ok {
		return readFile(tb, path)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command in PATH; cannot build test programs")
	}
	src := filepath.Join(buildDir, name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.26\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(programs[name]), 0o644); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(buildDir, name+".elf")
	cmd := exec.Command(goCmd, "build", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		buildErrs[name] = fmt.Errorf("%v\n%s", err, msg)
		tb.Fatalf("building %s: %v\n%s", name, err, msg)
	}
	built[name] = out
	return readFile(tb, out)
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
