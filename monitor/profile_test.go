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
