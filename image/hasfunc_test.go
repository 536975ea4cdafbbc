package image_test

import (
	"testing"

	"brique.dev/brique/image"
)

// TestHasFunc: the linker keeps only reachable functions, so a program
// that prints has no os.OpenFile, and a web server (which reads files for
// its file server code paths) has it.
func TestHasFunc(t *testing.T) {
	hello := buildProg(t, "hello")
	if has, err := image.HasFunc(hello, "os.OpenFile", "os.openFileNolog"); err != nil || has {
		t.Errorf("hello: HasFunc(os.OpenFile) = %v, %v; want false", has, err)
	}
	if has, err := image.HasFunc(hello, "fmt.Fprintln", "no.such"); err != nil || !has {
		t.Errorf("hello: HasFunc(fmt.Fprintln) = %v, %v; want true", has, err)
	}
	if _, err := image.HasFunc([]byte("not an ELF")); err == nil {
		t.Error("HasFunc on garbage: want an error")
	}
}
