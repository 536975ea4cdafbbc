package image

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by this package is an *Error whose
// Kind is one of these, so callers can branch with errors.Is:
//
//	if errors.Is(err, image.ErrNotBrique) { ... }
//
// Errors caused by the operating system (for example a missing file) also
// wrap the original error, so errors.Is(err, fs.ErrNotExist) works too.
var (
	// ErrRead: the image file could not be read (missing, permission
	// denied, a directory, ...). The OS error is wrapped as well, so
	// errors.Is(err, fs.ErrNotExist) reports a missing file.
	ErrRead = errors.New("cannot read image file")
	// ErrEmpty: the file has zero bytes.
	ErrEmpty = errors.New("empty file")
	// ErrTooLarge: the file exceeds MaxImageSize.
	ErrTooLarge = errors.New("file too large")
	// ErrNotELF: the bytes are not an ELF file at all.
	ErrNotELF = errors.New("not an ELF file")
	// ErrNotBrique: a valid ELF file without a Brique trailer.
	ErrNotBrique = errors.New("not a Brique image")
	// ErrWrongArch: ELF, but not a 64-bit little-endian x86-64 ET_EXEC.
	ErrWrongArch = errors.New("wrong architecture or ELF type")
	// ErrDynamic: the executable is dynamically linked (has PT_INTERP).
	ErrDynamic = errors.New("dynamically linked executable")
	// ErrNoPclntab: the executable has no (usable) .gopclntab, i.e. it
	// is not a Go program or was mangled by an external tool.
	ErrNoPclntab = errors.New("no usable Go pclntab")
	// ErrMalformed: the ELF structure is inconsistent (offsets outside
	// the file, overlapping segments, ...). Possibly hostile input.
	ErrMalformed = errors.New("malformed ELF image")
	// ErrCorruptTrailer: the Brique trailer is truncated, has bad lengths,
	// bad JSON or a checksum mismatch.
	ErrCorruptTrailer = errors.New("corrupt Brique trailer")
	// ErrUnsupportedVersion: the trailer or metadata format version is
	// not understood by this build of Brique.
	ErrUnsupportedVersion = errors.New("unsupported Brique image format version")
	// ErrAlreadyRewritten: Rewrite was given an image that already carries
	// a Brique trailer (or has no SYSCALL left to rewrite).
	ErrAlreadyRewritten = errors.New("image already rewritten")
	// ErrUnsafeSyscall: Rewrite found 0F 05 (SYSCALL) bytes it cannot prove
	// to be, or not to be, a SYSCALL instruction, or a system-call
	// instruction it cannot rewrite. Brique refuses to guess.
	ErrUnsafeSyscall = errors.New("cannot safely rewrite system calls")
	// ErrSegments: the PT_LOAD segments fail the loader's sanity checks.
	ErrSegments = errors.New("invalid loadable segments")
)

// Error is the error type returned by every function in this package.
type Error struct {
	Op   string // operation: "open", "rewrite", "segments", "symbolize"
	Path string // file name, or "" for in-memory data
	Kind error  // one of the Err* sentinels
	Msg  string // what exactly failed and what to do about it
	Err  error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	// "PATH: what happened": the path is what the user typed; the
	// operation only matters when there is no path.
	if e.Path != "" {
		b.WriteString(e.Path)
	} else {
		b.WriteString("image")
		if e.Op != "" {
			b.WriteString(" ")
			b.WriteString(e.Op)
		}
	}
	b.WriteString(": ")
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the sentinel Kind and the underlying cause to
// errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func newErr(op, path string, kind error, msg string, cause error) *Error {
	return &Error{Op: op, Path: path, Kind: kind, Msg: msg, Err: cause}
}
