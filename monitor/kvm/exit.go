//go:build linux && amd64

package kvm

import "fmt"

// ExitReason is kvm_run.exit_reason: why KVM_RUN returned to userspace.
type ExitReason uint32

// Exit reasons (<linux/kvm.h>). String returns the header name.
const (
	ExitUnknown       ExitReason = 0  // KVM_EXIT_UNKNOWN
	ExitException     ExitReason = 1  // KVM_EXIT_EXCEPTION
	ExitIO            ExitReason = 2  // KVM_EXIT_IO
	ExitHypercall     ExitReason = 3  // KVM_EXIT_HYPERCALL
	ExitDebug         ExitReason = 4  // KVM_EXIT_DEBUG
	ExitHLT           ExitReason = 5  // KVM_EXIT_HLT
	ExitMMIO          ExitReason = 6  // KVM_EXIT_MMIO
	ExitIRQWindowOpen ExitReason = 7  // KVM_EXIT_IRQ_WINDOW_OPEN
	ExitShutdown      ExitReason = 8  // KVM_EXIT_SHUTDOWN
	ExitFailEntry     ExitReason = 9  // KVM_EXIT_FAIL_ENTRY
	ExitIntr          ExitReason = 10 // KVM_EXIT_INTR
	ExitSetTPR        ExitReason = 11 // KVM_EXIT_SET_TPR
	ExitTPRAccess     ExitReason = 12 // KVM_EXIT_TPR_ACCESS
	ExitS390SIEIC     ExitReason = 13 // KVM_EXIT_S390_SIEIC
	ExitS390Reset     ExitReason = 14 // KVM_EXIT_S390_RESET
	ExitDCR           ExitReason = 15 // KVM_EXIT_DCR (deprecated)
	ExitNMI           ExitReason = 16 // KVM_EXIT_NMI
	ExitInternalError ExitReason = 17 // KVM_EXIT_INTERNAL_ERROR
	ExitOSI           ExitReason = 18 // KVM_EXIT_OSI
	ExitPAPRHcall     ExitReason = 19 // KVM_EXIT_PAPR_HCALL
	ExitS390UControl  ExitReason = 20 // KVM_EXIT_S390_UCONTROL
	ExitWatchdog      ExitReason = 21 // KVM_EXIT_WATCHDOG
	ExitS390TSCH      ExitReason = 22 // KVM_EXIT_S390_TSCH
	ExitEPR           ExitReason = 23 // KVM_EXIT_EPR
	ExitSystemEvent   ExitReason = 24 // KVM_EXIT_SYSTEM_EVENT
	ExitS390STSI      ExitReason = 25 // KVM_EXIT_S390_STSI
	ExitIOAPICEOI     ExitReason = 26 // KVM_EXIT_IOAPIC_EOI
	ExitHyperV        ExitReason = 27 // KVM_EXIT_HYPERV
	ExitARMNISV       ExitReason = 28 // KVM_EXIT_ARM_NISV
	ExitX86RDMSR      ExitReason = 29 // KVM_EXIT_X86_RDMSR
	ExitX86WRMSR      ExitReason = 30 // KVM_EXIT_X86_WRMSR
	ExitDirtyRingFull ExitReason = 31 // KVM_EXIT_DIRTY_RING_FULL
	ExitAPResetHold   ExitReason = 32 // KVM_EXIT_AP_RESET_HOLD
	ExitX86BusLock    ExitReason = 33 // KVM_EXIT_X86_BUS_LOCK
	ExitXen           ExitReason = 34 // KVM_EXIT_XEN
	ExitRISCVSBI      ExitReason = 35 // KVM_EXIT_RISCV_SBI
	ExitRISCVCSR      ExitReason = 36 // KVM_EXIT_RISCV_CSR
	ExitNotify        ExitReason = 37 // KVM_EXIT_NOTIFY
)

var exitReasonNames = [...]string{
	ExitUnknown:       "KVM_EXIT_UNKNOWN",
	ExitException:     "KVM_EXIT_EXCEPTION",
	ExitIO:            "KVM_EXIT_IO",
	ExitHypercall:     "KVM_EXIT_HYPERCALL",
	ExitDebug:         "KVM_EXIT_DEBUG",
	ExitHLT:           "KVM_EXIT_HLT",
	ExitMMIO:          "KVM_EXIT_MMIO",
	ExitIRQWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN",
	ExitShutdown:      "KVM_EXIT_SHUTDOWN",
	ExitFailEntry:     "KVM_EXIT_FAIL_ENTRY",
	ExitIntr:          "KVM_EXIT_INTR",
	ExitSetTPR:        "KVM_EXIT_SET_TPR",
	ExitTPRAccess:     "KVM_EXIT_TPR_ACCESS",
	ExitS390SIEIC:     "KVM_EXIT_S390_SIEIC",
	ExitS390Reset:     "KVM_EXIT_S390_RESET",
	ExitDCR:           "KVM_EXIT_DCR",
	ExitNMI:           "KVM_EXIT_NMI",
	ExitInternalError: "KVM_EXIT_INTERNAL_ERROR",
	ExitOSI:           "KVM_EXIT_OSI",
	ExitPAPRHcall:     "KVM_EXIT_PAPR_HCALL",
	ExitS390UControl:  "KVM_EXIT_S390_UCONTROL",
	ExitWatchdog:      "KVM_EXIT_WATCHDOG",
	ExitS390TSCH:      "KVM_EXIT_S390_TSCH",
	ExitEPR:           "KVM_EXIT_EPR",
	ExitSystemEvent:   "KVM_EXIT_SYSTEM_EVENT",
	ExitS390STSI:      "KVM_EXIT_S390_STSI",
	ExitIOAPICEOI:     "KVM_EXIT_IOAPIC_EOI",
	ExitHyperV:        "KVM_EXIT_HYPERV",
	ExitARMNISV:       "KVM_EXIT_ARM_NISV",
	ExitX86RDMSR:      "KVM_EXIT_X86_RDMSR",
	ExitX86WRMSR:      "KVM_EXIT_X86_WRMSR",
	ExitDirtyRingFull: "KVM_EXIT_DIRTY_RING_FULL",
	ExitAPResetHold:   "KVM_EXIT_AP_RESET_HOLD",
	ExitX86BusLock:    "KVM_EXIT_X86_BUS_LOCK",
	ExitXen:           "KVM_EXIT_XEN",
	ExitRISCVSBI:      "KVM_EXIT_RISCV_SBI",
	ExitRISCVCSR:      "KVM_EXIT_RISCV_CSR",
	ExitNotify:        "KVM_EXIT_NOTIFY",
}

// String returns the <linux/kvm.h> name of the exit reason, for example
// "KVM_EXIT_MMIO", or "KVM_EXIT_(n)" for a number this package does not know.
func (r ExitReason) String() string {
	if int(r) < len(exitReasonNames) {
		return exitReasonNames[r]
	}
	return fmt.Sprintf("KVM_EXIT_(%d)", uint32(r))
}

// I/O exit directions (<linux/kvm.h>).
const (
	IODirectionIn  = 0 // KVM_EXIT_IO_IN
	IODirectionOut = 1 // KVM_EXIT_IO_OUT
)

// IOExit describes a port I/O exit (KVM_EXIT_IO). The data is Count items of
// Size bytes at DataOffset in the kvm_run mapping; RunData.IOData returns it.
// For IODirectionIn the caller fills that data before the next Run.
//
// IOExit mirrors the io member of struct kvm_run (<linux/kvm.h>), 16 bytes.
type IOExit struct {
	Direction  uint8
	Size       uint8 // bytes per item
	Port       uint16
	Count      uint32
	DataOffset uint64 // relative to kvm_run start
}

// MMIOExit describes an access to guest-physical memory with no memory slot
// (KVM_EXIT_MMIO). For a write, Data[:Len] holds the stored bytes; for a read
// the caller supplies them with RunData.SetMMIOData before the next Run.
//
// MMIOExit mirrors the mmio member of struct kvm_run (<linux/kvm.h>),
// 24 bytes.
type MMIOExit struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
	_        [3]uint8
}

// Write reports whether the access was a store.
func (m MMIOExit) Write() bool { return m.IsWrite != 0 }

// Bytes returns the valid part of Data (Data[:Len]).
func (m MMIOExit) Bytes() []byte {
	n := int(m.Len)
	if n > len(m.Data) {
		n = len(m.Data)
	}
	return m.Data[:n]
}

// FailEntryExit describes a failed VM entry (KVM_EXIT_FAIL_ENTRY): the
// hardware (VMX/SVM) rejected the guest state. HardwareEntryFailureReason is
// vendor specific (for VMX, the VM-instruction error / exit reason).
//
// FailEntryExit mirrors the fail_entry member of struct kvm_run
// (<linux/kvm.h>), 16 bytes.
type FailEntryExit struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
	_                          uint32
}

// ExceptionExit describes KVM_EXIT_EXCEPTION.
//
// ExceptionExit mirrors the ex member of struct kvm_run (<linux/kvm.h>),
// 8 bytes.
type ExceptionExit struct {
	Exception uint32
	ErrorCode uint32
}

// InternalErrorSuberror is kvm_run.internal.suberror.
type InternalErrorSuberror uint32

// Internal error sub-types (<linux/kvm.h>).
const (
	InternalErrorEmulation            InternalErrorSuberror = 1 // KVM_INTERNAL_ERROR_EMULATION
	InternalErrorSimulEx              InternalErrorSuberror = 2 // KVM_INTERNAL_ERROR_SIMUL_EX
	InternalErrorDeliveryEv           InternalErrorSuberror = 3 // KVM_INTERNAL_ERROR_DELIVERY_EV
	InternalErrorUnexpectedExitReason InternalErrorSuberror = 4 // KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON
)

// String returns the <linux/kvm.h> name of the sub-error.
func (s InternalErrorSuberror) String() string {
	switch s {
	case InternalErrorEmulation:
		return "KVM_INTERNAL_ERROR_EMULATION"
	case InternalErrorSimulEx:
		return "KVM_INTERNAL_ERROR_SIMUL_EX"
	case InternalErrorDeliveryEv:
		return "KVM_INTERNAL_ERROR_DELIVERY_EV"
	case InternalErrorUnexpectedExitReason:
		return "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON"
	}
	return fmt.Sprintf("KVM_INTERNAL_ERROR_(%d)", uint32(s))
}

// InternalErrorExit describes KVM_EXIT_INTERNAL_ERROR: KVM itself could not
// handle the exit (typically it failed to emulate an instruction). The first
// NData words of Data carry sub-type specific debug information.
//
// InternalErrorExit mirrors the internal member of struct kvm_run
// (<linux/kvm.h>), 136 bytes.
type InternalErrorExit struct {
	Suberror InternalErrorSuberror
	NData    uint32
	Data     [16]uint64
}

// Words returns the valid part of Data (Data[:NData]).
func (e InternalErrorExit) Words() []uint64 {
	n := int(e.NData)
	if n > len(e.Data) {
		n = len(e.Data)
	}
	return e.Data[:n]
}

// String formats the exit for a log line.
func (e InternalErrorExit) String() string {
	return fmt.Sprintf("%v data=%#x", e.Suberror, e.Words())
}

// SystemEventType is kvm_run.system_event.type.
type SystemEventType uint32

// System event types (<linux/kvm.h>).
const (
	SystemEventShutdown SystemEventType = 1 // KVM_SYSTEM_EVENT_SHUTDOWN
	SystemEventReset    SystemEventType = 2 // KVM_SYSTEM_EVENT_RESET
	SystemEventCrash    SystemEventType = 3 // KVM_SYSTEM_EVENT_CRASH
	SystemEventWakeup   SystemEventType = 4 // KVM_SYSTEM_EVENT_WAKEUP
	SystemEventSuspend  SystemEventType = 5 // KVM_SYSTEM_EVENT_SUSPEND
	SystemEventSEVTerm  SystemEventType = 6 // KVM_SYSTEM_EVENT_SEV_TERM
)

// String returns the <linux/kvm.h> name of the event type.
func (t SystemEventType) String() string {
	switch t {
	case SystemEventShutdown:
		return "KVM_SYSTEM_EVENT_SHUTDOWN"
	case SystemEventReset:
		return "KVM_SYSTEM_EVENT_RESET"
	case SystemEventCrash:
		return "KVM_SYSTEM_EVENT_CRASH"
	case SystemEventWakeup:
		return "KVM_SYSTEM_EVENT_WAKEUP"
	case SystemEventSuspend:
		return "KVM_SYSTEM_EVENT_SUSPEND"
	case SystemEventSEVTerm:
		return "KVM_SYSTEM_EVENT_SEV_TERM"
	}
	return fmt.Sprintf("KVM_SYSTEM_EVENT_(%d)", uint32(t))
}

// SystemEventExit describes KVM_EXIT_SYSTEM_EVENT. Data[0] is also the
// legacy flags field of the union.
//
// SystemEventExit mirrors the system_event member of struct kvm_run
// (<linux/kvm.h>), 136 bytes.
type SystemEventExit struct {
	Type  SystemEventType
	NData uint32
	Data  [16]uint64
}

// Words returns the valid part of Data (Data[:NData]).
func (e SystemEventExit) Words() []uint64 {
	n := int(e.NData)
	if n > len(e.Data) {
		n = len(e.Data)
	}
	return e.Data[:n]
}

// kvmRunStruct mirrors struct kvm_run (<linux/kvm.h>, x86: no s390 psw fields),
// 2352 bytes. It is only ever accessed through the vCPU's mmap'ed region.
type kvmRunStruct struct {
	// in
	RequestInterruptWindow uint8
	ImmediateExit          uint8
	Padding1               [6]uint8

	// out
	ExitReason                 ExitReason
	ReadyForInterruptInjection uint8
	IFFlag                     uint8
	Flags                      uint16

	// in (pre_kvm_run), out (post_kvm_run)
	CR8      uint64
	APICBase uint64

	// Exit is the anonymous union of exit descriptions (hw, fail_entry, ex,
	// io, mmio, internal, system_event, ...), padded to 256 bytes.
	Exit [256 / 8]uint64

	KVMValidRegs uint64
	KVMDirtyRegs uint64
	// S is the union holding struct kvm_sync_regs, SYNC_REGS_SIZE_BYTES long.
	S [2048 / 8]uint64
}
