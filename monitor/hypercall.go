package monitor

import (
	"bytes"
	"os"

	"brique.dev/brique/image"
	"fmt"
	"strings"
	"time"

	"brique.dev/brique/abi"
)

// hypercall handles one guest request (see abi.Hypercall*). exit reports
// that the run is over with code.
func (v *vcpu) hypercall(nr, arg uint64) (code int, exit, crashed bool, err error) {
	m := v.mem
	switch nr {
	case abi.HypercallExit:
		return int(arg & 0xff), true, false, nil
	case abi.HypercallWrite, abi.HypercallLog:
		blk, err := m.slice(arg, abi.WriteSize)
		if err != nil {
			c, cr, err := v.crashReport("bad write hypercall: " + err.Error())
			return c, true, cr, err
		}
		fd, addr, n := leU64(blk[0:8]), leU64(blk[8:16]), leU64(blk[16:24])
		if n > abi.WriteLimit {
			n = abi.WriteLimit
		}
		data, err := m.slice(addr, n)
		if err != nil {
			c, cr, err := v.crashReport("bad write hypercall: " + err.Error())
			return c, true, cr, err
		}
		if nr == abi.HypercallLog {
			msg := string(data)
			if v.cfg.Debug || strings.HasPrefix(msg, "warning") || os.Getenv("BRIQUE_STRACE") != "" || os.Getenv("BRIQUE_SYSCOUNT") != "" {
				fmt.Fprintf(v.cfg.Stderr, "brique: guest: %s\n", msg)
			}
			return 0, false, false, nil
		}
		if g := v.netGate; g != nil {
			// The first output waits for the user network (netgate.go).
			if err := g.wait(); err != nil {
				return abi.ExitMonitor, true, false, err
			}
			v.netGate = nil
		}
		w := v.cfg.Stdout
		if fd == 2 {
			w = v.cfg.Stderr
		}
		w.Write(data)
	case abi.HypercallHalt:
		blk, err := m.slice(arg, abi.HaltSize)
		if err != nil {
			c, cr, err := v.crashReport("bad halt hypercall: " + err.Error())
			return c, true, cr, err
		}
		timeout := time.Duration(leU64(blk[0:8]))
		// No preemption ticks while the guest sleeps: an idle VM must
		// cost no CPU (measured: ~1% per idle instance otherwise).
		// (A profile keeps its ticks, and counts them as halted.)
		if v.prof == nil {
			v.tick.Stop()
		}
		v.halted.Store(true)
		events := v.halt(timeout)
		v.halted.Store(false)
		if v.prof == nil {
			v.tick.Reset(v.period)
		}
		m.put64(arg+abi.HaltEvents, events)
		if c, stop := v.hostSignals(); stop {
			return c, true, false, nil
		}
	case abi.HypercallCrash:
		c, cr, err := v.guestCrash(arg)
		return c, true, cr, err
	case abi.HypercallFlushTLB:
		v.flushes++
		if err := v.flushTLB(); err != nil {
			return abi.ExitMonitor, true, false, err
		}
	default:
		c, cr, err := v.crashReport(fmt.Sprintf("unknown hypercall %d", nr))
		return c, true, cr, err
	}
	return 0, false, false, nil
}

// halt sleeps until timeout (0: no deadline) or a host signal.
func (v *vcpu) halt(timeout time.Duration) uint64 {
	if len(v.sigq) > 0 {
		return abi.EventSignal
	}
	return v.events.wait(timeout)
}

// flushTLB makes the vCPU drop cached translations by toggling CR4.PGE
// (on kvm-pvm, KVM_SET_SREGS with nothing changed does not flush).
func (v *vcpu) flushTLB() error {
	s, err := v.cpu.GetSregs()
	if err != nil {
		return err
	}
	cr4 := s.CR4
	s.CR4 = cr4 ^ cr4PGE
	if err := v.cpu.SetSregs(&s); err != nil {
		return err
	}
	s.CR4 = cr4
	return v.cpu.SetSregs(&s)
}

// guestCrash prints the report the guest sent and picks the exit status.
func (v *vcpu) guestCrash(arg uint64) (int, bool, error) {
	blk, err := v.mem.slice(arg, abi.CrashSize)
	if err != nil {
		return v.crashReport("bad crash hypercall: " + err.Error())
	}
	u := func(off int) uint64 { return leU64(blk[off : off+8]) }
	msg := string(blk[abi.CrashMsg : abi.CrashMsg+abi.CrashMsgLen])
	if i := strings.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	w := v.cfg.Stderr
	switch u(abi.CrashKind) {
	case abi.CrashOOM:
		mib := len(v.mem) >> 20
		fmt.Fprintf(w, "brique: the program ran out of guest memory (%d MiB): run it with more, e.g. -m %dM\n", mib, mib*2)
		return abi.ExitOOM, true, nil
	case abi.CrashException:
		vec := u(abi.CrashVector)
		var b bytes.Buffer
		fmt.Fprintf(&b, "brique: guest crashed: %s: %s", vectorName(vec), msg)
		if vec == 14 {
			fmt.Fprintf(&b, " (address %#x, %s)", u(abi.CrashAddr), pfKind(u(abi.CrashError)))
		} else if hasErrorCode(vec) {
			fmt.Fprintf(&b, " (error code %#x)", u(abi.CrashError))
		}
		b.WriteByte('\n')
		v.writeRegs(&b, u(abi.CrashRIP), u(abi.CrashRSP), u(abi.CrashRFLAGS), blk[abi.CrashRegs:abi.CrashRegs+15*8])
		w.Write(b.Bytes())
		return abi.ExitCrash, true, nil
	default:
		fmt.Fprintf(w, "brique: guest library OS failure: %s\n", msg)
		return abi.ExitCrash, true, nil
	}
}

func (v *vcpu) writeRegs(b *bytes.Buffer, rip, rsp, rflags uint64, gprs []byte) {
	fmt.Fprintf(b, "  RIP %#016x  %s\n", rip, v.describe(rip))
	fmt.Fprintf(b, "  RSP %#016x  RFLAGS %#x\n", rsp, rflags)
	names := []string{"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}
	for i, n := range names {
		if 8*i+8 > len(gprs) {
			break
		}
		fmt.Fprintf(b, "  %-3s %#016x", n, leU64(gprs[8*i:8*i+8]))
		if i%3 == 2 {
			b.WriteByte('\n')
		}
	}
}

// describe names the function at pc. The symbolizer is built on first use
// (it parses the pclntab: half a millisecond that a normal boot skips).
func (v *vcpu) describe(pc uint64) string {
	if v.sym == nil {
		s, err := image.NewSymbolizer(v.cfg.Image)
		if err != nil {
			return ""
		}
		v.sym = s
	}
	return v.sym.Describe(pc)
}

// crashReport stops the run after a failure the monitor detected, printing
// the vCPU registers.
func (v *vcpu) crashReport(what string) (int, bool, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "brique: guest crashed: %s\n", what)
	if r, err := v.cpu.GetRegs(); err == nil {
		g := make([]byte, 15*8)
		for i, x := range []uint64{r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP, r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15} {
			for k := 0; k < 8; k++ {
				g[8*i+k] = byte(x >> (8 * k))
			}
		}
		v.writeRegs(&b, r.RIP, r.RSP, r.RFLAGS, g)
	}
	v.cfg.Stderr.Write(b.Bytes())
	return abi.ExitCrash, true, nil
}

var vectorNames = []string{
	"divide error (#DE)", "debug (#DB)", "NMI", "breakpoint (#BP)", "overflow (#OF)",
	"bound range (#BR)", "invalid opcode (#UD)", "device not available (#NM)",
	"double fault (#DF)", "coprocessor segment overrun", "invalid TSS (#TS)",
	"segment not present (#NP)", "stack fault (#SS)", "general protection (#GP)",
	"page fault (#PF)", "reserved", "x87 floating point (#MF)", "alignment check (#AC)",
	"machine check (#MC)", "SIMD floating point (#XM)", "virtualization (#VE)",
	"control protection (#CP)",
}

func vectorName(v uint64) string {
	if v < uint64(len(vectorNames)) {
		return vectorNames[v]
	}
	return fmt.Sprintf("vector %d", v)
}

func hasErrorCode(v uint64) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21:
		return true
	}
	return false
}

func pfKind(e uint64) string {
	s := "read"
	if e&2 != 0 {
		s = "write"
	}
	if e&16 != 0 {
		s = "instruction fetch"
	}
	if e&1 != 0 {
		return s + ", protection violation"
	}
	return s + ", page not mapped"
}
