package kernel

import "brique.dev/brique/abi"

// Brique's own system calls, for bricks that drive devices from ordinary
// goroutines (guest/virtio): numbers above Linux's (the zpoline sled
// covers 0..511).
const (
	// SysDMA(pages) returns the address of pages zeroed, physically
	// contiguous 4 KiB frames whose guest-virtual address is their
	// guest-physical address (the identity map), or -ENOMEM.
	SysDMA = 500
	// SysWaitDevice(addr, old, timeoutNS) blocks until the 16-bit value at
	// addr (a used ring's index) differs from old, or the timeout (0 =
	// none) passes: 0 or -ETIMEDOUT.
	SysWaitDevice = 501
)

const waitDevice = 5 // wait kind: a device's used index

// sysDMAImpl implements SysDMA.
func sysDMAImpl(t *thread) int64 {
	n := uintptr(t.regs.rdi)
	if n == 0 || n > 4096 {
		return -eINVAL
	}
	if ndma == len(dmaRanges) {
		return -eNOMEM
	}
	a := allocContig(n)
	if a == 0 {
		return -eNOMEM
	}
	dmaRanges[ndma] = [2]uintptr{a, a + n*abi.PageSize}
	ndma++
	return int64(a)
}

// DMA regions handed out, so that system calls accept pointers into them
// (userPrepare): they are identity-mapped, not mappings.
var (
	dmaRanges [16][2]uintptr
	ndma      int
)

func inDMA(addr, end uintptr) bool {
	for i := 0; i < ndma; i++ {
		if addr >= dmaRanges[i][0] && end <= dmaRanges[i][1] {
			return true
		}
	}
	return false
}

// allocContig takes n contiguous frames from a bump range (never from the
// free list, whose frames are scattered): never handed out before, so
// zero (see allocFrame).
func allocContig(n uintptr) uintptr {
	size := n * abi.PageSize
	var a uintptr
	switch {
	case bumpHi+size <= bumpHiEnd:
		a = bumpHi
		bumpHi += size
	case bumpLo+size <= bumpLoEnd:
		a = bumpLo
		bumpLo += size
	default:
		return 0
	}
	countFrames(n)
	return a
}

// sysWaitDeviceImpl implements SysWaitDevice.
func sysWaitDeviceImpl(t *thread) int64 {
	addr, old := uintptr(t.regs.rdi), uint16(t.regs.rsi)
	if t.restart {
		if load16(addr) != old {
			return 0
		}
		if t.timedOut {
			return -eTIMEDOUT
		}
		if t.interrupt {
			return -eINTR
		}
		return block(t, waitDevice, addr, t.deadline)
	}
	if addr&1 != 0 || !userPrepare(addr, 2, false) {
		return -eFAULT
	}
	if load16(addr) != old {
		return 0
	}
	deadline := int64(0)
	if ns := int64(t.regs.rdx); ns > 0 {
		deadline = nanotime() + ns
	}
	t.waitVal = old
	return block(t, waitDevice, addr, deadline)
}

// pollDeviceWaits wakes the threads whose device index moved; it runs
// on every scheduling round (after halts and preemption upcalls too) and
// while the vCPU spins.
func pollDeviceWaits() {
	for i := range threads[:threadsHi] {
		w := &threads[i]
		if w.state == thBlocked && w.wait == waitDevice && load16(w.waitAddr) != w.waitVal {
			wake(w)
		}
	}
}
