package helperproc_test

import (
	"os"
	"strings"
	"testing"

	"brique.dev/brique/monitor/helperproc"
)

func TestStderrFile(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if f, done, err := helperproc.StderrFile(nil, devnull); f != devnull || done != nil || err != nil {
		t.Errorf("StderrFile(nil) = %v, %v, %v; want devnull", f, done, err)
	}
	if f, done, err := helperproc.StderrFile(os.Stderr, devnull); f != os.Stderr || done != nil || err != nil {
		t.Errorf("StderrFile(os.Stderr) = %v, %v, %v; want os.Stderr", f, done, err)
	}
	var buf strings.Builder
	f, done, err := helperproc.StderrFile(&buf, devnull)
	if err != nil || done == nil {
		t.Fatalf("StderrFile(buffer) = %v, %v, %v", f, done, err)
	}
	f.WriteString("helper: ")
	f.WriteString("trouble\n")
	f.Close()
	<-done
	if buf.String() != "helper: trouble\n" {
		t.Errorf("copied %q", buf.String())
	}
}
