package monitor

import (
	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/kvm"
)

// Seccomp: once the VM is set up, a monitor that only runs this one VM
// needs a few system calls: KVM_RUN and register access, writes to its
// stdout/stderr, and what the Go runtime uses to schedule goroutines,
// sleep, signal the vCPU thread and manage its heap. Everything else — in
// particular open/openat, socket, execve, ptrace — fails with EPERM from
// then on, so a guest that took over the monitor through a device bug
// could not reach the host's files or network. The filter is inherited by
// every thread (SECCOMP_FILTER_FLAG_TSYNC) and cannot be removed.
// Firecracker and Solo5 publish comparable allow-lists.
//
// Host directory volumes (Config.Volumes) need no more, whether or not
// they are configured: their 9P file server, and with it every file
// system call (openat2, fsync, renameat2, ...), runs in brique-9pd, and
// the monitor's virtio-9p devices only read and write their sockets
// (docs/decisions/009-volumes-9p.md).

// seccompAllowed are the x86-64 system call numbers the running monitor
// may make (arch/x86/entry/syscalls/syscall_64.tbl).
var seccompAllowed = []uint32{
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_CLOSE, unix.SYS_PREAD64, unix.SYS_LSEEK,
	unix.SYS_MMAP, unix.SYS_MPROTECT, unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MINCORE,
	unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK,
	unix.SYS_SCHED_YIELD, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_NANOSLEEP,
	unix.SYS_FUTEX, unix.SYS_GETPID, unix.SYS_GETTID, unix.SYS_TGKILL,
	unix.SYS_CLONE, unix.SYS_EXIT, unix.SYS_EXIT_GROUP,
	unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_CTL, unix.SYS_GETRUSAGE, unix.SYS_GETRANDOM,
	unix.SYS_PPOLL, // the network device's I/O loop (monitor/virtio/net/ioloop.go)
	unix.SYS_SCHED_GETAFFINITY, unix.SYS_FCNTL,
	unix.SYS_WAIT4, unix.SYS_WAITID, // reaping brique-netd when the VM ends
	// Killing a helper (brique-netd, brique-9pd) that does not exit when
	// its socket closes: Go signals a child through the pidfd it got at
	// clone, and a pidfd reaches only that process. Without pidfd_open
	// (refused) the monitor holds none but its helpers'.
	unix.SYS_PIDFD_SEND_SIGNAL,
}

// runningIoctls are the ioctl requests the running monitor may make: the
// vCPU's (kvm.RunningIoctls) and TUNSETOFFLOAD, with which the network
// device turns a TAP interface's receive offload on when the guest's
// driver accepts it (monitor/virtio/net).
func runningIoctls() []uintptr {
	return append(kvm.RunningIoctls(), unix.TUNSETOFFLOAD)
}

// Classic BPF opcodes and seccomp constants (linux/filter.h,
// linux/seccomp.h, linux/audit.h).
const (
	bpfLdWAbs  = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfRetK    = 0x06 // BPF_RET | BPF_K
	auditArch  = 0xC000003E
	retAllow   = 0x7FFF0000
	retErrno   = 0x00050000
	retKill    = 0x80000000 // SECCOMP_RET_KILL_PROCESS
	dataNr     = 0          // offsetof(struct seccomp_data, nr)
	dataArch   = 4
	dataArg0Lo = 16     // args[0], low 32 bits (little-endian)
	dataArg1Lo = 16 + 8 // args[1], low 32 bits
)

// seccompProgram builds the filter: right architecture, then allowed
// numbers; ioctl only with the requests in ioctls; prctl only to name the
// calling thread (PR_SET_NAME: the network device's I/O thread names
// itself when the guest's driver starts it, after the filter is in
// place); everything else EPERM.
func seccompProgram(allowed []uint32, ioctls []uintptr) []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: bpfJeqK, K: k, Jt: jt, Jf: jf}
	}
	p := []unix.SockFilter{
		stmt(bpfLdWAbs, dataArch),
		jeq(auditArch, 1, 0),
		stmt(bpfRetK, retKill),
		stmt(bpfLdWAbs, dataNr),
	}
	for _, nr := range allowed {
		p = append(p, jeq(nr, 0, 1), stmt(bpfRetK, retAllow))
	}
	// ioctl: check the request number.
	p = append(p, jeq(unix.SYS_IOCTL, 0, uint8(2+2*len(ioctls))))
	p = append(p, stmt(bpfLdWAbs, dataArg1Lo))
	for _, req := range ioctls {
		p = append(p, jeq(uint32(req), 0, 1), stmt(bpfRetK, retAllow))
	}
	p = append(p, stmt(bpfRetK, retErrno|uint32(unix.EPERM)))
	// prctl: check the option.
	p = append(p, jeq(unix.SYS_PRCTL, 0, 3), stmt(bpfLdWAbs, dataArg0Lo))
	p = append(p, jeq(unix.PR_SET_NAME, 0, 1), stmt(bpfRetK, retAllow))
	return append(p, stmt(bpfRetK, retErrno|uint32(unix.EPERM)))
}
