package vol

import (
	"encoding/binary"
	"syscall"

	"github.com/hugelgupf/p9/p9"
)

// Linux system call numbers the volume service sees
// (arch/x86/entry/syscalls/syscall_64.tbl). The kernel normalizes path
// calls to their *at form (guest/kernel/volume.go).
const (
	sysRead       = 0
	sysWrite      = 1
	sysClose      = 3
	sysFstat      = 5
	sysLseek      = 8
	sysPread64    = 17
	sysPwrite64   = 18
	sysReadv      = 19
	sysWritev     = 20
	sysFsync      = 74
	sysFdatasync  = 75
	sysTruncate   = 76
	sysFtruncate  = 77
	sysFchdir     = 81
	sysFchmod     = 91
	sysStatfs     = 137
	sysFstatfs    = 138
	sysGetdents64 = 217
	sysOpenat     = 257
	sysMkdirat    = 258
	sysNewfstatat = 262
	sysUnlinkat   = 263
	sysLinkat     = 265
	sysSymlinkat  = 266
	sysReadlinkat = 267
	sysFchmodat   = 268
	sysFaccessat  = 269
	sysUtimensat  = 280
	sysPreadv     = 295
	sysPwritev    = 296
	sysRenameat2  = 316
)

// Flags (include/uapi/asm-generic/fcntl.h, include/uapi/linux/fcntl.h,
// include/uapi/linux/stat.h, include/linux/fs.h for UTIME_*).
const (
	oAccMode   = 0x3
	oRdonly    = 0x0
	oWronly    = 0x1
	oRdwr      = 0x2
	oCreat     = 0x40
	oExcl      = 0x80
	oTrunc     = 0x200
	oAppend    = 0x400
	oDirectory = 0x10000
	oNofollow  = 0x20000
	oPath      = 0x200000

	atSymlinkNofollow = 0x100
	atRemovedir       = 0x200
	atSymlinkFollow   = 0x400
	atEmptyPath       = 0x1000

	renameNoreplace = 1

	rOK = 4
	wOK = 2
	xOK = 1

	seekSet  = 0
	seekCur  = 1
	seekEnd  = 2
	seekData = 3
	seekHole = 4

	utimeNow  = 1<<30 - 1
	utimeOmit = 1<<30 - 2

	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000

	dtDir = 4 // d_type (include/linux/fs_types.h)

	stRdonly = 1 // statfs f_flags ST_RDONLY (include/linux/statfs.h)

	// maxSymlinks is Linux's MAXSYMLINKS (include/linux/namei.h): more
	// links than this in one resolution fail with ELOOP.
	maxSymlinks = 40
	// pathMax is PATH_MAX (include/uapi/linux/limits.h).
	pathMax = 4096
)

// statBuf is a struct stat as the x86-64 kernel writes it: mirrors struct
// stat of arch/x86/include/uapi/asm/stat.h (144 bytes; syscall.Stat_t
// has the same layout, checked by TestStatLayout).
type statBuf []byte

const statSize = 144

// Offsets in struct stat.
const (
	stDev     = 0
	stIno     = 8
	stNlink   = 16
	stMode    = 24
	stUID     = 28
	stGID     = 32
	stRdev    = 40
	stSize    = 48
	stBlksize = 56
	stBlocks  = 64
	stAtime   = 72 // tv_sec, then tv_nsec
	stMtime   = 88
	stCtime   = 104
)

// fill writes the attributes of a file of volume dev into s.
func (s statBuf) fill(dev uint64, qid p9.QID, a *p9.Attr) {
	le := binary.LittleEndian
	clear(s[:statSize])
	le.PutUint64(s[stDev:], dev)
	le.PutUint64(s[stIno:], qid.Path)
	le.PutUint64(s[stNlink:], uint64(a.NLink))
	le.PutUint32(s[stMode:], uint32(a.Mode))
	le.PutUint32(s[stUID:], uint32(a.UID))
	le.PutUint32(s[stGID:], uint32(a.GID))
	le.PutUint64(s[stRdev:], uint64(a.RDev))
	le.PutUint64(s[stSize:], a.Size)
	le.PutUint64(s[stBlksize:], a.BlockSize)
	le.PutUint64(s[stBlocks:], a.Blocks)
	le.PutUint64(s[stAtime:], a.ATimeSeconds)
	le.PutUint64(s[stAtime+8:], a.ATimeNanoSeconds)
	le.PutUint64(s[stMtime:], a.MTimeSeconds)
	le.PutUint64(s[stMtime+8:], a.MTimeNanoSeconds)
	le.PutUint64(s[stCtime:], a.CTimeSeconds)
	le.PutUint64(s[stCtime+8:], a.CTimeNanoSeconds)
}

// statfsBuf is a struct statfs as the x86-64 kernel writes it: mirrors
// struct statfs of include/uapi/asm-generic/statfs.h with 64-bit
// __statfs_word (120 bytes; syscall.Statfs_t, checked by
// TestStatfsLayout).
type statfsBuf []byte

const statfsSize = 120

// fill writes the statistics of a volume's host file system into s.
func (s statfsBuf) fill(st *p9.FSStat, readOnly bool) {
	le := binary.LittleEndian
	clear(s[:statfsSize])
	le.PutUint64(s[0:], uint64(st.Type))        // f_type
	le.PutUint64(s[8:], uint64(st.BlockSize))   // f_bsize
	le.PutUint64(s[16:], st.Blocks)             // f_blocks
	le.PutUint64(s[24:], st.BlocksFree)         // f_bfree
	le.PutUint64(s[32:], st.BlocksAvailable)    // f_bavail
	le.PutUint64(s[40:], st.Files)              // f_files
	le.PutUint64(s[48:], st.FilesFree)          // f_ffree
	le.PutUint64(s[56:], st.FSID)               // f_fsid (two ints)
	le.PutUint64(s[64:], uint64(st.NameLength)) // f_namelen
	le.PutUint64(s[72:], uint64(st.BlockSize))  // f_frsize
	if readOnly {
		le.PutUint64(s[80:], stRdonly) // f_flags
	}
}

// direntHeader is the size of struct linux_dirent64 before d_name
// (include/linux/dirent.h): d_ino[8] d_off[8] d_reclen[2] d_type[1].
const direntHeader = 19

// direntLen is the record length of an entry named name: the header, the
// name, its NUL, rounded up to 8 bytes (as fs/readdir.c does).
func direntLen(name string) int { return (direntHeader + len(name) + 1 + 7) &^ 7 }

// putDirent writes one struct linux_dirent64 at the start of b, which
// must hold direntLen(name) bytes, and returns its length.
func putDirent(b []byte, ino, off uint64, typ uint8, name string) int {
	n := direntLen(name)
	le := binary.LittleEndian
	le.PutUint64(b[0:], ino)
	le.PutUint64(b[8:], off)
	le.PutUint16(b[16:], uint16(n))
	b[18] = typ
	copy(b[direntHeader:], name)
	clear(b[direntHeader+len(name) : n])
	return n
}

// errno is a Linux error number as a system call result.
func errno(e syscall.Errno) int64 { return -int64(e) }
