package virtio

import (
	"sync/atomic"
	"unsafe"
)

// storeWord atomically stores the first 32-bit word of b (a ring's flags
// and index): a full barrier on amd64, so the ring entries are visible to
// the device before the index, and later loads (the notify check) are not
// moved before it. b must be 4-byte aligned (the rings are).
func storeWord(b []byte, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[0])), v) }

// loadWord atomically loads the first 32-bit word of b.
func loadWord(b []byte) uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[0]))) }

// UsedIdxAddr is the address of the used ring's index, for
// kernel.SysWaitDevice.
func (q *Queue) UsedIdxAddr() uintptr { return uintptr(unsafe.Pointer(&q.used[2])) }
