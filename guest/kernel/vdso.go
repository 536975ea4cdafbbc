package kernel

// A vDSO for the Go runtime: Linux gives every process a small ELF image
// (AT_SYSINFO_EHDR) whose clock_gettime reads the clock without entering
// the kernel, and the Go runtime calls it for every nanotime and time.Now.
// Without one, each is a system call (under HTTP load, 88% of the guest's
// system calls were clock_gettime). vdsoInit builds the smallest image
// the runtime's parser (runtime/vdso_linux.go) accepts: one PT_LOAD, one
// PT_DYNAMIC, a DT_HASH table, one symbol __vdso_clock_gettime with
// version LINUX_2.6, whose code is vdsoClockGettime (vdso_amd64.s), in
// the kernel's own text.

func vdsoClockGettime()
func vdsoClockGettimeAddr() uintptr

// vdsoImage holds the ELF image (8-byte aligned).
var vdsoImage [64]uint64

const (
	vdsoDyn    = 176
	vdsoSym    = 272
	vdsoHash   = 320
	vdsoVersym = 340
	vdsoVerdef = 344
	vdsoStr    = 372
	vdsoSize   = 512
)

// vdsoInit fills vdsoImage and returns its address for AT_SYSINFO_EHDR.
func vdsoInit() uintptr {
	base := u64Addr(&vdsoImage[0])
	b := mem(base, vdsoSize)
	clear(b)
	p16 := func(off int, v uint16) { b[off], b[off+1] = byte(v), byte(v>>8) }
	p32 := func(off int, v uint32) {
		for i := 0; i < 4; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	p64 := func(off int, v uint64) {
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	// ELF header: 64-bit, little-endian, shared object, x86-64.
	copy(b, "\x7fELF\x02\x01\x01")
	p16(16, 3)  // e_type ET_DYN
	p16(18, 62) // e_machine EM_X86_64
	p32(20, 1)  // e_version
	p64(32, 64) // e_phoff
	p16(52, 64) // e_ehsize
	p16(54, 56) // e_phentsize
	p16(56, 2)  // e_phnum
	// PT_LOAD: the whole image at offset 0, vaddr 0.
	p32(64, 1)
	p32(68, 5) // R+X
	p64(64+32, vdsoSize)
	p64(64+40, vdsoSize)
	// PT_DYNAMIC.
	p32(120, 2)
	p32(124, 4)
	p64(120+8, vdsoDyn)
	p64(120+16, vdsoDyn)
	p64(120+32, 96)
	p64(120+40, 96)
	// Dynamic section.
	dyn := func(i int, tag, val uint64) { p64(vdsoDyn+16*i, tag); p64(vdsoDyn+16*i+8, val) }
	dyn(0, 4, vdsoHash)            // DT_HASH
	dyn(1, 5, vdsoStr)             // DT_STRTAB
	dyn(2, 6, vdsoSym)             // DT_SYMTAB
	dyn(3, 0x6ffffff0, vdsoVersym) // DT_VERSYM
	dyn(4, 0x6ffffffc, vdsoVerdef) // DT_VERDEF
	dyn(5, 0, 0)                   // DT_NULL
	// Strings: "\0__vdso_clock_gettime\0LINUX_2.6\0".
	const name, version = 1, 22
	copy(b[vdsoStr+name:], "__vdso_clock_gettime")
	copy(b[vdsoStr+version:], "LINUX_2.6")
	// Symbol 1 (0 is the null symbol): a global function; its value is
	// relative to the load address (the image's own address).
	s := vdsoSym + 24
	p32(s, name)
	b[s+4] = 0x12 // STB_GLOBAL, STT_FUNC
	p16(s+6, 1)   // a defined section
	p64(s+8, uint64(vdsoClockGettimeAddr()-base))
	// Hash table: one bucket holding symbol 1.
	p32(vdsoHash, 1)    // nbucket
	p32(vdsoHash+4, 2)  // nchain
	p32(vdsoHash+8, 1)  // bucket[0]
	p32(vdsoHash+12, 0) // chain[0]
	p32(vdsoHash+16, 0) // chain[1]
	// Symbol versions: symbol 1 is version 2, LINUX_2.6.
	p16(vdsoVersym+2, 2)
	p16(vdsoVerdef, 1)           // vd_version
	p16(vdsoVerdef+4, 2)         // vd_ndx
	p16(vdsoVerdef+6, 1)         // vd_cnt
	p32(vdsoVerdef+8, 0x3ae75f6) // vd_hash of "LINUX_2.6" (ELF hash)
	p32(vdsoVerdef+12, 20)       // vd_aux
	p32(vdsoVerdef+20, version)  // vda_name
	return base
}
