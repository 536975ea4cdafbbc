package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Peak memory of a whole process.
//
// ru_maxrss of a child the harness starts itself is overstated for small
// programs: Go's os.StartProcess uses clone(CLONE_VM|CLONE_VFORK), so until
// exec the child runs in the harness's address space, and at exec Linux
// records the old address space's RSS high-water mark in the child's
// maxrss (setmax_mm_hiwater_rss in exec_mmap). wait4 then reports at least
// the harness's own peak (8 MiB or so) for a program that never used 2.
//
// A launcher that forks the program itself moves that floor down to the
// launcher's own high-water mark: GNU time is such a launcher, and its
// -f %M prints the ru_maxrss wait4 gave it for the program (the larger of
// the program's own peak and those of the descendants it reaped), in KiB.

// timePackage is the Debian package that installs GNU time as /usr/bin/time.
const timePackage = "time"

// launcher is how runMem measures peak RSS.
type launcher struct {
	Path    string // GNU time; "" when it is not used
	Version string // first line of its --version
	Why     string // why it is not used (the fallback: wait4's ru_maxrss); "" when it is
	out     string // its -o file

	// The launcher's floor: %M of /bin/true, and of a static program of
	// one page that only calls exit (written by the harness), which shows
	// what the child inherits from GNU time itself.
	TruePath  string
	FloorTrue []int64
	FloorExit []int64
	FloorErr  string
}

// used reports whether peak RSS goes through GNU time.
func (l *launcher) used() bool { return l != nil && l.Path != "" }

// setupLauncher finds GNU time at path, measures its floor with n runs of
// each floor program and makes r.runMem use it. If GNU time is missing or
// does not work, runMem falls back to wait4's ru_maxrss and l.Why says why.
func setupLauncher(r *runner, path, work string, n int) *launcher {
	l := &launcher{}
	if path == "" {
		l.Why = "disabled with -time ''"
		return l
	}
	full, err := exec.LookPath(path)
	if err != nil {
		l.Why = fmt.Sprintf("%s not found (install the Debian package %s)", path, timePackage)
		return l
	}
	out, _ := exec.Command(full, "--version").CombinedOutput()
	version := strings.TrimSpace(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
	if !strings.Contains(strings.ToLower(string(out)), "gnu time") {
		l.Why = fmt.Sprintf("%s is not GNU time (its --version said %q; install the Debian package %s)", full, clip(version, 80), timePackage)
		return l
	}
	l.Path, l.Version, l.out = full, version, filepath.Join(work, "maxrss")
	r.launch = l

	exit0 := filepath.Join(work, "exit0")
	if err := writeExitELF(exit0); err != nil {
		l.FloorErr = err.Error()
	}
	if l.TruePath, err = exec.LookPath("/bin/true"); err != nil {
		l.TruePath, _ = exec.LookPath("true")
	}
	for i := 0; i < n; i++ {
		for _, f := range []struct {
			argv string
			dst  *[]int64
		}{{l.TruePath, &l.FloorTrue}, {exit0, &l.FloorExit}} {
			if f.argv == "" || (f.argv == exit0 && l.FloorErr != "") {
				continue
			}
			res := r.runMem([]string{f.argv})
			if !res.ok("") {
				// GNU time that cannot run /bin/true cannot be trusted
				// with the competitors either.
				l.Why = fmt.Sprintf("%s -f %%M -o FILE %s failed: %s", full, f.argv, res.describe(""))
				l.Path, r.launch = "", nil
				return l
			}
			*f.dst = append(*f.dst, res.MaxRSS)
		}
	}
	if l.TruePath == "" {
		l.FloorErr = "no true(1) found"
	}
	return l
}

// runMem runs argv like run and measures its peak RSS: through GNU time
// when the harness has it (see setupLauncher), otherwise wait4's
// ru_maxrss, which carries the harness's own peak. The launcher adds a
// fork and an exec to the run, so runMem is for memory, not for timing.
func (r *runner) runMem(argv []string) runResult {
	l := r.launch
	if !l.used() {
		return r.run(argv)
	}
	os.Remove(l.out)
	res := r.runProc(append([]string{l.Path, "-f", "%M", "-o", l.out}, argv...), "", true)
	res.MaxRSS = 0
	if res.Err != nil || res.TimedOut || res.Exit != 0 {
		return res // failed anyway; its -o file may be missing
	}
	b, err := os.ReadFile(l.out)
	if err != nil {
		res.Err = fmt.Errorf("%s left no -o file: %w", l.Path, err)
		return res
	}
	if res.MaxRSS, err = parseTimeMaxRSS(string(b)); err != nil {
		res.Err = err
	}
	return res
}

// parseTimeMaxRSS reads what `time -f %M -o FILE` wrote: the last line is
// the number (KiB); a line before it may say that the command failed.
func parseTimeMaxRSS(s string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	v, err := strconv.ParseInt(last, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("GNU time's -f %%M output %q is not a KiB count", clip(s, 200))
	}
	return v, nil
}

// selfMaxRSS is the harness's own RSS high-water mark in KiB (VmHWM):
// what a child it starts directly inherits at exec. Not getrusage's
// ru_maxrss, which for the harness also holds what it inherited at its own
// exec (from `go run`, say).
func selfMaxRSS() int64 {
	if v, ok := procField("/proc/self/status", "VmHWM"); ok {
		if n, err := parseKB(v); err == nil {
			return n
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}

// writeExitELF writes a static x86-64 ELF executable of one page whose
// only code is exit(0): the smallest program a launcher can run, so its
// peak RSS is the launcher's floor.
func writeExitELF(path string) error {
	const (
		base = 0x400000
		ehdr = 64
		phdr = 56
	)
	code := []byte{
		0xb8, 60, 0, 0, 0, // mov $60, %eax (exit)
		0x31, 0xff, // xor %edi, %edi
		0x0f, 0x05, // syscall
	}
	b := make([]byte, ehdr+phdr+len(code))
	le := binary.LittleEndian
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1           // ELFCLASS64, little-endian, EV_CURRENT
	le.PutUint16(b[16:], 2)              // ET_EXEC
	le.PutUint16(b[18:], 62)             // EM_X86_64
	le.PutUint32(b[20:], 1)              // EV_CURRENT
	le.PutUint64(b[24:], base+ehdr+phdr) // entry: the code
	le.PutUint64(b[32:], ehdr)           // program headers
	le.PutUint16(b[52:], ehdr)
	le.PutUint16(b[54:], phdr)
	le.PutUint16(b[56:], 1)
	ph := b[ehdr:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // PF_R|PF_X
	le.PutUint64(ph[8:], 0) // the whole file, headers included
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	le.PutUint64(ph[48:], 0x1000)
	copy(b[ehdr+phdr:], code)
	return os.WriteFile(path, b, 0o755)
}
