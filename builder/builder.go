// Package builder turns a Go main package (or a package's tests) into a
// Brique image: it runs the standard Go toolchain with an -overlay that adds
// one file importing the library OS (brique.dev/brique/guest/kernel), links
// with the kernel's entry point (-E), rewrites the SYSCALL instructions
// (package image) and appends the image trailer.
//
// The user's files are never modified: the overlay adds a file only in the
// build's view, and a program outside this repository gets the library OS
// through a temporary module file (-modfile) with a replace directive
// pointing at sources extracted from the brique binary.
package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"brique.dev/brique"
	"brique.dev/brique/image"
)

// KernelPackage is the library OS core every image links.
const KernelPackage = brique.ModulePath + "/guest/kernel"

// NetPackage is the network brick, linked into programs that use package
// net.
const NetPackage = brique.ModulePath + "/guest/net"

// VolPackage is the volume brick, linked into programs that can open
// files.
const VolPackage = brique.ModulePath + "/guest/vol"

// fileFuncs are functions that only a program using the file system
// keeps after linking.
var fileFuncs = []string{
	"os.OpenFile", "os.openFileNolog", "os.openDirNolog", "os.Stat", "os.Lstat",
	"os.Mkdir", "os.Remove", "os.Rename", "os.Chdir", "os.Chmod", "os.Truncate",
	"os.Symlink", "os.Link", "os.Readlink", "syscall.Open", "syscall.openat",
}

// EntrySymbol is the image's first instruction (linker -E).
const EntrySymbol = KernelPackage + ".rt0"

// Options for Build.
type Options struct {
	Package string    // Go package pattern (default ".")
	Output  string    // image path (default: package name, or NAME.test)
	Test    bool      // build the package's test binary (go test -c)
	Dir     string    // working directory for the go command (default: current)
	Log     io.Writer // progress lines (nil: quiet)
	GoFlags []string  // extra flags for go build / go test -c (e.g. -tags)
	// RootFS is a directory whose tree becomes the guest's read-only root
	// file system ("" = none: only "/" and the device files).
	RootFS string
	// PackageRootFS (tests) puts the package's own directory into the root
	// file system at its host path, and Result.Cwd names it: tests then
	// find their testdata (and ".." finds the parent) as under go test.
	PackageRootFS bool
}

// Result describes a built image.
type Result struct {
	Path     string
	Package  string
	Size     int64
	Report   image.RewriteReport
	Duration time.Duration
	Cwd      string // working directory the program expects in the guest ("" = "/")
}

// ErrBuild wraps failures of the go command.
var ErrBuild = errors.New("build failed")

// ErrNoTests is returned (wrapping ErrBuild) when a test build is asked
// for a package without test files.
var ErrNoTests = fmt.Errorf("%w: no test files", ErrBuild)

type pkgInfo struct {
	Dir          string
	Name         string
	ImportPath   string
	Goroot       bool
	TestGoFiles  []string
	XTestGoFiles []string
	Deps         []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path, Dir, GoMod string }
}

// Build builds one image.
func Build(o Options) (*Result, error) {
	start := time.Now()
	if o.Package == "" {
		o.Package = "."
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	// A directory outside the current module: run the go command there.
	pdir := o.Package
	if !filepath.IsAbs(pdir) {
		pdir = filepath.Join(o.Dir, pdir)
	}
	if st, err := os.Stat(pdir); err == nil && st.IsDir() && o.Package != "." {
		o.Dir = pdir
		o.Package = "."
		if o.Output != "" && !filepath.IsAbs(o.Output) {
			o.Output = mustAbs(o.Output)
		}
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	p, err := listPackage(o.Dir, o.Package)
	if err != nil {
		return nil, err
	}
	if o.Test && len(p.TestGoFiles)+len(p.XTestGoFiles) == 0 {
		return nil, fmt.Errorf("%w: %s has no test files", ErrNoTests, p.ImportPath)
	}
	mountAt, cwd := "/", ""
	if o.PackageRootFS && o.RootFS == "" {
		o.RootFS, mountAt, cwd = p.Dir, filepath.ToSlash(p.Dir), filepath.ToSlash(p.Dir)
	}
	if !o.Test && p.Name != "main" {
		return nil, fmt.Errorf("%s is package %s, not a main package: brique build needs a program (package main); use brique test for tests", p.ImportPath, p.Name)
	}
	tmp, err := os.MkdirTemp("", "brique-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// Where the go command runs, and how it finds the library OS.
	runDir := o.Dir
	var modArgs []string
	var briqueRoot string // directory of the brique.dev/brique module used
	switch {
	case p.Module != nil && p.Module.Path == brique.ModulePath:
		// Building inside the Brique repository itself.
		briqueRoot = p.Module.Dir
	case p.Goroot || p.Module == nil:
		// Standard library package (tests): build from a module that has
		// the library OS.
		root, err := guestModule()
		if err != nil {
			return nil, err
		}
		runDir, briqueRoot = root, root
	default:
		root, err := guestModule()
		if err != nil {
			return nil, err
		}
		briqueRoot = root
		modfile, err := tempModfile(tmp, p.Module.GoMod, root)
		if err != nil {
			return nil, err
		}
		// -mod=mod: the go command may add the bricks' requirements
		// (gVisor) to the temporary module file.
		modArgs = []string{"-modfile=" + modfile, "-mod=mod"}
	}

	// The overlay: one extra file in the package importing the kernel (and
	// the generated root file system package, if any).
	replace := map[string]string{}
	imports := []string{KernelPackage}
	bricks := []string{"kernel"}
	if o.RootFS != "" {
		n, err := addRootFS(replace, tmp, briqueRoot, o.RootFS, mountAt)
		if err != nil {
			return nil, err
		}
		imports = append(imports, RootFSPackage)
		bricks = append(bricks, "rootfs")
		logf("brique: root file system from %s: %d entries", o.RootFS, n)
	}
	ldflags := "-s -w -E " + EntrySymbol
	if needsNet(p) {
		// The network brick's service thread needs a second P
		// (docs/decisions/010).
		imports = append(imports, NetPackage)
		bricks = append(bricks, "net")
		ldflags += " -X " + KernelPackage + ".cpus=2"
	}
	var extra, pkgLine string
	if o.Test {
		extra = filepath.Join(p.Dir, "zz_brique_test.go")
		pkgLine = fmt.Sprintf("package %s_test\n\n", p.Name)
	} else {
		extra = filepath.Join(p.Dir, "zz_brique.go")
		pkgLine = "package main\n\n"
	}
	out := o.Output
	if out == "" {
		base := filepath.Base(p.ImportPath)
		if o.Test {
			base += ".test"
		}
		out = base + ".img"
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(mustAbs(o.Dir), out)
	}
	elfPath := filepath.Join(tmp, "prog.elf")
	// goBuild runs the go command with an overlay that imports the bricks.
	goBuild := func(imports []string) ([]byte, error) {
		src := pkgLine
		for _, imp := range imports {
			src += fmt.Sprintf("import _ %q\n", imp)
		}
		srcPath := filepath.Join(tmp, "inject.go")
		if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
			return nil, err
		}
		replace[extra] = srcPath
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": replace})
		ovPath := filepath.Join(tmp, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			return nil, err
		}
		args := []string{"build"}
		if o.Test {
			// -vet=off: vet cannot run on the overlay-only packages (it
			// changes into their directory, which does not exist on disk).
			args = []string{"test", "-c", "-vet=off"}
		}
		args = append(args, modArgs...)
		args = append(args, "-overlay="+ovPath, "-trimpath", "-ldflags="+ldflags, "-o", elfPath)
		args = append(args, o.GoFlags...)
		args = append(args, pkgArg(p))
		logf("brique: building %s (go %s)", p.ImportPath, strings.Join(args[:len(args)-1], " "))
		cmd := exec.Command(goTool(), args...)
		cmd.Dir = runDir
		cmd.Env = buildEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%w: go %s: %v\n%s", ErrBuild, args[0], err, strings.TrimSpace(stderr.String()))
		}
		if o.Test {
			if _, err := os.Stat(elfPath); err != nil {
				return nil, fmt.Errorf("%w: %s has no test files", ErrBuild, p.ImportPath)
			}
		}
		return os.ReadFile(elfPath)
	}
	raw, err := goBuild(imports)
	if err != nil {
		return nil, err
	}
	// The volume brick (host directories, brique run -v) goes only into
	// programs that can open files: the linker kept os.OpenFile or one of
	// its kin. Finding out takes a second link for those programs.
	if !o.Test {
		if uses, err := image.HasFunc(raw, fileFuncs...); err == nil && uses {
			imports = append(imports, VolPackage)
			bricks = append(bricks, "vol")
			if raw, err = goBuild(imports); err != nil {
				return nil, err
			}
		}
	}
	rewritten, rep, err := image.Rewrite(raw)
	if err != nil {
		return nil, err
	}
	meta, err := image.NewMetadata(rewritten, rep)
	if err != nil {
		return nil, err
	}
	meta.Package = p.ImportPath
	meta.Bricks = bricks
	final := image.AppendTrailer(rewritten, meta)
	if err := writeAtomic(out, final); err != nil {
		return nil, err
	}
	res := &Result{Path: out, Package: p.ImportPath, Size: int64(len(final)), Report: rep, Duration: time.Since(start), Cwd: cwd}
	logf("brique: rewrote %d system call sites; wrote %s (%d KiB) in %v", len(rep.Sites), out, (res.Size+1023)/1024, res.Duration.Round(time.Millisecond))
	return res, nil
}

// needsNet reports whether the program (or the package's tests) uses
// package net, hence needs the network brick. A program that does not gets
// no network code (its image does not grow).
func needsNet(p *pkgInfo) bool {
	if p.ImportPath == "net" {
		return true
	}
	for _, d := range p.Deps {
		if d == "net" {
			return true
		}
	}
	for _, d := range append(p.TestImports, p.XTestImports...) {
		if d == "net" || d == "net/http" || strings.HasPrefix(d, "net/http/") {
			return true
		}
	}
	return false
}

func pkgArg(p *pkgInfo) string {
	if p.Goroot {
		return p.ImportPath
	}
	return p.Dir
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func goTool() string {
	if g := os.Getenv("BRIQUE_GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildEnv is the environment of the go command: a static linux/amd64
// binary using only baseline (SSE) instructions, since the library OS saves
// FP state with FXSAVE and does not enable AVX.
func buildEnv() []string {
	env := os.Environ()
	return append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=-buildvcs=false", "GOWORK=off")
}

func listPackage(dir, pkg string) (*pkgInfo, error) {
	cmd := exec.Command(goTool(), "list", "-json=Dir,Name,ImportPath,Goroot,Module,TestGoFiles,XTestGoFiles,Deps,TestImports,XTestImports", pkg)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%w: cannot find package %q: %s", ErrBuild, pkg, msg)
	}
	var p pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("go list %s: %w", pkg, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%q matches several packages: name one", pkg)
	}
	return &p, nil
}

// tempModfile writes a copy of the user's go.mod (and go.sum) that requires
// the library OS from root (the copy of go.sum also gets Brique's lines).
func tempModfile(tmp, gomod, root string) (string, error) {
	if gomod == "" {
		return "", fmt.Errorf("the package is not in a Go module: run `go mod init` in its directory first")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	b = append(b, fmt.Sprintf("\nrequire %s v0.0.0\n\nreplace %s => %s\n", brique.ModulePath, brique.ModulePath, root)...)
	mf := filepath.Join(tmp, "go.mod")
	if err := os.WriteFile(mf, b, 0o644); err != nil {
		return "", err
	}
	sum, err := os.ReadFile(strings.TrimSuffix(gomod, ".mod") + ".sum")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	// The bricks' dependencies (gVisor) are verified with Brique's own
	// go.sum lines.
	bsum, _ := brique.GuestSources.ReadFile("go.sum")
	sum = append(append(sum, '\n'), bsum...)
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644); err != nil {
		return "", err
	}
	return mf, nil
}

// guestModule extracts the embedded library OS into the user cache (once
// per content hash) and returns the module root.
func guestModule() (string, error) {
	h := sha256.New()
	var files []string
	err := fs.WalkDir(brique.GuestSources, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
			b, _ := brique.GuestSources.ReadFile(path)
			fmt.Fprintf(h, "%s %d\n", path, len(b))
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "brique", "src-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("creating the brique cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".extract-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		b, _ := brique.GuestSources.ReadFile(f)
		dst := filepath.Join(tmp, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		if _, serr := os.Stat(filepath.Join(root, "go.mod")); serr == nil {
			return root, nil // another brique won the race
		}
		return "", err
	}
	return root, nil
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".brique-*.img")
	if err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("writing the image: %w", err)
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
