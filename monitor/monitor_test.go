package monitor_test

// Host-side tests of the monitor (tier 2): they build real images with the
// builder and boot them under KVM.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"brique.dev/brique/builder"
	"brique.dev/brique/image"
	"brique.dev/brique/internal/kvmtest"
	"brique.dev/brique/internal/testutil"
	"brique.dev/brique/monitor"
	"brique.dev/brique/monitor/osthread"
)

// buildExampleImage builds examples/name into a temporary directory and
// opens the image.
func buildExampleImage(t *testing.T, name string) *image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".img")
	r, err := builder.Build(builder.Options{Package: "../examples/" + name, Output: out})
	if err != nil {
		t.Fatalf("building examples/%s: %v", name, err)
	}
	if r.Path != out {
		t.Errorf("builder.Build wrote %s, want %s", r.Path, out)
	}
	img, err := image.Open(out)
	if err != nil {
		t.Fatalf("opening the image of examples/%s: %v", name, err)
	}
	return img
}

func TestMonitorRunsHello(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := buildExampleImage(t, "hello")
	// Run names the thread it runs the vCPU on, and must give it its
	// name back: it returns to Go's pool (it may be the main thread).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	osthread.SetName("brique-test")
	var stdout, stderr bytes.Buffer
	res, err := monitor.Run(monitor.Config{
		Image:  img,
		Args:   []string{"hello"},
		Stdout: &stdout,
		Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("monitor.Run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	show := fmt.Sprintf("result %+v\nstdout:\n%s\nstderr:\n%s", res, &stdout, &stderr)
	if got, want := stdout.String(), "Hello from a Brique unikernel!\n"; got != want {
		t.Errorf("stdout %q, want %q\n%s", got, want, show)
	}
	if stderr.Len() != 0 {
		t.Errorf("unexpected output on stderr\n%s", show)
	}
	if res.ExitCode != 0 || res.Crashed {
		t.Errorf("ExitCode %d, Crashed %v; want 0, false\n%s", res.ExitCode, res.Crashed, show)
	}
	if res.Exits == 0 {
		t.Errorf("Result.Exits is 0: the run must have taken VM exits\n%s", show)
	}
	if res.FramesPeak == 0 {
		t.Errorf("Result.FramesPeak is 0: the Go runtime allocates memory\n%s", show)
	}
	if res.Setup <= 0 || res.Total < res.Setup {
		t.Errorf("inconsistent durations: Setup %v, Total %v", res.Setup, res.Total)
	}
	if name := osthread.Name(); name != "brique-test" {
		t.Errorf("the calling thread is named %q after Run, want its name back (brique-test)", name)
	}
}

// TestMonitorArgsEnvExit checks that argv, the environment and the exit
// status cross the monitor.
func TestMonitorArgsEnvExit(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := buildExampleImage(t, "args")
	var stdout, stderr bytes.Buffer
	res, err := monitor.Run(monitor.Config{
		Image:     img,
		MemoryMiB: 32,
		Args:      []string{"args", "-exit", "7", "one", "two words"},
		Env:       []string{"GREETING=héllo", "EMPTY="},
		Stdout:    &stdout,
		Stderr:    &stderr,
	})
	if err != nil {
		t.Fatalf("monitor.Run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	want := "args: [one two words]\nGREETING=\"héllo\" (set: true)\nEMPTY=\"\" (set: true)\nUNSET=\"\" (set: false)\n"
	if stdout.String() != want || stderr.String() != "exiting with 7\n" || res.ExitCode != 7 || res.Crashed {
		t.Errorf("result %+v\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", res, &stdout, want, &stderr)
	}
}

// corruption is one way of damaging an image.
type corruption struct {
	name   string
	lo, hi uint64 // byte range of the ELF file to damage
	flips  int
}

// corruptions lists the byte ranges worth damaging: the ELF header (past
// the magic), the program headers, the code right after the entry point
// (the library OS's boot path) and all of .text.
func corruptions(t *testing.T, img *image.Image) []corruption {
	t.Helper()
	f := img.File
	raw := img.ELF
	phoff := binary.LittleEndian.Uint64(raw[32:])
	phnum := uint64(binary.LittleEndian.Uint16(raw[56:]))
	phentsize := uint64(binary.LittleEndian.Uint16(raw[54:]))
	text := f.Section(".text")
	if text == nil {
		t.Fatal("the image has no .text section")
	}
	// File offset of the entry point.
	var entryOff uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && f.Entry >= p.Vaddr && f.Entry < p.Vaddr+p.Filesz {
			entryOff = p.Off + (f.Entry - p.Vaddr)
		}
	}
	if entryOff == 0 {
		t.Fatal("the entry point is not in a loaded segment")
	}
	return []corruption{
		{"elf-header", 16, 64, 1},
		{"program-headers", phoff, phoff + phnum*phentsize, 1},
		{"program-headers-multi", phoff, phoff + phnum*phentsize, 4},
		{"entry-code", entryOff, entryOff + 512, 1},
		{"boot-code", entryOff, entryOff + 16<<10, 8},
		{"text", text.Offset, text.Offset + text.Size, 64},
	}
}

// corrupt returns a copy of img's ELF bytes damaged by c, with a fresh
// trailer so that the damage is not simply caught by the checksum.
func corrupt(img *image.Image, c corruption, rng *rand.Rand) []byte {
	b := bytes.Clone(img.ELF)
	for i := 0; i < c.flips; i++ {
		off := c.lo + uint64(rng.Int63n(int64(c.hi-c.lo)))
		b[off] ^= byte(1 + rng.Intn(255))
	}
	meta := img.Meta
	meta.Entry = 0 // taken from the (possibly damaged) ELF header
	return image.AppendTrailer(b, meta)
}

type runOutcome struct {
	res      monitor.Result
	err      error
	panicked any
	stack    []byte
}

// TestMonitorSurvivesCorruptImages damages a real image in many ways and
// checks that monitor.Run always returns (an error, or the guest's crash or
// exit status) and never panics or hangs.
func TestMonitorSurvivesCorruptImages(t *testing.T) {
	kvmtest.RequireKVM(t)
	img := buildExampleImage(t, "hello")
	rng := rand.New(rand.NewSource(20240611))
	variantsPerKind := 4
	// BRIQUE_CORRUPT_VARIANTS=N tries N variants of each kind (bug hunting).
	if n, err := strconv.Atoi(os.Getenv("BRIQUE_CORRUPT_VARIANTS")); err == nil && n > 0 {
		variantsPerKind = n
	}
	const watchdog = 10 * time.Second
	stats := map[string]int{}
	for _, c := range corruptions(t, img) {
		for i := 0; i < variantsPerKind; i++ {
			name := fmt.Sprintf("%s-%d", c.name, i)
			data := corrupt(img, c, rng)
			bad, err := image.Parse(data)
			if err != nil {
				stats["rejected by image.Parse"]++
				continue
			}
			stdout := &testutil.SyncBuffer{Limit: 64 << 10}
			stderr := &testutil.SyncBuffer{Limit: 64 << 10}
			sigs := make(chan os.Signal, 2)
			done := make(chan runOutcome, 1)
			go func() {
				var o runOutcome
				defer func() {
					if p := recover(); p != nil {
						o.panicked, o.stack = p, debug.Stack()
					}
					done <- o
				}()
				o.res, o.err = monitor.Run(monitor.Config{
					Image:   bad,
					Args:    []string{"hello"},
					Stdout:  stdout,
					Stderr:  stderr,
					Signals: sigs,
				})
			}()
			var o runOutcome
			select {
			case o = <-done:
			case <-time.After(watchdog):
				// A damaged guest may legitimately loop forever: stop it
				// the way a user would, with two SIGTERMs.
				sigs <- syscall.SIGTERM
				sigs <- syscall.SIGTERM
				select {
				case o = <-done:
					stats["stopped by the watchdog"]++
				case <-time.After(watchdog):
					t.Fatalf("%s: monitor.Run still running %v after two SIGTERMs\nstdout:\n%s\nstderr:\n%s", name, watchdog, stdout, stderr)
				}
			}
			if o.panicked != nil {
				t.Errorf("%s: monitor.Run panicked: %v\n%s\nstderr:\n%s", name, o.panicked, o.stack, stderr)
				continue
			}
			switch {
			case o.err != nil:
				stats["error from monitor.Run"]++
				if strings.TrimSpace(o.err.Error()) == "" {
					t.Errorf("%s: monitor.Run returned an empty error", name)
				}
			case o.res.Crashed:
				stats["guest crashed"]++
				if o.res.ExitCode == 0 {
					t.Errorf("%s: crashed guest with exit status 0 (result %+v)", name, o.res)
				}
			case o.res.ExitCode == 0:
				stats["ran normally"]++
			default:
				stats[fmt.Sprintf("exit status %d", o.res.ExitCode)]++
			}
			t.Logf("%s: err=%v result=%+v stdout=%q stderr=%.300q", name, o.err, o.res, stdout, stderr)
		}
	}
	t.Logf("outcomes: %v", stats)
}
