// Package kernel is Brique's library OS core: the code linked into every
// unikernel image that lets an unmodified Go program (GOOS=linux,
// GOARCH=amd64) run alone in a KVM virtual machine on the Brique monitor.
//
// The Go runtime keeps believing it runs on Linux. The image builder rewrites
// every SYSCALL instruction into CALL *%rax (zpoline, USENIX ATC 2023); page 0
// holds a NOP sled that slides into syscallEntry, which saves the calling
// thread's registers and dispatches through a table of Linux system calls
// (sys_table.go; one file per family, sys_*.go). Unimplemented calls return
// ENOSYS and are logged once.
//
// Execution model (see docs/architecture.md):
//
//   - All Go code runs at CPL 3 (kvm-pvm emulates CPL 0 instruction by
//     instruction and cannot execute SSE there). CPL 0 is used only by the
//     exception stubs (trap0_amd64.s), which read CR2 and IRETQ to CPL 3.
//   - One vCPU. Kernel code runs on one kernel stack, is never re-entered
//     (the UpcallBusy flag is set on every entry) and never blocks on its
//     stack: a blocking system call records what it waits for in the thread
//     and the scheduler resumes another thread; when the thread is woken the
//     call is dispatched again with restart set.
//   - Kernel code runs Go functions with a private "g" (kernel TLS, switched
//     with WRFSBASE) whose stack bounds describe the kernel stack. It must not
//     allocate, must not store Go pointers into globals or the heap (write
//     barriers need a real g), and must not panic. Kernel state therefore
//     holds addresses as uintptr and threads as indices.
//   - Preemption: the monitor interrupts the vCPU every
//     abi.PreemptPeriodNS and redirects it to upcallEntry, which enters the
//     scheduler like a system call would. Go's own asynchronous preemption
//     (tgkill SIGURG) is delivered as a real Linux signal frame on the
//     thread's sigaltstack.
//
// Requires GOOS=linux GOARCH=amd64 GOAMD64=v1, static (CGO_ENABLED=0).
package kernel
