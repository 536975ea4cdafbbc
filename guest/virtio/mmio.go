package virtio

func mmioRead32(addr uintptr) uint32
func mmioWrite32(addr uintptr, v uint32)

// MMIO is a device register window at a guest address (on Brique the
// guest-physical window, which the library OS maps at the same address).
type MMIO uintptr

// Read32 reads the register at off.
func (m MMIO) Read32(off uint32) uint32 { return mmioRead32(uintptr(m) + uintptr(off)) }

// Write32 writes the register at off.
func (m MMIO) Write32(off uint32, v uint32) { mmioWrite32(uintptr(m)+uintptr(off), v) }
