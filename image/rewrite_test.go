package image_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"brique.dev/brique/image"

	"golang.org/x/arch/x86/x86asm"
)

func TestRewrite(t *testing.T) {
	for _, name := range []string{"hello", "web"} {
		t.Run(name, func(t *testing.T) {
			in := buildProg(t, name)
			orig := bytes.Clone(in)
			out, rep, err := image.Rewrite(in)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if !bytes.Equal(in, orig) {
				t.Fatal("Rewrite modified its input")
			}
			logReport(t, name, rep)

			if rep.Rewritten == 0 || rep.Rewritten != len(rep.Sites) {
				t.Fatalf("Rewritten = %d, len(Sites) = %d; want equal and > 0", rep.Rewritten, len(rep.Sites))
			}
			if rep.FullyDecoded+len(rep.Undecodable) != rep.Functions {
				t.Errorf("FullyDecoded %d + Undecodable %d != Functions %d", rep.FullyDecoded, len(rep.Undecodable), rep.Functions)
			}
			if rep.BoundariesVerified == 0 {
				t.Error("no .gopclntab instruction boundaries verified")
			}
			sawSyscall6 := false
			changed := map[uint64]bool{}
			for _, s := range rep.Sites {
				if !bytes.Equal(in[s.Offset:s.Offset+2], []byte{0x0f, 0x05}) {
					t.Errorf("site %s %#x: input bytes % x, want 0f 05", s.Func, s.Addr, in[s.Offset:s.Offset+2])
				}
				inst, err := x86asm.Decode(out[s.Offset:], 64)
				if err != nil || inst.Op != x86asm.CALL || inst.Len != 2 || inst.Args[0] != x86asm.RAX {
					t.Errorf("site %s %#x: output decodes as %v (len %d, err %v), want CALL RAX", s.Func, s.Addr, inst, inst.Len, err)
				}
				if strings.HasSuffix(s.Func, ".Syscall6") {
					sawSyscall6 = true
				}
				changed[s.Offset], changed[s.Offset+1] = true, true
			}
			if !sawSyscall6 {
				t.Error("no site in internal/runtime/syscall/linux.Syscall6")
			}
			for i := range in {
				if in[i] != out[i] && !changed[uint64(i)] {
					t.Fatalf("byte at file offset %#x changed (% x -> % x) but is not a site", i, in[i], out[i])
				}
			}
			if len(out) != len(in) {
				t.Fatalf("output is %d bytes, input %d", len(out), len(in))
			}
			if name == "web" && len(rep.Undecodable) == 0 {
				t.Error("web: expected some functions x86asm v0.33.0 cannot fully decode (ADCX in math/big, BYTE-encoded SIMD in chacha20poly1305); if golang.org/x/arch improved, drop this check")
			}
			for _, u := range rep.Undecodable {
				if u.RawFrom < u.Entry || u.RawFrom > u.Addr || u.Reason == "" {
					t.Errorf("bad Undecodable entry %+v", u)
				}
			}

			// No decodable SYSCALL is left: Rewrite, which decodes every
			// function, finds nothing more to do.
			if _, _, err := image.Rewrite(out); !errors.Is(err, image.ErrAlreadyRewritten) {
				t.Errorf("Rewrite(output) = %v, want ErrAlreadyRewritten (no SYSCALL left)", err)
			}
			// The rewritten ELF is still a valid ELF.
			if _, err := elf.NewFile(bytes.NewReader(out)); err != nil {
				t.Errorf("output is not a valid ELF: %v", err)
			}
		})
	}
}

func logReport(t *testing.T, name string, rep image.RewriteReport) {
	t.Logf("%s: %d sites in %d functions; %d fully decoded, %d undecodable, %d false 0F05 matches, %d boundaries verified, %d uncovered bytes (%d non-padding), %d non-code exec bytes",
		name, rep.Rewritten, rep.Functions, rep.FullyDecoded, len(rep.Undecodable), rep.FalseMatches, rep.BoundariesVerified, rep.UncoveredBytes, rep.UncoveredNonPadding, rep.NonCodeExecBytes)
	for _, u := range rep.Undecodable {
		t.Logf("  undecodable %s at %#x (+%#x): %s", u.Func, u.Addr, u.Addr-u.Entry, u.Reason)
	}
}

// TestRewriteMatchesObjdump uses GNU objdump as an independent decoder:
// the SYSCALLs it sees in the input must be exactly the rewritten sites,
// and it must see none in the output.
func TestRewriteMatchesObjdump(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not installed")
	}
	for _, name := range []string{"hello", "web"} {
		t.Run(name, func(t *testing.T) {
			in := buildProg(t, name)
			out, rep, err := image.Rewrite(in)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			inPath, outPath := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			writeFile(t, inPath, in)
			writeFile(t, outPath, out)

			want := map[uint64]bool{}
			for _, s := range rep.Sites {
				want[s.Addr] = true
			}
			got := objdumpFind(t, objdump, inPath, "syscall")
			for a := range got {
				if !want[a] {
					t.Errorf("objdump sees SYSCALL at %#x, which Rewrite did not rewrite", a)
				}
			}
			for a := range want {
				if !got[a] {
					t.Errorf("Rewrite rewrote %#x, where objdump sees no SYSCALL", a)
				}
			}
			if left := objdumpFind(t, objdump, outPath, "syscall"); len(left) != 0 {
				t.Errorf("objdump sees %d SYSCALLs in the output", len(left))
			}
			calls := objdumpFind(t, objdump, outPath, "call   *%rax")
			for a := range want {
				if !calls[a] {
					t.Errorf("objdump does not see call *%%rax at site %#x in the output", a)
				}
			}
		})
	}
}

// objdumpFind returns the addresses of instructions whose text starts with
// mnemonic in objdump's disassembly of path.
func objdumpFind(t *testing.T, objdump, path, mnemonic string) map[uint64]bool {
	t.Helper()
	cmd := exec.Command(objdump, "-d", "--no-show-raw-insn", path)
	outp, err := cmd.Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	found := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(outp))
	for sc.Scan() {
		addr, text, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimSpace(addr), 16, 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(text), mnemonic) {
			found[a] = true
		}
	}
	return found
}

func TestRewriteRefusesRewritten(t *testing.T) {
	in := buildProg(t, "hello")
	out, rep, err := image.Rewrite(in)
	if err != nil {
		t.Fatal(err)
	}
	img := image.AppendTrailer(out, image.Metadata{Entry: 0, SyscallSites: rep.Rewritten})
	_, _, err = image.Rewrite(img)
	if !errors.Is(err, image.ErrAlreadyRewritten) || !strings.Contains(err.Error(), "trailer") {
		t.Errorf("Rewrite(image with trailer) = %v, want ErrAlreadyRewritten mentioning the trailer", err)
	}
	_, _, err = image.Rewrite(out)
	if !errors.Is(err, image.ErrAlreadyRewritten) {
		t.Errorf("Rewrite(rewritten ELF without trailer) = %v, want ErrAlreadyRewritten", err)
	}
}

func TestRewriteRejects(t *testing.T) {
	hello := buildProg(t, "hello")
	le := binary.LittleEndian
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(hello)
		f(b)
		return b
	}
	random := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, image.ErrEmpty},
		{"random", random, image.ErrNotELF},
		{"short", []byte("\x7fELF"), image.ErrMalformed},
		{"arm64", mod(func(b []byte) { le.PutUint16(b[18:], uint16(elf.EM_AARCH64)) }), image.ErrWrongArch},
		{"elf32", mod(func(b []byte) { b[4] = byte(elf.ELFCLASS32) }), nil}, // malformed or wrong arch
		{"pie", mod(func(b []byte) { le.PutUint16(b[16:], uint16(elf.ET_DYN)) }), image.ErrWrongArch},
		{"interp", mod(func(b []byte) { setPhdrType(t, b, elf.PT_GNU_STACK, elf.PT_INTERP) }), image.ErrDynamic},
		{"no-pclntab", mod(func(b []byte) {
			i := bytes.LastIndex(b, []byte(".gopclntab\x00"))
			copy(b[i:], ".xopclntab")
		}), image.ErrNoPclntab},
		{"bad-pclntab", mod(func(b []byte) {
			f, _ := elf.NewFile(bytes.NewReader(hello))
			s := f.Section(".gopclntab")
			le.PutUint64(b[s.Offset+8:], 1<<40) // absurd function count
		}), image.ErrNoPclntab},
	}
	if b, err := os.ReadFile("/bin/true"); err == nil {
		tests = append(tests, struct {
			name string
			in   []byte
			want error
		}{"/bin/true", b, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := image.Rewrite(tt.in)
			if err == nil {
				t.Fatal("Rewrite succeeded, want error")
			}
			var ie *image.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *image.Error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Rewrite error = %v, want %v", err, tt.want)
			}
			t.Logf("%v", err)
		})
	}
}

// setPhdrType changes the type of the first program header of type from.
func setPhdrType(t *testing.T, b []byte, from, to elf.ProgType) {
	t.Helper()
	le := binary.LittleEndian
	phoff, phnum := le.Uint64(b[32:]), int(le.Uint16(b[56:]))
	for i := range phnum {
		p := b[phoff+uint64(i)*56:]
		if elf.ProgType(le.Uint32(p)) == from {
			le.PutUint32(p, uint32(to))
			return
		}
	}
	t.Fatalf("no program header of type %v", from)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRewriteUnsafe(t *testing.T) {
	hello := buildProg(t, "hello")
	_, rep, err := image.Rewrite(hello)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(hello))
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")

	t.Run("undecodable-before-syscall", func(t *testing.T) {
		// Make the first instruction of a function with a SYSCALL
		// undecodable (0x06, PUSH ES, is invalid in 64-bit mode): the rest
		// of the function contains 0F 05, so Rewrite must refuse.
		site := rep.Sites[len(rep.Sites)-1]
		entry := funcEntry(t, hello, site.Func)
		b := bytes.Clone(hello)
		b[text.Offset+(entry-text.Addr)] = 0x06
		_, _, err := image.Rewrite(b)
		if !errors.Is(err, image.ErrUnsafeSyscall) || !strings.Contains(err.Error(), site.Func) {
			t.Fatalf("Rewrite = %v, want ErrUnsafeSyscall naming %s", err, site.Func)
		}
		t.Log(err)
	})
	t.Run("undecodable-without-syscall", func(t *testing.T) {
		// The same in a function without 0F 05 bytes: reported, not fatal.
		entry := funcEntry(t, hello, "main.crash")
		b := bytes.Clone(hello)
		b[text.Offset+(entry-text.Addr)] = 0x06
		out, rep2, err := image.Rewrite(b)
		if err != nil {
			t.Fatalf("Rewrite: %v", err)
		}
		if len(rep2.Undecodable) != 1 || rep2.Undecodable[0].Func != "main.crash" ||
			rep2.Undecodable[0].Addr != entry || rep2.Undecodable[0].RawFrom != entry {
			t.Fatalf("Undecodable = %+v, want main.crash at %#x", rep2.Undecodable, entry)
		}
		if rep2.Rewritten != rep.Rewritten || out[text.Offset+(entry-text.Addr)] != 0x06 {
			t.Fatalf("rewrote %d sites, want %d", rep2.Rewritten, rep.Rewritten)
		}
	})
	t.Run("syscall-in-gap", func(t *testing.T) {
		if rep.UncoveredBytes < 2 {
			t.Skip("no uncovered bytes at the end of .text")
		}
		b := bytes.Clone(hello)
		end := text.Offset + text.Size
		copy(b[end-2:], []byte{0x0f, 0x05})
		_, _, err := image.Rewrite(b)
		if !errors.Is(err, image.ErrUnsafeSyscall) {
			t.Fatalf("Rewrite = %v, want ErrUnsafeSyscall", err)
		}
		t.Log(err)
	})
	t.Run("int80", func(t *testing.T) {
		site := rep.Sites[0]
		b := bytes.Clone(hello)
		copy(b[site.Offset:], []byte{0xcd, 0x80})
		_, _, err := image.Rewrite(b)
		if !errors.Is(err, image.ErrUnsafeSyscall) {
			t.Fatalf("Rewrite = %v, want ErrUnsafeSyscall", err)
		}
	})
}

// funcEntry finds a function's entry address with debug/gosym.
func funcEntry(t *testing.T, exe []byte, name string) uint64 {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatal(err)
	}
	pcln, err := f.Section(".gopclntab").Data()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, f.Section(".text").Addr))
	if err != nil {
		t.Fatal(err)
	}
	fn := tab.LookupFunc(name)
	if fn == nil {
		t.Fatalf("no function %s", name)
	}
	return fn.Entry
}
