package kernel

import "brique.dev/brique/abi"

// sysUnameImpl implements uname(2).
func sysUnameImpl(t *thread) int64 {
	p := uintptr(t.regs.rdi)
	const field = 65
	if !userPrepare(p, 6*field, true) {
		return -eFAULT
	}
	memclr(p, 6*field)
	for i, s := range [...]string{"Linux", "brique", "6.1.0-brique", "#1 Brique", "x86_64", "(none)"} {
		copy(mem(p+uintptr(i*field), field-1), s)
	}
	return 0
}

// sysGetrandomImpl implements getrandom(2): RDRAND mixed with the seed the
// host put in the boot info, through a SplitMix64 generator.
func sysGetrandomImpl(t *thread) int64 {
	p, n := uintptr(t.regs.rdi), uintptr(t.regs.rsi)
	if n > 1<<20 {
		n = 1 << 20
	}
	if !userPrepare(p, n, true) {
		return -eFAULT
	}
	for i := uintptr(0); i < n; i += 8 {
		v := randomU64()
		for j := uintptr(0); j < 8 && i+j < n; j++ {
			store8(p+i+j, byte(v>>(8*j)))
		}
	}
	return int64(n)
}

var randState uint64

func randomU64() uint64 {
	if randState == 0 {
		randState = seed[0] ^ seed[1]<<1 ^ seed[2]<<2 ^ seed[3]<<3 ^ rdtsc()
	}
	randState += 0x9E3779B97F4A7C15
	z := randState
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	if r, ok := rdrand(); ok {
		z ^= r
	}
	return z
}

// sysPrlimit64Impl implements prlimit64(2) for the calling process.
func sysPrlimit64Impl(t *thread) int64 {
	return rlimit(t.regs.rsi, uintptr(t.regs.r10))
}

// sysGetrlimitImpl implements getrlimit(2).
func sysGetrlimitImpl(t *thread) int64 { return rlimit(t.regs.rdi, uintptr(t.regs.rsi)) }

func rlimit(res uint64, old uintptr) int64 {
	const rlimitNofile, rlimitStack = 7, 3
	if old == 0 {
		return 0
	}
	if !userPrepare(old, 16, true) {
		return -eFAULT
	}
	cur, max := ^uint64(0), ^uint64(0)
	switch res {
	case rlimitNofile:
		cur, max = maxFDs, maxFDs
	case rlimitStack:
		cur = mainStackSize
	}
	store64(old, cur)
	store64(old+8, max)
	return 0
}

// sysGetcwdImpl implements getcwd(2).
func sysGetcwdImpl(t *thread) int64 {
	p, n := uintptr(t.regs.rdi), uintptr(t.regs.rsi)
	if n < uintptr(cwdLen)+1 {
		return -eRANGE
	}
	if !userPrepare(p, uintptr(cwdLen)+1, true) {
		return -eFAULT
	}
	copy(mem(p, uintptr(cwdLen)), cwd[:cwdLen])
	store8(p+uintptr(cwdLen), 0)
	return int64(cwdLen) + 1
}

// sysSysinfoImpl implements sysinfo(2).
func sysSysinfoImpl(t *thread) int64 {
	p := uintptr(t.regs.rdi)
	const size = 112
	if !userPrepare(p, size, true) {
		return -eFAULT
	}
	memclr(p, size)
	store64(p, uint64(nanotime()/1e9))             // uptime
	store64(p+32, uint64(memSize))                 // totalram
	store64(p+40, uint64(memSize)-framesUsed*4096) // freeram
	store16(p+80, 1)                               // procs
	store32(p+104, 1)                              // mem_unit
	_ = abi.PageSize
	return 0
}

// prctl options (linux/prctl.h).
const (
	prSetName = 15
	prGetName = 16
	prSetVMA  = 0x53564d41
)

// sysPrctlImpl implements prctl(2) for what the Go runtime asks: naming
// anonymous mappings (PR_SET_VMA, accepted and ignored) and thread names.
func sysPrctlImpl(t *thread) int64 {
	switch t.regs.rdi {
	case prSetVMA, prSetName:
		return 0
	case prGetName:
		p := uintptr(t.regs.rsi)
		if !userPrepare(p, 16, true) {
			return -eFAULT
		}
		memclr(p, 16)
		copy(mem(p, 15), "brique")
		return 0
	}
	return -eINVAL
}
