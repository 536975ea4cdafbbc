package monitor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCPUProfileReadsInPprof writes a profile with the hand-written encoder
// and has the real pprof (go tool pprof) read it back.
func TestCPUProfileReadsInPprof(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run pprof with")
	}
	p := newCPUProfile()
	p.halted.Store(7)
	p.monitor.Store(2)
	var st [profileMaxDepth]uint64
	st[0], st[1] = 0x401234, 0x405678
	p.counts[st] = 5
	var buf bytes.Buffer
	if err := p.write(&buf, nil, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cpu.pb.gz")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-nodecount=10", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pprof could not read the profile: %v\n%s", err, out)
	}
	text := string(out)
	// 14 samples of 1 ms; the two pseudo-functions and the unsymbolized
	// stack (no image: every address is "(unknown)").
	for _, want := range []string{"Total samples = 14ms", "7ms", "(vCPU halted)", "2ms", "(vCPU in the monitor)", "5ms", "(unknown)", "Duration: 3s"} {
		if !strings.Contains(text, want) {
			t.Errorf("pprof output lacks %q:\n%s", want, text)
		}
	}
}

// TestCPUProfileHostileStack: whatever the guest's RBP chain holds, the
// walk ends (frame pointers must go up, at most profileMaxDepth frames)
// and reads nothing outside guest memory.
func TestCPUProfileHostileStack(t *testing.T) {
	m := make(guestMem, 8<<20)
	buildPageTables(m)
	p := newCPUProfile()
	const fp = 0x300000
	// A frame pointing at itself, one pointing down, one past RAM, one
	// whose return-address slot wraps, and an unaligned one.
	m.put64(fp, fp)
	m.put64(fp+8, 0x401000)
	m.put64(fp+0x100, fp)
	m.put64(fp+0x108, 0x402000)
	for _, rbp := range []uint64{fp, fp + 0x100, 1 << 40, ^uint64(7), fp + 3, 0} {
		p.sample(m, 0x400100, rbp)
	}
	var n int64
	for st, c := range p.counts {
		n += c
		if st[0] != 0x400100 {
			t.Errorf("stack %x does not start at RIP", st[:4])
		}
		for _, pc := range st[3:] {
			if pc != 0 {
				t.Errorf("stack %x walked more than the two planted frames", st[:4])
				break
			}
		}
	}
	if n != 6 {
		t.Errorf("%d samples recorded, want 6", n)
	}
	// A guest that makes every sample a new stack is bounded.
	p = newCPUProfile()
	for i := range profileMaxStacks + 10 {
		p.sample(m, 0x400000+uint64(i), 0)
	}
	if len(p.counts) != profileMaxStacks || p.overflow != 10 {
		t.Errorf("%d stacks kept, %d overflowed; want %d and 10", len(p.counts), p.overflow, profileMaxStacks)
	}
}
