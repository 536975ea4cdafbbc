//go:build linux && amd64

package kvm

import (
	"sync/atomic"
	"unsafe"
)

// RunData gives access to a vCPU's struct kvm_run, the region shared with
// the kernel that KVM_RUN fills in with the exit description (api.rst 5,
// "The kvm_run structure"). Read it after VCPU.Run returns; it becomes
// invalid when the VCPU is closed.
type RunData struct {
	mem []byte        // the whole mapping (KVM_GET_VCPU_MMAP_SIZE bytes)
	run *kvmRunStruct // == &mem[0]
}

func newRunData(mem []byte) *RunData {
	if uintptr(len(mem)) < unsafe.Sizeof(kvmRunStruct{}) {
		panic("kvm: kvm_run mapping smaller than struct kvm_run")
	}
	return &RunData{mem: mem, run: (*kvmRunStruct)(unsafe.Pointer(&mem[0]))}
}

// exitAs views the exit union of kvm_run as *T.
func exitAs[T any](r *RunData) *T {
	var t T
	if unsafe.Sizeof(t) > unsafe.Sizeof(r.run.Exit) {
		panic("kvm: exit struct larger than the kvm_run union")
	}
	return (*T)(unsafe.Pointer(&r.run.Exit))
}

// ExitReason returns kvm_run.exit_reason.
func (r *RunData) ExitReason() ExitReason { return r.run.ExitReason }

// SetImmediateExit sets or clears kvm_run.immediate_exit. While it is set,
// KVM_RUN returns EINTR at once without entering the guest (api.rst 5,
// KVM_CAP_IMMEDIATE_EXIT); a signal handler or another goroutine sets it to
// kick a vCPU out of its run loop. Safe to call from any goroutine.
func (r *RunData) SetImmediateExit(on bool) {
	// immediate_exit is byte 1 of the first 32-bit word (little-endian);
	// update it atomically without touching request_interrupt_window.
	w := (*uint32)(unsafe.Pointer(r.run))
	for {
		old := atomic.LoadUint32(w)
		v := old &^ 0xff00
		if on {
			v |= 0x0100
		}
		if atomic.CompareAndSwapUint32(w, old, v) {
			return
		}
	}
}

// ImmediateExit reports kvm_run.immediate_exit.
func (r *RunData) ImmediateExit() bool {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(r.run)))&0xff00 != 0
}

// SetRequestInterruptWindow sets kvm_run.request_interrupt_window: ask
// KVM_RUN to exit with KVM_EXIT_IRQ_WINDOW_OPEN as soon as the guest can
// take an interrupt (only without an in-kernel irqchip).
func (r *RunData) SetRequestInterruptWindow(on bool) {
	var b uint8
	if on {
		b = 1
	}
	r.run.RequestInterruptWindow = b
}

// ReadyForInterruptInjection reports kvm_run.ready_for_interrupt_injection.
func (r *RunData) ReadyForInterruptInjection() bool { return r.run.ReadyForInterruptInjection != 0 }

// IFFlag reports kvm_run.if_flag, the guest's RFLAGS.IF.
func (r *RunData) IFFlag() bool { return r.run.IFFlag != 0 }

// HardwareExitReason returns hw.hardware_exit_reason, valid for
// ExitUnknown.
func (r *RunData) HardwareExitReason() uint64 { return *exitAs[uint64](r) }

// FailEntry returns the fail_entry member, valid for ExitFailEntry.
func (r *RunData) FailEntry() FailEntryExit { return *exitAs[FailEntryExit](r) }

// Exception returns the ex member, valid for ExitException.
func (r *RunData) Exception() ExceptionExit { return *exitAs[ExceptionExit](r) }

// IO returns the io member, valid for ExitIO.
func (r *RunData) IO() IOExit { return *exitAs[IOExit](r) }

// IOData returns the Size*Count data bytes of an ExitIO, inside the kvm_run
// mapping: the values written by the guest for an OUT, the buffer to fill
// for an IN. It returns nil if the exit's data_offset is out of range.
func (r *RunData) IOData() []byte {
	x := r.IO()
	n := uint64(x.Size) * uint64(x.Count)
	if x.DataOffset > uint64(len(r.mem)) || n > uint64(len(r.mem))-x.DataOffset {
		return nil
	}
	return r.mem[x.DataOffset : x.DataOffset+n : x.DataOffset+n]
}

// MMIO returns the mmio member, valid for ExitMMIO.
func (r *RunData) MMIO() MMIOExit { return *exitAs[MMIOExit](r) }

// SetMMIOData stores the result of an MMIO read (ExitMMIO with IsWrite 0)
// in mmio.data, for the next Run to complete the guest's load. At most 8
// bytes are copied.
func (r *RunData) SetMMIOData(b []byte) {
	copy(exitAs[MMIOExit](r).Data[:], b)
}

// InternalError returns the internal member, valid for ExitInternalError.
func (r *RunData) InternalError() InternalErrorExit { return *exitAs[InternalErrorExit](r) }

// SystemEvent returns the system_event member, valid for ExitSystemEvent.
func (r *RunData) SystemEvent() SystemEventExit { return *exitAs[SystemEventExit](r) }
