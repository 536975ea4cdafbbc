//go:build linux && amd64

package kvm

import "testing"

func TestExitReasonString(t *testing.T) {
	for r, want := range map[ExitReason]string{
		ExitUnknown:       "KVM_EXIT_UNKNOWN",
		ExitIO:            "KVM_EXIT_IO",
		ExitHLT:           "KVM_EXIT_HLT",
		ExitMMIO:          "KVM_EXIT_MMIO",
		ExitShutdown:      "KVM_EXIT_SHUTDOWN",
		ExitFailEntry:     "KVM_EXIT_FAIL_ENTRY",
		ExitInternalError: "KVM_EXIT_INTERNAL_ERROR",
		ExitSystemEvent:   "KVM_EXIT_SYSTEM_EVENT",
		ExitNotify:        "KVM_EXIT_NOTIFY",
		99:                "KVM_EXIT_(99)",
	} {
		if got := r.String(); got != want {
			t.Errorf("ExitReason(%d).String() = %q, want %q", uint32(r), got, want)
		}
	}
	for i := range exitReasonNames {
		if exitReasonNames[i] == "" {
			t.Errorf("exit reason %d has no name", i)
		}
	}
	if got := InternalErrorEmulation.String(); got != "KVM_INTERNAL_ERROR_EMULATION" {
		t.Errorf("InternalErrorEmulation.String() = %q", got)
	}
	if got := SystemEventReset.String(); got != "KVM_SYSTEM_EVENT_RESET" {
		t.Errorf("SystemEventReset.String() = %q", got)
	}
}
