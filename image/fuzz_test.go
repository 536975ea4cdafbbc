package image_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"brique.dev/brique/image"
)

// FuzzOpen checks that parsing an image (what Open does after reading the
// file) and everything the monitor does with a parsed image never panics,
// whatever the bytes, and that every failure is an *image.Error.
func FuzzOpen(f *testing.F) {
	_, img, _ := helloImage(f)
	f.Add(img)
	f.Add(img[:4096])
	f.Add(img[len(img)-512:])
	f.Add(append(bytes.Clone(img[:4096]), img[len(img)-512:]...))
	f.Add([]byte("\x7fELF"))
	f.Add([]byte("BRIQUEv1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := image.Parse(data)
		if err != nil {
			var ie *image.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *image.Error", err)
			}
			return
		}
		if _, err := im.Segments(1 << 40); err != nil && !errors.Is(err, image.ErrSegments) {
			t.Fatalf("Segments error %v is not ErrSegments", err)
		}
		sym, err := image.NewSymbolizer(im)
		if err != nil {
			return
		}
		for _, pc := range []uint64{0, im.File.Entry, im.File.Entry + 1, ^uint64(0)} {
			sym.Lookup(pc)
			_ = sym.Describe(pc)
		}
	})
}

// FuzzRewrite checks that Rewrite never panics and, when it succeeds,
// changes only the bytes of the sites it reports.
func FuzzRewrite(f *testing.F) {
	hello := buildProg(f, "hello")
	f.Add(hello)
	f.Add(hello[:8192])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, rep, err := image.Rewrite(data)
		if err != nil {
			var ie *image.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *image.Error", err)
			}
			return
		}
		if len(out) != len(data) || rep.Rewritten != len(rep.Sites) {
			t.Fatalf("output %d bytes for %d input, %d sites/%d", len(out), len(data), len(rep.Sites), rep.Rewritten)
		}
		for _, s := range rep.Sites {
			if !bytes.Equal(data[s.Offset:s.Offset+2], []byte{0x0f, 0x05}) || !bytes.Equal(out[s.Offset:s.Offset+2], []byte{0xff, 0xd0}) {
				t.Fatalf("bad site %+v", s)
			}
			copy(out[s.Offset:], data[s.Offset:s.Offset+2])
		}
		if !bytes.Equal(out, data) {
			t.Fatal("Rewrite changed bytes outside the reported sites")
		}
	})
}

// TestCorruptedTables corrupts the parts of a real image that the parsers
// trust least (ELF headers, .gopclntab) and checks nothing panics. Unlike
// the fuzzers it runs on every `go test` and always starts from a full,
// valid image, with a regenerated trailer so corruption gets past the
// checksum.
func TestCorruptedTables(t *testing.T) {
	hello := buildProg(t, "hello")
	out, _, err := image.Rewrite(hello)
	if err != nil {
		t.Fatal(err)
	}
	good, err := image.Parse(image.AppendTrailer(out, image.Metadata{Entry: entryOf(t, out)}))
	if err != nil {
		t.Fatal(err)
	}
	pcln := good.File.Section(".gopclntab")
	r := rand.New(rand.NewPCG(5, 6))
	regions := []struct{ off, n uint64 }{
		{0, 0x400},               // ELF and program headers
		{pcln.Offset, 0x2000},    // pclntab header, function table
		{pcln.Offset, pcln.Size}, // anywhere in pclntab
	}
	iters := 300
	if testing.Short() {
		iters = 30
	}
	for i := range iters {
		b := bytes.Clone(hello)
		reg := regions[i%len(regions)]
		for range 1 + r.IntN(8) {
			off := reg.off + r.Uint64N(reg.n)
			switch r.IntN(3) {
			case 0:
				b[off] ^= byte(1 << r.IntN(8))
			case 1:
				b[off] = byte(r.Uint32())
			case 2:
				b[off] = 0xff
			}
		}
		im, err := image.Parse(image.AppendTrailer(b, image.Metadata{Entry: entryOf(t, b)}))
		if err == nil {
			im.Segments(1 << 40)
			if sym, err := image.NewSymbolizer(im); err == nil {
				for range 20 {
					sym.Describe(im.File.Entry - 0x1000 + r.Uint64N(0x100000))
				}
			}
		}
		if i%31 == 0 { // Rewrite decodes all of .text: slower
			image.Rewrite(b)
		}
	}
}

// entryOf reads e_entry without validating anything.
func entryOf(t *testing.T, b []byte) uint64 {
	if len(b) < 32 {
		return 0
	}
	return binary.LittleEndian.Uint64(b[24:])
}
