package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"time"
)

// CurrentFormatVersion is the trailer/metadata format written by
// AppendTrailer and the only one Open accepts.
const CurrentFormatVersion = 1

// MaxImageSize bounds the size of a file Open is willing to read.
const MaxImageSize = 1 << 30

// MaxMetadataSize bounds the size of the JSON metadata in a trailer.
const MaxMetadataSize = 1 << 20

// Trailer layout, appended after the unmodified ELF bytes:
//
//	offset            size  content
//	0                 E     ELF file (E = elfLen)
//	E                 8     metaMarker "BRQMETA\x00"
//	E+8               M     metadata, JSON (M = metaLen)
//	E+8+M             8     elfLen,  uint64 little-endian
//	E+16+M            8     metaLen, uint64 little-endian
//	E+24+M            4     CRC-32C (Castagnoli) of bytes [0, E+8+M)
//	E+28+M            4     reserved, zero
//	E+32+M            8     footerMagic "BRIQUEv1" (last 8 bytes of the file)
//
// A reader finds the fixed-size footer from the end of the file. Program
// loaders ignore the trailing bytes because no ELF header points at them.
// The "v1" in the magic is the trailer layout version; the leading
// "BRIQUEv" identifies a Brique image of any version.
const (
	footerSize   = 32
	magicPrefix  = "BRIQUEv"
	footerMagic  = "BRIQUEv1"
	metaMarker   = "BRQMETA\x00"
	markerLength = len(metaMarker)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Metadata describes a Brique image. It is stored as JSON in the trailer.
type Metadata struct {
	FormatVersion int      `json:"format_version"`           // CurrentFormatVersion
	GoVersion     string   `json:"go_version"`               // toolchain, e.g. "go1.26.0"
	Package       string   `json:"package"`                  // import path of the main package
	Entry         uint64   `json:"entry"`                    // ELF entry point (e_entry)
	SyscallSites  int      `json:"syscall_sites"`            // SYSCALLs rewritten by Rewrite
	MinMemoryMiB  int      `json:"min_memory_mib,omitempty"` // 0 = unknown
	Bricks        []string `json:"bricks,omitempty"`         // bricks linked into the image
	BuiltAt       string   `json:"built_at"`                 // RFC 3339
}

// Image is a parsed Brique image.
type Image struct {
	Path string    // file name given to Open, "" for Parse
	ELF  []byte    // the ELF file, without the trailer
	Meta Metadata  // metadata from the trailer
	File *elf.File // parsed view of ELF
}

// AppendTrailer returns elf followed by a Brique trailer holding m. If
// m.FormatVersion is 0 it is set to CurrentFormatVersion, a zero m.Entry
// is read from the ELF header, and an empty m.BuiltAt is set to the
// current time. elf should be the output of Rewrite (NewMetadata fills m
// from it); the input slice is not modified.
func AppendTrailer(elf []byte, m Metadata) []byte {
	if m.FormatVersion == 0 {
		m.FormatVersion = CurrentFormatVersion
	}
	if m.Entry == 0 && len(elf) >= 32 && bytes.HasPrefix(elf, elfMagic) {
		m.Entry = binary.LittleEndian.Uint64(elf[24:]) // e_entry of ELF64
	}
	if m.BuiltAt == "" {
		m.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	}
	meta, err := json.Marshal(m)
	if err != nil {
		// Metadata has only strings and integers: Marshal cannot fail.
		meta = []byte("{}")
	}
	out := make([]byte, 0, len(elf)+markerLength+len(meta)+footerSize)
	out = append(out, elf...)
	out = append(out, metaMarker...)
	out = append(out, meta...)
	sum := crc32.Checksum(out, castagnoli)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(elf)))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(meta)))
	out = binary.LittleEndian.AppendUint32(out, sum)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = append(out, footerMagic...)
	return out
}

// HasTrailer reports whether data ends with a Brique footer magic (of any
// format version). It does not validate the trailer.
func HasTrailer(data []byte) bool {
	return len(data) >= len(footerMagic) && bytes.HasPrefix(data[len(data)-len(footerMagic):], []byte(magicPrefix))
}

// Open reads and validates the Brique image at path. See Parse.
func Open(path string) (*Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, readErr(path, err)
	}
	if st.IsDir() {
		return nil, newErr("open", path, ErrRead, "is a directory, not an image file: pass the file written by `brique build`", nil)
	}
	if st.Size() > MaxImageSize {
		return nil, newErr("open", path, ErrTooLarge,
			fmt.Sprintf("file is %d bytes, more than the %d-byte limit for an image: is this really a Brique image?", st.Size(), MaxImageSize), nil)
	}
	data, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, readErr(path, err)
	}
	img, err := parse("open", path, data)
	if err != nil {
		return nil, err
	}
	img.Path = path
	return img, nil
}

func readErr(path string, err error) error {
	msg := "cannot read the image file"
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = "no such file: check the path, or build the image with `brique build`"
	case errors.Is(err, fs.ErrPermission):
		msg = "permission denied: check the file's permissions"
	}
	return newErr("open", path, ErrRead, msg, err)
}

// Parse validates an in-memory Brique image (ELF + trailer), as Open does
// for a file. The returned Image's ELF aliases data.
func Parse(data []byte) (*Image, error) {
	return parse("parse", "", data)
}

func parse(op, path string, data []byte) (*Image, error) {
	if len(data) == 0 {
		return nil, newErr(op, path, ErrEmpty, "empty file (0 bytes): the build was probably interrupted; rebuild with `brique build`", nil)
	}
	if len(data) > MaxImageSize {
		return nil, newErr(op, path, ErrTooLarge, fmt.Sprintf("%d bytes is more than the %d-byte limit for an image", len(data), MaxImageSize), nil)
	}
	if !HasTrailer(data) {
		return nil, classifyNoTrailer(op, path, data)
	}
	elfBytes, meta, err := readTrailer(op, path, data)
	if err != nil {
		return nil, err
	}
	f, err := parseELF(op, path, elfBytes)
	if err != nil {
		return nil, err
	}
	if meta.Entry != f.Entry {
		return nil, newErr(op, path, ErrCorruptTrailer,
			fmt.Sprintf("metadata entry point %#x does not match the ELF entry point %#x: the image was modified after `brique build`; rebuild it", meta.Entry, f.Entry), nil)
	}
	return &Image{ELF: elfBytes, Meta: meta, File: f}, nil
}

// readTrailer validates the footer, checksum and metadata and returns the
// ELF part of data.
func readTrailer(op, path string, data []byte) ([]byte, Metadata, error) {
	var meta Metadata
	tail := data[len(data)-len(footerMagic):]
	if string(tail) != footerMagic {
		return nil, meta, newErr(op, path, ErrUnsupportedVersion,
			fmt.Sprintf("trailer format %q is not supported by this brique (it reads %q): upgrade brique, or rebuild the image with this version", tail, footerMagic), nil)
	}
	if len(data) < footerSize+markerLength {
		return nil, meta, newErr(op, path, ErrCorruptTrailer, "file is too short to hold a Brique trailer: it is truncated or corrupt; rebuild with `brique build`", nil)
	}
	foot := data[len(data)-footerSize:]
	le := binary.LittleEndian
	elfLen, metaLen := le.Uint64(foot[0:]), le.Uint64(foot[8:])
	sum, reserved := le.Uint32(foot[16:]), le.Uint32(foot[20:])
	if reserved != 0 {
		return nil, meta, newErr(op, path, ErrUnsupportedVersion,
			fmt.Sprintf("trailer uses feature flags %#x unknown to this brique: upgrade brique", reserved), nil)
	}
	// elfLen + marker + metaLen + footer must be exactly the file size.
	// Check each term against the size first so the sum cannot overflow.
	size := uint64(len(data))
	if metaLen > MaxMetadataSize || elfLen > size || elfLen+uint64(markerLength)+metaLen+footerSize != size {
		return nil, meta, newErr(op, path, ErrCorruptTrailer,
			fmt.Sprintf("trailer lengths (ELF %d + metadata %d bytes) do not add up to the %d-byte file: it was truncated or had bytes appended; copy it again or rebuild with `brique build`", elfLen, metaLen, size), nil)
	}
	body := data[:size-footerSize]
	if string(body[elfLen:elfLen+uint64(markerLength)]) != metaMarker {
		return nil, meta, newErr(op, path, ErrCorruptTrailer, "metadata marker missing where the trailer says it starts: the image is corrupt; rebuild with `brique build`", nil)
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, meta, newErr(op, path, ErrCorruptTrailer,
			fmt.Sprintf("checksum mismatch (stored %#08x, computed %#08x): the image is corrupt; copy it again or rebuild with `brique build`", sum, got), nil)
	}
	if err := json.Unmarshal(body[elfLen+uint64(markerLength):], &meta); err != nil {
		return nil, meta, newErr(op, path, ErrCorruptTrailer, "metadata is not valid JSON; rebuild with `brique build`", err)
	}
	if meta.FormatVersion != CurrentFormatVersion {
		hint := "upgrade brique"
		if meta.FormatVersion < CurrentFormatVersion {
			hint = "rebuild the image with this brique"
		}
		return nil, meta, newErr(op, path, ErrUnsupportedVersion,
			fmt.Sprintf("metadata format version %d, but this brique reads version %d: %s", meta.FormatVersion, CurrentFormatVersion, hint), nil)
	}
	if meta.SyscallSites < 0 || meta.MinMemoryMiB < 0 {
		return nil, meta, newErr(op, path, ErrCorruptTrailer,
			fmt.Sprintf("metadata has negative counts (syscall_sites %d, min_memory_mib %d); rebuild with `brique build`", meta.SyscallSites, meta.MinMemoryMiB), nil)
	}
	return data[:elfLen:elfLen], meta, nil
}

// classifyNoTrailer explains why data, which has no Brique footer, is not
// a Brique image.
func classifyNoTrailer(op, path string, data []byte) error {
	if !bytes.HasPrefix(data, elfMagic) {
		return newErr(op, path, ErrNotELF, "not an ELF file (random bytes?): expected an image written by `brique build`", nil)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return newErr(op, path, ErrMalformed, "damaged or truncated ELF file without a Brique trailer: copy it again or rebuild with `brique build`", err)
	}
	if err := checkExtents(op, path, f, uint64(len(data))); err != nil {
		return err
	}
	// A trailer cut short leaves the start of the metadata marker right
	// after the last byte the ELF headers describe.
	if end := elfExtent(f, data); end < uint64(len(data)) {
		rest := data[end:]
		if bytes.HasPrefix(rest, []byte(metaMarker)) || bytes.HasPrefix([]byte(metaMarker), rest) {
			return newErr(op, path, ErrCorruptTrailer,
				"the Brique trailer is truncated: the file was cut short (interrupted copy or download?); copy it again or rebuild with `brique build`", nil)
		}
	}
	if f.Machine == elf.EM_X86_64 && (f.Type == elf.ET_EXEC || f.Type == elf.ET_DYN) {
		return newErr(op, path, ErrNotBrique, "a plain Linux executable, not a Brique image: build it with `brique build`", nil)
	}
	return newErr(op, path, ErrNotBrique,
		fmt.Sprintf("an ELF file (%v, %v), not a Brique image: build one with `brique build`", f.Machine, f.Type), nil)
}
