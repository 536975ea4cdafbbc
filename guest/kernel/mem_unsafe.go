package kernel

import "unsafe"

// ptr turns a guest address into a pointer. The kernel handles memory it
// does not own by address (identity-mapped frames, page tables, user
// buffers); converting through memory keeps vet's unsafeptr check for
// uintptr arithmetic meaningful everywhere else.
//
//go:nosplit
func ptr(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// Raw memory access. Every address the kernel dereferences goes through
// these helpers; the rest of the package handles addresses as uintptr.

//go:nosplit
func load64(addr uintptr) uint64 { return *(*uint64)(ptr(addr)) }

//go:nosplit
func store64(addr uintptr, v uint64) { *(*uint64)(ptr(addr)) = v }

//go:nosplit
func load32(addr uintptr) uint32 { return *(*uint32)(ptr(addr)) }

//go:nosplit
func store32(addr uintptr, v uint32) { *(*uint32)(ptr(addr)) = v }

//go:nosplit
func load16(addr uintptr) uint16 { return *(*uint16)(ptr(addr)) }

//go:nosplit
func store16(addr uintptr, v uint16) { *(*uint16)(ptr(addr)) = v }

//go:nosplit
func store8(addr uintptr, v uint8) { *(*uint8)(ptr(addr)) = v }

//go:nosplit
func load8(addr uintptr) uint8 { return *(*uint8)(ptr(addr)) }

// mem returns the n bytes at addr as a slice (no allocation).
//
//go:nosplit
func mem(addr, n uintptr) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptr(addr)), n)
}

// memclr zeroes n bytes at addr.
func memclr(addr, n uintptr) { clear(mem(addr, n)) }

// addrOf returns the address of b's first byte.
//
//go:nosplit
func addrOf(b *byte) uintptr { return uintptr(unsafe.Pointer(b)) }

//go:nosplit
func regsAddr(t *thread) uintptr { return uintptr(unsafe.Pointer(&t.regs)) }

//go:nosplit
func u64Addr(p *uint64) uintptr { return uintptr(unsafe.Pointer(p)) }

//go:nosplit
func kgAddr() uintptr { return uintptr(unsafe.Pointer(&kg)) }

// cstring returns the NUL-terminated string at addr, at most max bytes.
func cstring(addr, max uintptr) []byte {
	for i := uintptr(0); i < max; i++ {
		if load8(addr+i) == 0 {
			return mem(addr, i)
		}
	}
	return mem(addr, max)
}

// copyMem copies n bytes from src to dst (noinline: a constant-size copy
// between two converted addresses trips a Go 1.26 compiler crash).
//
//go:noinline
func copyMem(dst, src, n uintptr) { copy(mem(dst, n), mem(src, n)) }

// Mem is the memory at addr, n bytes, for bricks working on the program's
// buffers (a service thread) or on DMA memory: the caller vouches for it.
func Mem(addr, n uintptr) []byte { return mem(addr, n) }

// bytesString is b as a string, without a copy (b must not change).
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// stringAddr is the address of s's bytes.
func stringAddr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
