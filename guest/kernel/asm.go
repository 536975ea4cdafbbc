package kernel

import "brique.dev/brique/abi"

// Assembly entry points (entry_amd64.s, trap0_amd64.s).

func rt0()
func resume()
func hypercall(nr uintptr, arg uint64)
func rdtsc() uint64
func xsave(addr uintptr)
func cpuid(leaf, sub uint32) (a, b, c, d uint32)
func xgetbv() uint64
func rdrand() (v uint64, ok bool)

//go:noescape
func entryAddrs(t *[entryAddrCount]uintptr)

//go:noescape
func trapStubAddrs(t *[32]uintptr)

// Indexes into the table filled by entryAddrs.
const (
	eaSyscall = iota
	eaUpcall
	eaExitTail
	eaTrap
	eaBusy
	eaRT0Linux
	entryAddrCount
)

// Constants the assembly reads through go_asm.h (const_*).
const (
	upcallBusyOff   = abi.UpcallBusy
	upcallRIPOff    = abi.UpcallRIP
	upcallRSPOff    = abi.UpcallRSP
	upcallRFLAGSOff = abi.UpcallRFLAGS
	hypercallBase   = abi.HypercallBase
	userCodeSel     = abi.GDTUserCode
	userDataSel     = abi.GDTUserData
	crashStackSize  = len(crashStack)
	istTop          = abi.ISTStackTop
)
