package kernel

import (
	"brique.dev/brique/abi"
)

// bootInfo reads a uint64 field of the boot info page.
//
//go:nosplit
func bootInfo(off uintptr) uint64 { return load64(abi.BootInfoAddr + off) }

var (
	entry     [entryAddrCount]uintptr
	bootFlags uint64
	seed      [4]uint64 // host random seed (boot info)
)

// Main thread stack: a VMA below the mmap area, faulted in on demand.
const (
	mainStackTop  = 0x7ff000000000
	mainStackSize = 8 << 20
)

// boot runs first, on the kernel stack, before the Go runtime: it sets up
// the kernel and makes thread 0 start at the runtime's _rt0_amd64_linux
// with a Linux initial process stack. Restricted context (see doc.go).
func boot() {
	kg.lo = addrOf(&kstack[0])
	kg.hi = kg.lo + kstackSize
	kg.guard0 = kg.lo + 8192
	kg.guard1 = kg.guard0
	ktls[0] = kgAddr()

	if bootInfo(abi.BootInfoMagicOff) != abi.BootMagic || bootInfo(abi.BootInfoVersionOff) != abi.BootVersion {
		crash(abi.CrashInternal, 0, "boot info missing or from another Brique version")
	}
	bootFlags = bootInfo(abi.BootInfoFlags)
	haltSpin = int64(min(bootInfo(abi.BootInfoSpinNS), 1_000_000))
	for i := range seed {
		seed[i] = bootInfo(abi.BootInfoRandom + uintptr(8*i))
	}
	entryAddrs(&entry)
	idtInit()
	clockInit()
	mmInit()
	zpolineInit()
	fdInit()
	tmpInit()
	cwdInit()
	volumesInit()

	fpuInit()
	t := &threads[0]
	t.fxp = mustFrame()
	t.state = thRunnable
	t.tid = 1
	t.regs.rip = uint64(entry[eaRT0Linux])
	t.regs.rflags = 0x202
	t.regs.rsp = uint64(buildInitialStack())
	setCurrent(0)

	// Publish the preemption upcall to the monitor last: from now on the
	// kernel can take it.
	store64(abi.BootInfoAddr+abi.BootInfoBootNS, uint64(nanotime()))
	store64(abi.BootInfoAddr+abi.BootInfoNoPreempt, uint64(entry[eaExitTail]))
	store64(abi.BootInfoAddr+abi.BootInfoNoPreempt+8, uint64(entry[eaTrap]))
	store64(abi.BootInfoAddr+abi.BootInfoUpcallArea, uint64(u64Addr(&upcall[0])))
	store64(abi.BootInfoAddr+abi.BootInfoUpcallEntry, uint64(entry[eaUpcall]))
}

// zpolineInit writes page 0: a NOP sled over every possible syscall number,
// then "set busy; jump to syscallEntry". CALL *%rax with RAX = n lands at
// address n and slides into the trampoline.
func zpolineInit() {
	const sled = 0x200
	for i := uintptr(0); i < sled; i++ {
		store8(abi.ZeroPageAlias+i, 0x90)
	}
	a := uintptr(abi.ZeroPageAlias + sled)
	// movq $1, busy (absolute 32-bit address): 48 C7 04 25 disp32 imm32
	busy := entry[eaBusy]
	if busy >= 1<<31 {
		crash(abi.CrashInternal, 0, "kernel data above 2 GiB")
	}
	for i, b := range [...]byte{0x48, 0xC7, 0x04, 0x25} {
		store8(a+uintptr(i), b)
	}
	store32(a+4, uint32(busy))
	store32(a+8, 1)
	a += 12
	// movabs $syscallEntry, %r11: 49 BB imm64
	store8(a, 0x49)
	store8(a+1, 0xBB)
	store64(a+2, uint64(entry[eaSyscall]))
	a += 10
	// jmp *%r11: 41 FF E3
	store8(a, 0x41)
	store8(a+1, 0xFF)
	store8(a+2, 0xE3)
	a += 3
	// Anything past the trampoline traps.
	for ; a < abi.ZeroPageAlias+abi.PageSize; a++ {
		store8(a, 0xCC)
	}
}

// Auxiliary vector keys (linux/auxvec.h).
const (
	atNull        = 0
	atPagesz      = 6
	atClktck      = 17
	atSecure      = 23
	atRandom      = 25
	atExecfn      = 31
	atSysinfoEhdr = 33
)

// buildInitialStack maps the main thread's stack and lays out argc, argv,
// envp and auxv on it the way Linux's execve does (see
// fs/binfmt_elf.c:create_elf_tables), returning the initial RSP.
func buildInitialStack() uintptr {
	if !vmaMap(mainStackTop-mainStackSize, mainStackSize, protRead|protWrite, true) {
		crash(abi.CrashInternal, 0, "cannot map the main stack")
	}
	argc := uintptr(bootInfo(abi.BootInfoArgc))
	envc := uintptr(bootInfo(abi.BootInfoEnvc))
	strs := uintptr(abi.BootInfoAddr + bootInfo(abi.BootInfoStrOff))
	slen := uintptr(bootInfo(abi.BootInfoStrLen))
	if argc+envc > 4096 || slen > abi.BootInfoSize {
		crash(abi.CrashInternal, 0, "boot info: too many arguments")
	}

	// Strings and the AT_RANDOM bytes at the top.
	sp := uintptr(mainStackTop)
	sp -= (slen + 15) &^ 15
	strBase := sp
	copy(mem(strBase, slen), mem(strs, slen))
	sp -= 16
	random := sp
	store64(random, seed[0]^seed[2])
	store64(random+8, seed[1]^seed[3])

	// Pointer area: argc, argv..., 0, envp..., 0, auxv pairs.
	const nAux = 7
	words := 1 + argc + 1 + envc + 1 + 2*nAux
	sp -= words * 8
	sp &^= 15
	w := sp
	put := func(v uintptr) { store64(w, uint64(v)); w += 8 }
	put(argc)
	s := strBase
	execfn := strBase
	for i := uintptr(0); i < argc+envc; i++ {
		put(s)
		s += uintptr(len(cstring(s, strBase+slen-s))) + 1
		if i+1 == argc {
			put(0)
		}
	}
	if argc == 0 {
		put(0)
	}
	put(0)
	put(atPagesz)
	put(abi.PageSize)
	put(atClktck)
	put(100)
	put(atSecure)
	put(0)
	put(atRandom)
	put(random)
	put(atExecfn)
	put(execfn)
	put(atSysinfoEhdr)
	put(vdsoInit())
	put(atNull)
	put(0)
	return sp
}

// setCurrent makes thread i the one resume() returns to.
//
//go:nosplit
func setCurrent(i int) {
	cur = i
	t := &threads[i]
	curRegs = regsAddr(t)
	curFX = t.fxp
	curFXValid = u64Addr(&t.fxValid)
}
