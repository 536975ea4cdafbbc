package virtio

import "fmt"

// GuestMemory is guest RAM as a device sees it. Every address comes from
// the guest: Slice must check that [gpa, gpa+n) lies inside guest RAM
// (without overflowing) and fail otherwise. The returned slice aliases
// guest memory: the guest may change it at any time, so devices copy what
// they validate before using it.
type GuestMemory interface {
	Slice(gpa, n uint64) ([]byte, error)
}

// Memory is guest RAM mapped at guest-physical address 0, the layout the
// monitor uses (one memory slot at 0): Memory(raw) is a GuestMemory.
type Memory []byte

// Slice returns m[gpa:gpa+n] or an error if that range is not all inside m.
func (m Memory) Slice(gpa, n uint64) ([]byte, error) {
	end := gpa + n
	if end < gpa || end > uint64(len(m)) {
		return nil, fmt.Errorf("virtio: guest range [%#x, +%#x) is outside guest memory (%#x bytes)", gpa, n, len(m))
	}
	return m[gpa:end:end], nil
}
