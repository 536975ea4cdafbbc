package abi

// Root file system archive: a read-only tree that `brique build --rootfs`
// puts into the image and the guest serves without copying or allocating.
//
// Layout (little-endian):
//
//	[0, 8)    RootFSMagic
//	[8, 12)   entry count
//	[12, 16)  zero
//	[16, ...) entries, RootFSEntrySize bytes each, sorted by path:
//	          +0 name offset u32 (from the archive start), +4 name length u32,
//	          +8 mode u32 (Linux st_mode: S_IFDIR|0755, S_IFREG|0644, S_IFLNK|0777),
//	          +12 zero, +16 size u64, +24 data offset u64 (from the archive start)
//	then the names, then the file data (a symlink's data is its target).
//
// Paths are absolute and clean ("/", "/etc", "/etc/hosts"); "/" is always
// entry 0 and every directory is listed before its children.
const (
	RootFSMagic     = "BQFS0001"
	RootFSHeader    = 16
	RootFSEntrySize = 32

	ModeDir     = 0o040000
	ModeRegular = 0o100000
	ModeSymlink = 0o120000
	ModeType    = 0o170000
)

// RootFS is a read-only view of an archive. Its methods do not allocate,
// so the guest's library OS can use them in restricted contexts.
type RootFS []byte

// Valid reports whether the header and entry table are well formed.
func (r RootFS) Valid() bool {
	if len(r) < RootFSHeader || string(r[:8]) != RootFSMagic {
		return false
	}
	n := uint64(le32(r[8:]))
	if uint64(len(r)) < RootFSHeader+n*RootFSEntrySize || n == 0 {
		return false
	}
	for i := 0; i < int(n); i++ {
		no, nl, _, size, do := r.raw(i)
		if no+nl > uint64(len(r)) || do+size > uint64(len(r)) || do+size < do {
			return false
		}
	}
	return true
}

// Len is the number of entries.
func (r RootFS) Len() int { return int(le32(r[8:])) }

func (r RootFS) raw(i int) (nameOff, nameLen uint64, mode uint32, size, dataOff uint64) {
	e := r[RootFSHeader+i*RootFSEntrySize:]
	return uint64(le32(e[0:])), uint64(le32(e[4:])),
		le32(e[8:]), le64(e[16:]), le64(e[24:])
}

// Name is entry i's path.
func (r RootFS) Name(i int) []byte {
	no, nl, _, _, _ := r.raw(i)
	return r[no : no+nl]
}

// Mode is entry i's st_mode.
func (r RootFS) Mode(i int) uint32 {
	_, _, m, _, _ := r.raw(i)
	return m
}

// Data is entry i's contents.
func (r RootFS) Data(i int) []byte {
	_, _, _, size, do := r.raw(i)
	return r[do : do+size]
}

// Lookup returns the index of the entry with this exact path, or -1.
func (r RootFS) Lookup(path []byte) int {
	lo, hi := 0, r.Len()
	for lo < hi {
		m := (lo + hi) / 2
		name := r.Name(m)
		switch {
		case string(name) == string(path):
			return m
		case pathLessBytes(name, path):
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

// pathLessBytes orders paths so that a directory comes right before its
// children: component by component (the encoder sorts the same way).
func pathLessBytes(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		ca, ra := firstComponent(a)
		cb, rb := firstComponent(b)
		if string(ca) != string(cb) {
			return string(ca) < string(cb)
		}
		a, b = ra, rb
	}
	return len(a) < len(b)
}

func firstComponent(p []byte) ([]byte, []byte) {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i:]
		}
	}
	return p, nil
}

// PathLess is the archive's sort order, for the encoder.
func PathLess(a, b string) bool { return pathLessBytes([]byte(a), []byte(b)) }

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

// IsChild reports whether entry i is a direct child of directory dir.
func (r RootFS) IsChild(i int, dir []byte) bool {
	name := r.Name(i)
	if len(dir) == 1 { // "/"
		if len(name) < 2 {
			return false
		}
		for _, c := range name[1:] {
			if c == '/' {
				return false
			}
		}
		return true
	}
	if len(name) <= len(dir)+1 || string(name[:len(dir)]) != string(dir) || name[len(dir)] != '/' {
		return false
	}
	for _, c := range name[len(dir)+1:] {
		if c == '/' {
			return false
		}
	}
	return true
}

// BaseName is the last component of entry i's path.
func (r RootFS) BaseName(i int) []byte {
	name := r.Name(i)
	for j := len(name) - 1; j >= 0; j-- {
		if name[j] == '/' {
			return name[j+1:]
		}
	}
	return name
}
