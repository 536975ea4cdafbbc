// Package abi is the one contract between a Brique guest (the library OS
// linked into the application image, package brique.dev/brique/guest/...)
// and the Brique monitor (the KVM VMM, package brique.dev/brique/monitor).
//
// Both sides import this package; no address, offset or number used by both
// is written anywhere else. It has no dependencies and allocates nothing, so
// the guest may use it from restricted contexts (syscall and trap handlers).
//
// Guest-physical memory layout (identity mapped, see Layout below):
//
//	0x0000_0000  zpoline page: NOP sled + jump to the syscall entry (read/execute)
//	0x0000_1000  boot info page(s), written by the monitor (BootInfo*)
//	0x0001_0000  GDT, TSS, IDT (GDT/TSS written by the monitor, IDT by the guest)
//	0x0002_0000  initial page tables, built by the monitor
//	0x0004_0000  first free frame: frames below the image and above it are
//	             handed to the guest's frame allocator through the boot info
//	0x0040_0000  the ELF image, PT_LOAD segments at their p_paddr (Go's default)
//
// Hypercalls are 8-byte stores to unbacked guest-physical addresses in the
// window at HypercallBase (KVM_EXIT_MMIO), see Hypercall*.
package abi

// Memory layout (guest-physical addresses; identity mapped in the guest).
const (
	PageSize     = 0x1000
	HugePageSize = 0x200000

	ZeroPageAddr  = 0x0000      // zpoline NOP sled; mapped read/execute at virtual 0
	BootInfoAddr  = 0x1000      // boot info, BootInfoSize bytes
	BootInfoSize  = 0xF000      // 60 KiB: header + argv/env strings
	GDTAddr       = 0x10000     // GDT: see GDT* selectors
	TSSAddr       = 0x10800     // 64-bit TSS (104 bytes)
	IDTAddr       = 0x11000     // 256 16-byte gates, filled by the guest
	ISTStackTop   = 0x14000     // stack of the CPL 0 exception stubs (IST1, RSP0), 8 KiB
	BootStackTop  = 0x18000     // RSP at the first instruction, 16 KiB
	ZeroPageAlias = 0x1F000     // writable alias of page 0, for the guest to write the sled
	PageTableMin  = 0x20000     // monitor-built page tables start here; PML4 first
	PageTableMax  = 0x40000     // ... and end before here
	FreeLowStart  = 0x40000     // first frame the guest may allocate
	ImageBase     = 0x400000    // lowest address a PT_LOAD segment may use
	MaxGuestRAM   = 0x40000000  // identity map covers [0, 1 GiB): guest RAM is at most this
	MinGuestRAM   = 0x00400000  // 4 MiB: below this nothing boots
	DirectMapEnd  = MaxGuestRAM // identity map end
)

// GDT selectors (index*8 | RPL), mirrored by the monitor's GDT.
const (
	GDTKernelCode = 0x08 // 64-bit code, DPL 0 (exception stubs that must run at CPL 0)
	GDTKernelData = 0x10 // data, DPL 0
	GDTUserData   = 0x18 | 3
	GDTUserCode   = 0x20 | 3 // 64-bit code, DPL 3: all Go code runs here
	GDTTSS        = 0x28     // 16-byte TSS descriptor
	GDTEntries    = 7
)

// Hypercalls: the guest stores an 8-byte argument to HypercallBase+8*n with a
// MOV to memory (CPL-independent; the page has no memory slot so KVM exits
// with KVM_EXIT_MMIO). The argument is a value or the guest-physical address
// of an argument block, as documented per call. Results, if any, are written
// by the monitor into the argument block before the guest resumes.
const (
	HypercallBase = 0xD0000000
	HypercallSize = 0x1000

	// HypercallExit: arg = exit status (0..255). Does not return.
	HypercallExit = 0
	// HypercallWrite: arg = address of a WriteArgs block. Copies bytes from
	// guest memory to the host's stdout (fd 1) or stderr (fd 2).
	HypercallWrite = 1
	// HypercallHalt: arg = address of a HaltArgs block. Sleeps until the
	// monotonic deadline (guest clock, ns) or an event for the guest.
	HypercallHalt = 2
	// HypercallCrash: arg = address of a CrashArgs block. The guest cannot
	// continue (CPU exception in the library OS, out of memory, ...); the
	// monitor prints a report and exits with ExitCrash.
	HypercallCrash = 3
	// HypercallLog: arg = address of a WriteArgs block: a message from the
	// library OS (for example an unimplemented system call), shown by
	// `brique run` on stderr when asked to (--debug) or always for warnings.
	HypercallLog = 4
	// HypercallFlushTLB: arg ignored. The monitor makes the vCPU reload its
	// page tables (see docs/decisions: TLB flushes on kvm-pvm).
	HypercallFlushTLB = 5
	HypercallCount    = 6
)

// Exit statuses the monitor uses when the program did not choose one.
const (
	ExitCrash   = 139 // CPU exception or library OS failure (like SIGSEGV)
	ExitOOM     = 137 // out of guest memory (like the OOM killer's SIGKILL)
	ExitMonitor = 125 // the monitor itself failed (like docker run)
)

// WriteArgs block (HypercallWrite, HypercallLog): little-endian uint64s.
const (
	WriteFD    = 0  // 1 or 2
	WriteAddr  = 8  // guest-physical address of the bytes
	WriteLen   = 16 // number of bytes
	WriteSize  = 24 // size of the block
	WriteLimit = 64 << 10
)

// HaltArgs block (HypercallHalt).
const (
	HaltDeadline = 0  // in: guest monotonic deadline in ns, 0 = none
	HaltEvents   = 8  // out: bitmask of Event* that woke the guest
	HaltSize     = 16 // size of the block
)

// Events reported by HypercallHalt.
const (
	EventSignal = 1 << 0 // the host asked for a signal (SIGINT/SIGTERM): see BootInfoSignal
	EventDevice = 1 << 1 // a device has new used buffers (see Virtio*)
)

// Virtio devices (virtio 1.2, section 4.2 "Virtio Over MMIO", version 2,
// split virtqueues). Device n's register window is at VirtioMMIOBase +
// n*VirtioMMIOStride, VirtioMMIOSize bytes, in guest-physical space with no
// memory slot behind it: every register access is a KVM_EXIT_MMIO (~27 us
// on kvm-pvm), so drivers touch registers only to set devices up and to
// notify a device that sleeps (VIRTIO_F_EVENT_IDX). There is no interrupt
// controller: the guest polls its used rings when it schedules, and the
// monitor ends a HypercallHalt with EventDevice when a device has used
// buffers the guest asked to hear about. Devices are announced on the
// command line (BootInfoCmdline) the way Firecracker and QEMU's microvm do:
// "virtio_mmio.device=<size>@<addr>:<irq>" (irq is informational here).
const (
	VirtioMMIOBase   = HypercallBase + 0x10000
	VirtioMMIOStride = 0x1000
	VirtioMMIOSize   = 0x200
	VirtioMaxDevices = 8
)

// CrashArgs block (HypercallCrash). Registers are those at the fault.
const (
	CrashKind   = 0  // CrashKind* below
	CrashVector = 8  // CPU exception vector, or the OOM request size
	CrashError  = 16 // exception error code
	CrashAddr   = 24 // fault address (CR2) when known
	CrashRIP    = 32
	CrashRSP    = 40
	CrashRFLAGS = 48
	CrashRegs   = 56 // RAX RBX RCX RDX RSI RDI RBP R8..R15: 15 uint64
	CrashMsg    = CrashRegs + 15*8
	CrashMsgLen = 256 // NUL-padded message
	CrashSize   = CrashMsg + CrashMsgLen
)

// Crash kinds.
const (
	CrashException = 1 // CPU exception the library OS could not turn into a signal
	CrashOOM       = 2 // out of guest memory; CrashVector holds bytes wanted
	CrashInternal  = 3 // library OS invariant broken; see message
)

// Boot info (at BootInfoAddr): little-endian fields at these offsets,
// followed by the string area. Written once by the monitor before the first
// instruction; the guest only reads it (and the monitor reads BootInfoSignal
// fields it owns).
const (
	BootInfoMagicOff   = 0  // uint64 BootMagic
	BootInfoVersionOff = 8  // uint64 BootVersion
	BootInfoMemSizeOff = 16 // uint64 guest RAM size in bytes
	BootInfoImageEnd   = 24 // uint64 end of the highest PT_LOAD (memsz), page aligned
	BootInfoTSCHz      = 32 // uint64 TSC frequency in Hz
	BootInfoTSC0       = 40 // uint64 guest TSC at the reference instant
	BootInfoWall0      = 48 // uint64 host wall clock (Unix ns) at that instant
	BootInfoArgc       = 56 // uint64 number of argv strings
	BootInfoEnvc       = 64 // uint64 number of environment strings
	BootInfoStrOff     = 72 // uint64 offset (from BootInfoAddr) of the NUL-separated argv then env strings
	BootInfoStrLen     = 80 // uint64 length of that area
	BootInfoRandom     = 88 // [32]byte random seed from the host
	BootInfoFlags      = 120
	BootInfoSignal     = 128 // uint64 pending host signal number (monitor writes, guest clears)
	BootInfoPTEnd      = 136 // uint64 end of the page tables the monitor built
	BootInfoHeaderSize = 256

	BootMagic   = 0x4F49524245555142 // "BQUEBRIO"
	BootVersion = 1
)

// Boot flags.
const (
	BootFlagDebug  = 1 << 0 // log library OS diagnostics (unimplemented syscalls, ...)
	BootFlagStrace = 1 << 1 // log every system call with the guest clock (slow: one exit each)
	// BootFlagSyscount: log the most frequent system calls at exit.
	BootFlagSyscount = 1 << 2
)

// Preemption: the monitor interrupts a running vCPU every PreemptPeriodNS,
// saves RIP/RSP/RFLAGS into the guest's upcall area and points RIP at the
// guest's upcall entry. The guest publishes both addresses here, in the boot
// info page, during early boot.
const (
	BootInfoUpcallEntry = 144 // uint64 guest writes: address of the upcall entry (0 = not ready)
	BootInfoUpcallArea  = 152 // uint64 guest writes: address of the UpcallArea
	BootInfoNoPreempt   = 160 // [2]uint64 guest writes: code the monitor must not interrupt
	NoPreemptLen        = 64  // bytes from each BootInfoNoPreempt address
	BootInfoFramesPeak  = 176 // uint64 guest writes at exit: peak 4 KiB frames in use
	BootInfoSyscalls    = 184 // uint64 guest writes at exit: system calls handled
	BootInfoFaults      = 192 // uint64 guest writes at exit: page faults handled
	BootInfoBootNS      = 200 // uint64 guest writes: guest clock (ns) when the runtime was entered
	BootInfoFirstOutNS  = 224 // uint64 guest writes: guest clock (ns) at the program's first console write
	BootInfoCmdlineOff  = 208 // uint64 offset (from BootInfoAddr) of the NUL-terminated command line, 0 = none
	BootInfoCmdlineLen  = 216 // uint64 its length without the NUL
	BootInfoSpinNS      = 232 // uint64 monitor writes: the longest wait the guest spins through instead of halting (ns)
	PreemptPeriodNS     = 10_000_000

	UpcallRIP    = 0  // uint64 monitor writes: interrupted RIP
	UpcallRSP    = 8  // uint64 monitor writes: interrupted RSP
	UpcallRFLAGS = 16 // uint64 monitor writes: interrupted RFLAGS
	UpcallBusy   = 24 // uint64 guest: non-zero while the guest must not be interrupted
	UpcallWanted = 32 // uint64 monitor writes 1 when it skipped a preemption because Busy was set
	UpcallSize   = 40
)
