// Syscall times trivial system calls and prints the cost of each in ns/op,
// one line per call:
//
//	syscall op=getpid-raw n=1000000 ns/op=123.4
//
// It is run by briquebench both as a native process and as a Brique
// unikernel, so the two lines can be compared. In Brique every call below is
// answered by the library OS inside the guest (no VM exit): the SYSCALL
// instruction was rewritten into a call at image build time.
//
// Each call is timed in -rounds rounds of -n calls; the line reports the
// fastest round (the least disturbed by the rest of a shared machine).
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	n := flag.Int("n", 1000000, "calls per round")
	rounds := flag.Int("rounds", 3, "rounds per call; the fastest is printed")
	flag.Parse()
	if *n <= 0 || *rounds <= 0 {
		fmt.Fprintln(os.Stderr, "syscall: -n and -rounds must be positive")
		os.Exit(2)
	}

	var ts syscall.Timespec
	ops := []struct {
		name string
		call func()
	}{
		// RawSyscall: the bare trap, no scheduler hand-off.
		{"getpid-raw", func() { syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0) }},
		// Syscall: what os and net use; adds entersyscall/exitsyscall.
		{"getppid", func() { syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0) }},
		// A real clock read through the system call (not the vDSO).
		{"clock_gettime-raw", func() {
			syscall.RawSyscall6(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0, 0)
		}},
		// What programs actually call: the vDSO natively, whatever the
		// runtime finds in the guest.
		{"time.Now", func() { _ = time.Now() }},
	}

	// Check that the calls work before timing them.
	pid, _, e := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	if e != 0 || pid == 0 {
		fmt.Fprintf(os.Stderr, "syscall: getpid failed: pid %d, errno %v\n", pid, e)
		os.Exit(1)
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0, 0); e != 0 || (ts.Sec == 0 && ts.Nsec == 0) {
		fmt.Fprintf(os.Stderr, "syscall: clock_gettime failed: %v\n", e)
		os.Exit(1)
	}

	for _, op := range ops {
		for i := 0; i < 1000; i++ { // warm up
			op.call()
		}
		best := time.Duration(1<<63 - 1)
		for r := 0; r < *rounds; r++ {
			start := time.Now()
			for i := 0; i < *n; i++ {
				op.call()
			}
			if d := time.Since(start); d < best {
				best = d
			}
		}
		fmt.Printf("syscall op=%s n=%d ns/op=%.1f\n", op.name, *n, float64(best.Nanoseconds())/float64(*n))
	}
}
