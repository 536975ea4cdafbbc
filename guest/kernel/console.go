package kernel

import "brique.dev/brique/abi"

// Console output and kernel diagnostics go to the monitor by hypercall. The
// kernel copies the bytes into conBuf (identity mapped, so the monitor can
// read it at its guest-physical address) and makes one exit per write.

var (
	wroteOutput bool
	conBuf      [abi.WriteLimit]byte
	conArgs     [abi.WriteSize / 8]uint64
	logBuf      [512]byte
	logLen      int
)

// consoleWrite sends p to the host's fd (1 or 2) and returns the bytes sent.
func consoleWrite(fd int, p []byte) int {
	if !wroteOutput {
		wroteOutput = true
		store64(abi.BootInfoAddr+abi.BootInfoFirstOutNS, uint64(nanotime()))
	}
	n := copy(conBuf[:], p)
	conHypercall(abi.HypercallWrite, fd, n)
	return n
}

func conHypercall(nr uintptr, fd, n int) {
	conArgs[0] = uint64(fd)
	conArgs[1] = uint64(addrOf(&conBuf[0]))
	conArgs[2] = uint64(n)
	hypercall(nr, uint64(u64Addr(&conArgs[0])))
}

// Kernel log lines: built in logBuf without allocating, then sent with
// HypercallLog. The monitor shows them with --debug (or always for warnings,
// which start with "warning:").
func logStr(s string) {
	logLen += copy(logBuf[logLen:], s)
}

func logInt(v int64) {
	var b [20]byte
	i := len(b)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	logLen += copy(logBuf[logLen:], b[i:])
}

func logHex(v uint64) {
	const digits = "0123456789abcdef"
	var b [18]byte
	i := len(b)
	for {
		i--
		b[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	b[i] = 'x'
	i--
	b[i] = '0'
	logLen += copy(logBuf[logLen:], b[i:])
}

func logFlush() {
	n := copy(conBuf[:], logBuf[:logLen])
	logLen = 0
	conHypercall(abi.HypercallLog, 2, n)
}

// crash stops the VM with a report; it does not return.
func crash(kind uint64, detail uint64, msg string) {
	var r regs
	crashWith(kind, detail, 0, 0, &r, msg)
}

var crashArgs [abi.CrashSize / 8]uint64

func crashWith(kind, vector, errcode, addr uint64, r *regs, msg string) {
	c := &crashArgs
	c[abi.CrashKind/8] = kind
	c[abi.CrashVector/8] = vector
	c[abi.CrashError/8] = errcode
	c[abi.CrashAddr/8] = addr
	c[abi.CrashRIP/8] = r.rip
	c[abi.CrashRSP/8] = r.rsp
	c[abi.CrashRFLAGS/8] = r.rflags
	g := c[abi.CrashRegs/8:]
	g[0], g[1], g[2], g[3], g[4] = r.rax, r.rbx, r.rcx, r.rdx, r.rsi
	g[5], g[6], g[7], g[8], g[9] = r.rdi, r.rbp, r.r8, r.r9, r.r10
	g[10], g[11], g[12], g[13], g[14] = r.r11, r.r12, r.r13, r.r14, r.r15
	m := mem(u64Addr(&c[abi.CrashMsg/8]), abi.CrashMsgLen)
	clear(m)
	copy(m[:abi.CrashMsgLen-1], msg)
	for {
		hypercall(abi.HypercallCrash, uint64(u64Addr(&c[0])))
	}
}

// exitVM ends the program with status code; it does not return.
func exitVM(code int) {
	if bootFlags&abi.BootFlagSyscount != 0 {
		logSysCount()
	}
	store64(abi.BootInfoAddr+abi.BootInfoFramesPeak, framesPeak)
	store64(abi.BootInfoAddr+abi.BootInfoSyscalls, nSyscalls)
	store64(abi.BootInfoAddr+abi.BootInfoFaults, nFaults)
	for {
		hypercall(abi.HypercallExit, uint64(code&0xff))
	}
}
