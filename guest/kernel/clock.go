package kernel

import (
	"math/bits"

	"brique.dev/brique/abi"
)

// Clocks come from the TSC, readable at CPL 3 without an exit. The monitor
// gives its frequency and a (TSC, host wall clock) pair taken at boot.
var (
	tsc0    uint64
	tscMult uint64 // ns per tick, 32.32 fixed point
	wall0   int64  // Unix ns at tsc0
)

func clockInit() {
	hz := bootInfo(abi.BootInfoTSCHz)
	if hz == 0 {
		crash(abi.CrashInternal, 0, "boot info: TSC frequency unknown")
	}
	tsc0 = bootInfo(abi.BootInfoTSC0)
	wall0 = int64(bootInfo(abi.BootInfoWall0))
	hi, lo := bits.Mul64(1e9, 1<<32)
	tscMult, _ = bits.Div64(hi, lo, hz)
}

// nanotime is the monotonic clock in ns since boot.
//
//go:nosplit
func nanotime() int64 {
	hi, lo := bits.Mul64(rdtsc()-tsc0, tscMult)
	return int64(hi<<32 | lo>>32)
}

// walltime is the Unix time in ns.
//
//go:nosplit
func walltime() int64 { return wall0 + nanotime() }
