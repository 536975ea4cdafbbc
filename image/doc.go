// Package image implements the post-link step that turns a Go executable
// into a Brique image, and the checks the monitor runs before loading one.
//
// A Brique image is a static GOOS=linux GOARCH=amd64 CGO_ENABLED=0 Go
// executable (ELF64, ET_EXEC, no PT_INTERP; see the System V ABI "ELF"
// specification, gABI chapters 4 and 5, and its AMD64 supplement), usually
// linked with -ldflags="-s -w": there is no .symtab, but the section
// headers, .text and .gopclntab remain. Brique processes it in two steps.
//
// # System-call rewriting (zpoline)
//
// Rewrite replaces every SYSCALL instruction (0F 05) with CALL *%rax
// (FF D0), the technique of zpoline (Yasukata et al., "zpoline: a system
// call hook mechanism based on binary rewriting", USENIX ATC 2023). Both
// encodings are two bytes, so the rewrite is in place. At a system call
// %rax holds the system-call number (a few hundred at most), so the CALL
// lands in the first page of the address space; the guest maps a NOP sled
// at virtual address 0 that slides into Brique's system-call entry, which
// finds the number in %rax and the return address on the stack.
//
// Functions are enumerated from .gopclntab with debug/gosym, which parses
// the Go 1.20+ table of stripped (-s -w) Go 1.26 binaries; its header is
// validated by hand first because debug/gosym returns an empty table on
// malformed input instead of an error. Each function is decoded
// instruction by instruction with golang.org/x/arch/x86/x86asm, because a
// byte scan finds 0F 05 inside other instructions (displacements,
// immediates, SIMD operands); Rewrite reports these as FalseMatches.
//
// A decoder that silently returns a wrong instruction length loses sync
// and could then "find" a SYSCALL in the middle of another instruction,
// or miss a real one. x86asm v0.33.0 does this on VZEROUPPER, present in
// every AVX2 routine, and on some unknown opcodes (see decode). Rewrite
// works around the known cases and also checks the decoding against
// ground truth: the PCs at which the pclntab PC-value tables (stack
// pointer, file, line, pcdata) change value are instruction starts
// recorded by the Go assembler. debug/gosym does not expose these tables,
// so Rewrite reads them itself (runtime/symtab.go: _func, pcvalue). If
// decoding steps over such a PC (other than inside a run of legacy
// prefixes the assembler wrote as separate instructions, like LOCK), or
// x86asm cannot decode an instruction, Rewrite does not guess: decoding
// of that function stops, sites after the last confirmed instruction
// start are dropped, and if the raw bytes from there to the end of the
// function contain no 0F 05 pair the function cannot hold a SYSCALL and
// is listed in RewriteReport.Undecodable; otherwise Rewrite fails with
// ErrUnsafeSyscall naming the function and offset.
//
// Executable bytes that belong to no function (in Go binaries, only the
// 0xCC padding at the end of .text) are scanned as well: an 0F 05 there
// is an error, since code without a known start cannot be decoded
// reliably. Bytes of the executable PT_LOAD segment outside executable
// sections (ELF and program headers, build-ID notes) are data that
// control never reaches; they are counted but not scanned, because a
// build-ID hash may contain 0F 05 by chance.
//
// # Trailer
//
// AppendTrailer marks a file as a Brique image by appending a metadata
// blob (JSON Metadata) and a fixed 32-byte footer ending in the magic
// "BRIQUEv1", found from the end of the file. ELF loaders ignore the
// trailing bytes because no ELF header refers to them. The footer records
// the ELF and metadata lengths and a CRC-32C of everything before it.
// Open and Parse validate the trailer and the ELF and classify failures
// with the Err* sentinels (plain executable, random bytes, truncation,
// newer format, ...).
//
// # Loading
//
// Image.Segments returns the PT_LOAD segments after checking that a
// possibly hostile image cannot make the monitor read outside the file or
// write outside guest memory. Symbolizer maps guest program counters to
// function, file and line for crash reports.
//
// No function in this package panics on malformed input. debug/gosym and
// x86asm are not documented as panic-free on hostile bytes, so calls into
// them are guarded and a panic becomes an error.
package image
