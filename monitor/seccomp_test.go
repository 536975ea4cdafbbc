package monitor

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/kvm"
)

// runFilter interprets the classic BPF subset seccompProgram emits
// (ld word abs, jeq k, ret k) on a struct seccomp_data.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, arg0, arg1 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	binary.LittleEndian.PutUint64(data[16:], arg0)
	binary.LittleEndian.PutUint64(data[24:], arg1)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdWAbs:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case bpfJeqK:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRetK:
			return in.K
		default:
			t.Fatalf("unexpected opcode %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("filter fell off its end")
	return 0
}

func TestSeccompProgram(t *testing.T) {
	prog := seccompProgram(seccompAllowed, runningIoctls())
	if len(prog) > 255 {
		t.Fatalf("filter has %d instructions: jump offsets are 8-bit", len(prog))
	}
	eperm := uint32(retErrno | uint32(unix.EPERM))
	for _, tc := range []struct {
		name string
		arch uint32
		nr   uint32
		arg0 uint64
		arg1 uint64
		want uint32
	}{
		{"write", auditArch, unix.SYS_WRITE, 0, 0, retAllow},
		{"futex", auditArch, unix.SYS_FUTEX, 0, 0, retAllow},
		{"exit_group", auditArch, unix.SYS_EXIT_GROUP, 0, 0, retAllow},
		{"KVM_RUN", auditArch, unix.SYS_IOCTL, 0, uint64(kvm.RunningIoctls()[0]), retAllow},
		{"KVM_SET_SREGS", auditArch, unix.SYS_IOCTL, 0, uint64(kvm.RunningIoctls()[4]), retAllow},
		{"TUNSETOFFLOAD", auditArch, unix.SYS_IOCTL, 0, unix.TUNSETOFFLOAD, retAllow},
		{"TUNSETIFF", auditArch, unix.SYS_IOCTL, 0, unix.TUNSETIFF, eperm},
		{"other ioctl", auditArch, unix.SYS_IOCTL, 0, unix.TCGETS, eperm},
		{"openat", auditArch, unix.SYS_OPENAT, 0, 0, eperm},
		{"open", auditArch, unix.SYS_OPEN, 0, 0, eperm},
		{"execve", auditArch, unix.SYS_EXECVE, 0, 0, eperm},
		{"socket", auditArch, unix.SYS_SOCKET, 0, 0, eperm},
		{"ptrace", auditArch, unix.SYS_PTRACE, 0, 0, eperm},
		{"pidfd_send_signal", auditArch, unix.SYS_PIDFD_SEND_SIGNAL, 0, 0, retAllow},
		{"pidfd_open", auditArch, unix.SYS_PIDFD_OPEN, 0, 0, eperm},
		{"kill", auditArch, unix.SYS_KILL, 0, 0, eperm},
		{"wait4", auditArch, unix.SYS_WAIT4, 0, 0, retAllow},
		{"waitid", auditArch, unix.SYS_WAITID, 0, 0, retAllow},
		{"tgkill", auditArch, unix.SYS_TGKILL, 0, 0, retAllow},
		{"prctl PR_SET_NAME", auditArch, unix.SYS_PRCTL, unix.PR_SET_NAME, 0, retAllow},
		{"prctl PR_SET_DUMPABLE", auditArch, unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, unix.PR_SET_NAME, eperm},
		{"prctl PR_SET_SECCOMP", auditArch, unix.SYS_PRCTL, unix.PR_SET_SECCOMP, 0, eperm},
		{"i386 ABI", 0x40000003, unix.SYS_WRITE, 0, 0, retKill},
	} {
		if got := runFilter(t, prog, tc.arch, tc.nr, tc.arg0, tc.arg1); got != tc.want {
			t.Errorf("%s: filter returns %#x, want %#x", tc.name, got, tc.want)
		}
	}
}
