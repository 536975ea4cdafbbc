//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// fakeRun is a kvm_run mapping filled in by hand, with the byte offsets of
// <linux/kvm.h>.
func fakeRun(t *testing.T) ([]byte, *RunData) {
	t.Helper()
	buf := make([]uint64, 8192/8) // 8-byte aligned, like the real page
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 8192)
	return mem, newRunData(mem)
}

func TestRunDataDecoding(t *testing.T) {
	le := binary.LittleEndian
	mem, rd := fakeRun(t)

	le.PutUint32(mem[8:], uint32(ExitIO)) // exit_reason
	mem[32], mem[33] = IODirectionOut, 2  // io.direction, io.size
	le.PutUint16(mem[34:], 0x3f8)         // io.port
	le.PutUint32(mem[36:], 3)             // io.count
	le.PutUint64(mem[40:], 4096)          // io.data_offset
	copy(mem[4096:], "abcdef")
	if rd.ExitReason() != ExitIO {
		t.Fatalf("ExitReason = %v", rd.ExitReason())
	}
	if io := rd.IO(); io != (IOExit{Direction: IODirectionOut, Size: 2, Port: 0x3f8, Count: 3, DataOffset: 4096}) {
		t.Errorf("IO = %+v", io)
	}
	if got := string(rd.IOData()); got != "abcdef" {
		t.Errorf("IOData = %q", got)
	}
	le.PutUint64(mem[40:], 8190) // data past the end of the mapping
	if got := rd.IOData(); got != nil {
		t.Errorf("IOData with bad offset = %q, want nil", got)
	}

	le.PutUint64(mem[32:], 0xfee00000) // mmio.phys_addr
	copy(mem[40:48], "\x01\x02\x03\x04\x05\x06\x07\x08")
	le.PutUint32(mem[48:], 2) // mmio.len
	mem[52] = 1               // mmio.is_write
	m := rd.MMIO()
	if m.PhysAddr != 0xfee00000 || !m.Write() || string(m.Bytes()) != "\x01\x02" {
		t.Errorf("MMIO = %+v", m)
	}
	rd.SetMMIOData([]byte{0xaa, 0xbb})
	if mem[40] != 0xaa || mem[41] != 0xbb || mem[42] != 3 {
		t.Errorf("SetMMIOData wrote % x", mem[40:48])
	}

	le.PutUint32(mem[32:], uint32(InternalErrorEmulation)) // internal.suberror
	le.PutUint32(mem[36:], 2)                              // internal.ndata
	le.PutUint64(mem[40:], 0x11)
	le.PutUint64(mem[48:], 0x22)
	ie := rd.InternalError()
	if ie.Suberror != InternalErrorEmulation || len(ie.Words()) != 2 || ie.Words()[1] != 0x22 {
		t.Errorf("InternalError = %+v", ie)
	}
	if got := ie.String(); got != "KVM_INTERNAL_ERROR_EMULATION data=[0x11 0x22]" {
		t.Errorf("InternalError.String() = %q", got)
	}

	le.PutUint64(mem[32:], 0x80000021) // fail_entry.hardware_entry_failure_reason
	le.PutUint32(mem[40:], 3)          // fail_entry.cpu
	if fe := rd.FailEntry(); fe.HardwareEntryFailureReason != 0x80000021 || fe.CPU != 3 {
		t.Errorf("FailEntry = %+v", fe)
	}

	le.PutUint32(mem[32:], uint32(SystemEventShutdown)) // system_event.type
	le.PutUint32(mem[36:], 1)                           // system_event.ndata
	le.PutUint64(mem[40:], 7)                           // system_event.data[0]
	if se := rd.SystemEvent(); se.Type != SystemEventShutdown || len(se.Words()) != 1 || se.Words()[0] != 7 {
		t.Errorf("SystemEvent = %+v", se)
	}
}

func TestSetImmediateExit(t *testing.T) {
	mem, rd := fakeRun(t)
	mem[0] = 1 // request_interrupt_window, must survive
	rd.SetImmediateExit(true)
	if mem[1] != 1 || mem[0] != 1 || !rd.ImmediateExit() {
		t.Errorf("after SetImmediateExit(true): % x", mem[:4])
	}
	rd.SetImmediateExit(false)
	if mem[1] != 0 || mem[0] != 1 || rd.ImmediateExit() {
		t.Errorf("after SetImmediateExit(false): % x", mem[:4])
	}
}
