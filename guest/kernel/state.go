package kernel

import "brique.dev/brique/abi"

// regs is a thread's user register file. The assembly in entry_amd64.s
// reads and writes it through the offsets in go_asm.h (regs_rax, ...).
type regs struct {
	rax, rbx, rcx, rdx, rsi, rdi, rbp uint64
	r8, r9, r10, r11, r12, r13, r14   uint64
	r15                               uint64
	rip, rflags, rsp, fsbase          uint64
}

// Thread states.
const (
	thFree     = 0
	thRunnable = 1
	thBlocked  = 2 // waiting; see thread.wait
	thWoken    = 3 // was blocked, its system call must be dispatched again
)

// Wait kinds (thread.wait).
const (
	waitNone  = 0
	waitFutex = 1
	waitSleep = 2
	waitEpoll = 3
	waitRead  = 4 // blocking read on an eventfd or pipe
)

const (
	maxThreads = 512
)

// thread is one Linux thread (a Go M). It lives in the static table threads;
// threads are named by index, never by pointer (see the package doc).
type thread struct {
	regs    regs    // first: curRegs points here
	fxp     uintptr // XSAVE area (one frame, 64-byte aligned), 0 until allocated
	fxValid uint64  // 1: *fxp holds the thread's FP state, restore it on resume
	state   uint64
	tid     int64

	// Blocking.
	wait      uint64 // wait kind
	waitAddr  uintptr
	waitVal   uint16 // SysWaitDevice: the index the thread saw
	deadline  int64  // monotonic ns, 0 = none
	timedOut  bool
	woken     bool // futex: woken by FUTEX_WAKE
	interrupt bool // a signal interrupted the wait: the call returns EINTR
	restart   bool // the call being dispatched was blocked before

	// Signals.
	sigmask    uint64
	sigpending uint64
	altSP      uintptr
	altSize    uintptr
	altFlags   int32

	clearTID uintptr // CLONE_CHILD_CLEARTID address

	// A call forwarded to a service (service.go).
	svcState  uint8
	svcSvc    int8  // the service of the call in flight
	svcObj    int32 // and its object
	svcFlags  uint64
	svcResult int64
	svcGen    uint64 // the object's readiness generation when sent
	svcVol    bool   // the call is forwarded to the volume service
	svcVolVol int8   // its volume
}

// Kernel-wide state used by the assembly. Offsets come from go_asm.h.
var (
	threads [maxThreads]thread
	// threadsHi bounds the slots ever used (threads[threadsHi:] are all
	// free): the scheduler's scans stay short in programs with few
	// threads although the table has room for 512.
	threadsHi = 1
	cur       int     // index of the running thread
	curRegs   uintptr // &threads[cur].regs, read by the assembly
	curFX     uintptr // threads[cur].fxp, read by the assembly

	curFXValid uintptr // &threads[cur].fxValid, read by the assembly

	// upcall is the area shared with the monitor for preemption
	// (abi.Upcall*); busy is set while kernel code runs.
	upcall [abi.UpcallSize / 8]uint64

	// trapInfo is filled by the CPL 0 exception stubs.
	trapInfo trapFrame

	// userSP is scratch for the entry paths.
	userSP uint64
)

// trapFrame is what the CPL 0 exception stub saw.
type trapFrame struct {
	vector, errcode, cr2, rip, cs, rflags, rsp uint64
}

// kernel stack and kernel TLS (see kg).
const kstackSize = 64 << 10

var (
	kstack     [kstackSize]byte
	crashStack [16 << 10]byte
)

// kgStruct mirrors the first fields of the runtime's g that compiled
// function prologues read (stack.lo, stack.hi, stackguard0, stackguard1).
// Kernel code runs with FS pointing at ktls, whose word -8 points at kg.
// This is the Linux ABI contract the runtime uses (g at -8(FS), see
// runtime/go_tls.h), not a runtime internal we link to.
type kgStruct struct {
	lo, hi, guard0, guard1 uintptr
	pad                    [16]uintptr // the rest of a g, zero (m == nil)
}

var (
	kg   kgStruct
	ktls [4]uintptr // ktls[0] = &kg; FS base = &ktls[1]
)
