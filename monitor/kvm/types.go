//go:build linux && amd64

package kvm

// Regs holds the general-purpose registers of a vCPU.
//
// Regs mirrors struct kvm_regs (asm/kvm.h), 144 bytes.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment is the cached (hidden) state of a segment register.
//
// Segment mirrors struct kvm_segment (asm/kvm.h), 24 bytes.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	Padding  uint8
}

// DTable is a descriptor-table register (GDTR, IDTR).
//
// DTable mirrors struct kvm_dtable (asm/kvm.h), 16 bytes.
type DTable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

// NrInterrupts is KVM_NR_INTERRUPTS (asm/kvm.h).
const NrInterrupts = 256

// Sregs holds the special registers of a vCPU.
//
// Sregs mirrors struct kvm_sregs (asm/kvm.h), 312 bytes.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	// InterruptBitmap has one bit per pending external interrupt (api.rst
	// 4.14: at most one bit may be set, and only without an in-kernel irqchip).
	InterruptBitmap [(NrInterrupts + 63) / 64]uint64
}

// FPU is the legacy x87/SSE state of a vCPU, in FXSAVE layout.
//
// FPU mirrors struct kvm_fpu (asm/kvm.h), 416 bytes.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8 // in fxsave format
	Pad1       uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	Pad2       uint32
}

// MSREntry is one model-specific register and its value.
//
// MSREntry mirrors struct kvm_msr_entry (asm/kvm.h), 16 bytes.
type MSREntry struct {
	Index    uint32
	Reserved uint32
	Data     uint64
}

// msrsHeader mirrors struct kvm_msrs (asm/kvm.h) without its flexible
// entries[] array of struct kvm_msr_entry, 8 bytes.
type msrsHeader struct {
	NMSRs uint32
	Pad   uint32
}

// msrListHeader mirrors struct kvm_msr_list (asm/kvm.h) without its flexible
// indices[] array of __u32, 4 bytes.
type msrListHeader struct {
	NMSRs uint32
}

// CPUID entry flags (asm/kvm.h).
const (
	CPUIDFlagSignificantIndex = 1 << 0 // KVM_CPUID_FLAG_SIGNIFCANT_INDEX
	CPUIDFlagStatefulFunc     = 1 << 1 // KVM_CPUID_FLAG_STATEFUL_FUNC
	CPUIDFlagStateReadNext    = 1 << 2 // KVM_CPUID_FLAG_STATE_READ_NEXT
)

// CPUIDEntry is one CPUID leaf (Function) and subleaf (Index).
//
// CPUIDEntry mirrors struct kvm_cpuid_entry2 (asm/kvm.h), 40 bytes.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	Padding  [3]uint32
}

// cpuid2Header mirrors struct kvm_cpuid2 (asm/kvm.h) without its flexible
// entries[] array of struct kvm_cpuid_entry2, 8 bytes.
type cpuid2Header struct {
	Nent    uint32
	Padding uint32
}

// MaxXCRs is KVM_MAX_XCRS (asm/kvm.h).
const MaxXCRs = 16

// XCR is one extended control register (XCR0 is index 0).
//
// XCR mirrors struct kvm_xcr (asm/kvm.h), 16 bytes.
type XCR struct {
	XCR      uint32
	Reserved uint32
	Value    uint64
}

// xcrs mirrors struct kvm_xcrs (asm/kvm.h), 392 bytes.
type xcrs struct {
	NrXCRs  uint32
	Flags   uint32
	XCRs    [MaxXCRs]XCR
	Padding [16]uint64
}

// Memory slot flags for SetUserMemoryRegion (<linux/kvm.h>).
const (
	MemLogDirtyPages = 1 << 0 // KVM_MEM_LOG_DIRTY_PAGES
	MemReadonly      = 1 << 1 // KVM_MEM_READONLY
)

// UserspaceMemoryRegion maps host memory into guest-physical memory.
//
// UserspaceMemoryRegion mirrors struct kvm_userspace_memory_region
// (<linux/kvm.h>), 32 bytes.
// IoEventFD mirrors struct kvm_ioeventfd (<linux/kvm.h>).
type IoEventFD struct {
	Datamatch uint64
	Addr      uint64 // guest-physical address (MMIO) of the register
	Len       uint32 // access size: 1, 2, 4 or 8 (0: any)
	FD        int32  // eventfd
	Flags     uint32 // IoEventFDFlag*
	_         [36]byte
}

// Flags of IoEventFD.
const (
	IoEventFDFlagDatamatch = 1 << 0
	IoEventFDFlagDeassign  = 1 << 2
)

type UserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64 // bytes
	UserspaceAddr uint64 // start of the userspace allocated memory
}

// signalMaskHeader mirrors struct kvm_signal_mask (<linux/kvm.h>) without
// its flexible sigset[] array, 4 bytes.
type signalMaskHeader struct {
	Len uint32
}

// kernelSigsetSize is sizeof(sigset_t) in the kernel on x86-64 (64 signals),
// the only length KVM_SET_SIGNAL_MASK accepts.
const kernelSigsetSize = 8
