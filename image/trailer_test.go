package image_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"brique.dev/brique/image"
)

// helloImage returns the rewritten hello ELF and the full image with
// trailer.
func helloImage(t testing.TB) (rewritten, img []byte, meta image.Metadata) {
	t.Helper()
	out, rep, err := image.Rewrite(buildProg(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err = image.NewMetadata(out, rep)
	if err != nil {
		t.Fatal(err)
	}
	meta.MinMemoryMiB = 64
	meta.Bricks = []string{"net", "fs"}
	return out, image.AppendTrailer(out, meta), meta
}

func TestTrailerRoundTrip(t *testing.T) {
	out, img, meta := helloImage(t)
	if meta.FormatVersion != image.CurrentFormatVersion || !strings.HasPrefix(meta.GoVersion, "go") ||
		meta.Package != "example.com/hello" || meta.Entry == 0 || meta.SyscallSites == 0 {
		t.Fatalf("NewMetadata = %+v", meta)
	}
	if _, err := time.Parse(time.RFC3339, meta.BuiltAt); err != nil {
		t.Errorf("BuiltAt %q: %v", meta.BuiltAt, err)
	}
	path := filepath.Join(t.TempDir(), "hello.brique")
	writeFile(t, path, img)

	got, err := image.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !reflect.DeepEqual(got.Meta, meta) {
		t.Errorf("metadata round trip:\n got %+v\nwant %+v", got.Meta, meta)
	}
	if !bytes.Equal(got.ELF, out) {
		t.Error("ELF bytes differ after round trip")
	}
	if got.File == nil || got.File.Entry != meta.Entry || got.File.Machine != elf.EM_X86_64 {
		t.Errorf("File = %+v", got.File)
	}
	if got.Path != path {
		t.Errorf("Path = %q", got.Path)
	}
	if !image.HasTrailer(img) || image.HasTrailer(out) {
		t.Error("HasTrailer wrong")
	}
	// AppendTrailer must not modify its input.
	if !bytes.Equal(img[:len(out)], out) {
		t.Error("trailer not appended after the ELF bytes")
	}
}

func TestOpenErrors(t *testing.T) {
	hello := buildProg(t, "hello")
	_, img, meta := helloImage(t)
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, b)
		return p
	}
	random := make([]byte, 1<<16)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0xff
		return b
	}
	v2 := meta
	v2.FormatVersion = 2
	badMagic := bytes.Clone(img)
	copy(badMagic[len(badMagic)-8:], "BRIQUEv9")
	flags := bytes.Clone(img)
	binary.LittleEndian.PutUint32(flags[len(flags)-12:], 1)

	tests := []struct {
		name    string
		path    string
		want    error
		wantMsg string
	}{
		{"missing", filepath.Join(dir, "nope"), image.ErrRead, "no such file"},
		{"directory", dir, image.ErrRead, "directory"},
		{"empty", file("empty", nil), image.ErrEmpty, "empty file"},
		{"random", file("random", random), image.ErrNotELF, "not an ELF file (random bytes?)"},
		{"text", file("text", []byte("#!/bin/sh\necho hi\n")), image.ErrNotELF, "not an ELF file"},
		{"plain go binary", file("plain", hello), image.ErrNotBrique, "a plain Linux executable, not a Brique image: build it with `brique build`"},
		{"truncated by 1", file("trunc1", img[:len(img)-1]), image.ErrCorruptTrailer, "truncated"},
		{"truncated in footer", file("trunc2", img[:len(img)-20]), image.ErrCorruptTrailer, "truncated"},
		{"truncated in metadata", file("trunc3", img[:len(img)-40]), image.ErrCorruptTrailer, "truncated"},
		{"truncated in marker", file("trunc4", img[:len(hello)+3]), image.ErrCorruptTrailer, "truncated"},
		{"head cut off", file("trunc5", img[len(img)/2:]), image.ErrCorruptTrailer, "do not add up"},
		{"cut in ELF", file("trunc6", img[:len(hello)/2]), image.ErrMalformed, "truncated"},
		{"lengths", file("lengths", append([]byte{0}, img...)), image.ErrCorruptTrailer, "do not add up"},
		{"checksum", file("checksum", flip(img, 0x2000)), image.ErrCorruptTrailer, "checksum"},
		{"meta checksum", file("metasum", flip(img, len(hello)+12)), image.ErrCorruptTrailer, "checksum"},
		{"future version", file("v2", image.AppendTrailer(hello, v2)), image.ErrUnsupportedVersion, "upgrade brique"},
		{"future trailer", file("v9", badMagic), image.ErrUnsupportedVersion, "upgrade brique"},
		{"unknown flags", file("flags", flags), image.ErrUnsupportedVersion, ""},
		{"entry mismatch", file("entry", image.AppendTrailer(hello, image.Metadata{Entry: 1})), image.ErrCorruptTrailer, "entry point"},
	}
	if st, err := os.Stat("/bin/true"); err == nil && st.Mode().IsRegular() {
		tests = append(tests, struct {
			name    string
			path    string
			want    error
			wantMsg string
		}{"/bin/true", "/bin/true", image.ErrNotBrique, "/bin/true: a plain Linux executable, not a Brique image: build it with `brique build`"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := image.Open(tt.path)
			if err == nil {
				t.Fatalf("Open succeeded: %+v", img.Meta)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v\nwant errors.Is %v", err, tt.want)
			}
			var ie *image.Error
			if !errors.As(err, &ie) || ie.Path != tt.path || ie.Op != "open" {
				t.Fatalf("error %#v: want *image.Error with Path %q", err, tt.path)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Open error = %q, want it to mention %q and the path", err, tt.wantMsg)
			}
			if tt.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("missing file error %v does not wrap fs.ErrNotExist", err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestSymbolizer(t *testing.T) {
	_, img, _ := helloImage(t)
	im, err := image.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	sym, err := image.NewSymbolizer(im)
	if err != nil {
		t.Fatal(err)
	}
	crashLine := 0
	for i, l := range strings.Split(programs["hello"], "\n") {
		if strings.Contains(l, "// crashLine") {
			crashLine = i + 1
		}
	}
	entry := funcEntry(t, im.ELF, "main.crash")
	found := false
	for pc := entry; pc < entry+256; pc++ {
		fn, file, line, ok := sym.Lookup(pc)
		if !ok || fn != "main.crash" {
			break
		}
		if !strings.HasSuffix(file, "/main.go") {
			t.Fatalf("Lookup(%#x) file = %q", pc, file)
		}
		if line == crashLine {
			found = true
			d := sym.Describe(pc)
			if !strings.Contains(d, "in main.crash at ") || !strings.HasSuffix(d, "main.go:"+strconv.Itoa(crashLine)) {
				t.Errorf("Describe = %q", d)
			}
			t.Log(d)
			break
		}
	}
	if !found {
		t.Errorf("no PC in main.crash maps to main.go:%d", crashLine)
	}
	if fn, _, _, ok := sym.Lookup(0x10); ok {
		t.Errorf("Lookup(0x10) = %q, true; want not found", fn)
	}
	if fn, _, _, ok := sym.Lookup(im.File.Entry); !ok || fn == "" {
		t.Errorf("Lookup(entry) = %q, %v", fn, ok)
	}
	if _, err := image.NewSymbolizer(nil); err == nil {
		t.Error("NewSymbolizer(nil) succeeded")
	}
}
