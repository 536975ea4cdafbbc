package image

import (
	"bytes"
	"debug/buildinfo"
	"debug/gosym"
	"fmt"
	"sort"
	"time"
)

// Symbolizer maps guest program counters to Go function, file and line,
// using the image's .gopclntab (present even when built with -s -w).
type Symbolizer struct {
	tab   *gosym.Table
	funcs []gosym.Func
}

// NewSymbolizer reads the function and line tables of img.
func NewSymbolizer(img *Image) (*Symbolizer, error) {
	if img == nil || img.File == nil {
		return nil, newErr("symbolize", "", ErrNoPclntab, "no image: use Open or Parse first", nil)
	}
	gt, err := loadGoTable("symbolize", img.Path, img.File)
	if err != nil {
		return nil, err
	}
	return &Symbolizer{tab: gt.tab, funcs: gt.funcs}, nil
}

// Lookup returns the function containing pc and the source position of
// the instruction at pc. ok is false if pc is in no Go function; file and
// line may be empty if the line table has no entry for pc. For a return
// address (as found on a stack), look up pc-1 to get the call's line.
func (s *Symbolizer) Lookup(pc uint64) (fn string, file string, line int, ok bool) {
	if s == nil {
		return "", "", 0, false
	}
	i := sort.Search(len(s.funcs), func(i int) bool { return s.funcs[i].End > pc })
	if i == len(s.funcs) || pc < s.funcs[i].Entry {
		return "", "", 0, false
	}
	fn = s.funcs[i].Name
	_ = safely(func() {
		file, line, _ = s.tab.PCToLine(pc)
	})
	return fn, file, line, true
}

// Describe formats pc for a crash report, e.g.
// "0x4a1b2c in main.crash at /x/main.go:12".
func (s *Symbolizer) Describe(pc uint64) string {
	fn, file, line, ok := s.Lookup(pc)
	switch {
	case !ok:
		return fmt.Sprintf("%#x (not in any Go function)", pc)
	case file == "":
		return fmt.Sprintf("%#x in %s", pc, fn)
	default:
		return fmt.Sprintf("%#x in %s at %s:%d", pc, fn, file, line)
	}
}

// NewMetadata fills a Metadata for a rewritten executable: format version,
// Go version and main package path (from the build info the Go linker
// embeds), entry point, syscall site count and build time. The caller adds
// MinMemoryMiB and Bricks.
func NewMetadata(elfBytes []byte, rep RewriteReport) (Metadata, error) {
	f, err := parseELF("metadata", "", elfBytes)
	if err != nil {
		return Metadata{}, err
	}
	m := Metadata{
		FormatVersion: CurrentFormatVersion,
		Entry:         f.Entry,
		SyscallSites:  rep.Rewritten,
		BuiltAt:       time.Now().UTC().Format(time.RFC3339),
	}
	var bi *buildinfo.BuildInfo
	if perr := safely(func() { bi, err = buildinfo.Read(bytes.NewReader(elfBytes)) }); perr != nil {
		err = perr
	}
	if err != nil {
		return Metadata{}, newErr("metadata", "", ErrMalformed, "cannot read the Go build information: build with the go command (`brique build` does this)", err)
	}
	m.GoVersion, m.Package = bi.GoVersion, bi.Path
	return m, nil
}

// HasFunc reports whether the Go executable elfBytes contains any of the
// named functions (package-qualified, as in the function table: "os.OpenFile").
// The linker drops unreachable functions, so this tells which library
// calls a program can make: the builder links a brick only into the
// programs that can use it.
func HasFunc(elfBytes []byte, names ...string) (bool, error) {
	f, err := parseELF("inspect", "", elfBytes)
	if err != nil {
		return false, err
	}
	gt, err := loadGoTable("inspect", "", f)
	if err != nil {
		return false, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	for _, fn := range gt.funcs {
		if want[fn.Name] {
			return true, nil
		}
	}
	return false, nil
}
